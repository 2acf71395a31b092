# SME Server 10/11, CentOS and Rocky have no package of Chart.js (Debian's
# libjs-chart.js): the README's set-up commands must build qpstat there all
# the same. The files of MANIFEST, built with QPS_CHARTJS naming a missing
# file, give a qpstat whose HTML report and dashboard have their tables and
# no charts (web/no-chart.js stands in), and the build says why.
use strict;
use warnings;
use Test::More;
use ExtUtils::Manifest ();
use File::Temp ();
use lib 't/lib';
use QpstatTest qw(run_cmd slurp);

my $tmp = File::Temp->newdir('/tmp/qpstat-nochart-XXXXXX');
my $src = "$tmp/src";
{
    open my $save, '>&', \*STDOUT or die;
    open STDOUT, '>', '/dev/null' or die;    # manicopy narrates on STDOUT, which is TAP
    ExtUtils::Manifest::manicopy(ExtUtils::Manifest::maniread(), $src, 'cp');
    open STDOUT, '>&', $save or die;
}
my ($out, $err, $st) = run_cmd(['sh', '-c', "cd $src && perl Makefile.PL && make -j2 csrc/qpstat"],
    env => { QPS_CHARTJS => "$tmp/no/chart.min.js" }, timeout => 600);
is($st, 0, 'built without Chart.js') or diag(substr("$out$err", -3000));
like($err, qr{Chart\.js not found at \Q$tmp\E/no/chart\.min\.js .*: the dashboard is built without charts},
    'and the build says so');
my $bin = "$src/csrc/qpstat";
ok(-x $bin, 'the CLI') or done_testing, exit;

my $html;
($html, $err, $st) = run_cmd([$bin, 'report', '--format', 'html', 't/data/logfile-094.log'], env => { TZ => 'UTC' });
is($st, 0, 'report --format html: exit 0') or diag($err);
like($html, qr/built without it/, 'the page has the stand-in for Chart.js');
unlike($html, qr/Chart\.js v\d|new Chart\b\(/, 'and no Chart.js code');
like($html, qr/id="qpstat-report"/, 'the report data is there for the tables');
like($html, qr/if \(!window\.Chart\) return;/, 'which the page draws without charts');

($out, $err, $st) = run_cmd([$bin, 'report', '--by', 'disposition', 't/data/logfile-094.log']);
like($out, qr/queued/, 'the rest of qpstat as ever');

done_testing;
