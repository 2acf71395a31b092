#!/usr/bin/perl
# t/720-debian-package.t - the Debian packages as an admin gets them.
#
# As root on a machine with dpkg-buildpackage and debhelper: copies the files
# of MANIFEST (what `make dist` packs) to a temporary tree, builds the binary
# packages with `dpkg-buildpackage -us -uc -b` (nocheck: the suite itself is
# the check), checks them with lintian (no error), installs them with the
# README's `apt-get install ./*.deb` line, runs the installed qpstat on the
# fixtures (the golden files of t/500), then follows the README's stock-Debian
# steps literally on a copy of Debian's stock /etc/qpsmtpd: the `sed` line on
# config/plugins, a start of Debian's qpsmtpd 0.94 forkserver on loopback (the
# harness of t/600, with the installed Qpstat module, not blib's), mail sent
# with swaks, and the README's two report lines, `qpstat report --db` and
# `qpstat report` over the log. Then `apt-get purge` and a check that nothing
# is left but the store.
#
# Test-only changes to the copied configuration: logging/file writes to a
# temporary directory instead of /var/log/qpsmtpd (the README's
# `/var/log/qpsmtpd` is read there), and qpsmtpd listens on a free port of
# 127.0.0.1 instead of port 25. The store is the real /var/lib/qpstat the
# package creates, so the test runs only when no qpstat package is installed
# and /var/lib/qpstat does not exist (it removes them again at the end).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Cwd qw(abs_path);
use ExtUtils::Manifest ();
use File::Path qw(make_path remove_tree);
use File::Temp ();
use QpsmtpdHarness;
use HTTP::Tiny ();
use POSIX ();
use Time::HiRes ();
use QpstatTest qw(%FIXTURE @FIXTURES free_port run_cmd slurp spew);

my $REPO = abs_path("$FindBin::Bin/..");
chdir $REPO or die "chdir $REPO: $!";
my $STORE_DIR = '/var/lib/qpstat';
my $STORE = "$STORE_DIR/qpstat.db";
my @PKGS = qw(qpstat libqpstat-perl);
my $ETC = '/etc/qpstat';
my $MAP = "$ETC/categories";

plan skip_all => 'needs root (installs and purges the packages)' if $> != 0;
for (['dpkg-buildpackage', 'dpkg-dev'], ['dh', 'debhelper'], ['fakeroot', 'fakeroot'], ['lintian', 'lintian'],
    ['apt-get', 'apt']) {
    plan skip_all => "$_->[0] not found (Debian package $_->[1]; sh scripts/deps.sh test)" unless QpsmtpdHarness::which($_->[0]);
}
for my $p (@PKGS) {
    my ($out) = run_cmd(['dpkg-query', '-W', '-f', '${Status}', $p]);
    plan skip_all => "the package $p is installed here ($out): purge it to run this test" if $out =~ /\S/ && $out !~ /not-installed/;
}
plan skip_all => "$STORE_DIR exists (an admin's store?): this test creates and removes it" if -e $STORE_DIR;
plan skip_all => "$ETC exists (an admin's category map?): this test creates and removes it" if -e $ETC;
if (my @p = grep { !/not built/ } QpsmtpdHarness::prereq_problems()) { plan skip_all => join '; ', @p }
plan skip_all => 'Debian\'s stock /etc/qpsmtpd missing (package qpsmtpd)' unless -f '/etc/qpsmtpd/plugins';

# the README's block of stock-Debian steps
my ($steps) = slurp('README.md') =~ /<!-- t\/720: stock Debian steps -->\n```sh\n(.*?)```/s
    or BAIL_OUT('README.md has no "t/720: stock Debian steps" block');
my @steps = grep { /\S/ } split /\n/, $steps;

my $version = (slurp('debian/changelog') =~ /^qpstat \(([^)]+)\)/)[0];
my ($arch) = run_cmd(['dpkg', '--print-architecture']);
chomp $arch;
my $tmp = File::Temp->newdir('/tmp/qpstat-deb-XXXXXX');
my $src = "$tmp/qpstat-$version";
my $installed = 0;
END { purge() if $installed }

sub sh {
    my ($cmd, %o) = @_;
    my ($out, $err, $st) = run_cmd(['sh', '-c', $cmd], timeout => 600, %o);
    return ($st, "$out$err");
}

sub purge {
    $installed = 0;
    return sh('DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 purge -y -q ' . join(' ', @PKGS));
}

# ---------------------------------------------------------------- build
{
    # manicopy narrates each mkdir on STDOUT, which is TAP here
    open my $save, '>&', \*STDOUT or die "dup STDOUT: $!";
    open STDOUT, '>', '/dev/null' or die "/dev/null: $!";
    ExtUtils::Manifest::manicopy(ExtUtils::Manifest::maniread(), $src, 'cp');
    open STDOUT, '>&', $save or die "restore STDOUT: $!";
}
ok(-x "$src/debian/rules", 'the MANIFEST files include debian/');
my ($st, $log) = sh("cd $src && dpkg-buildpackage -us -uc -b", env => { DEB_BUILD_OPTIONS => 'nocheck' });
is($st, 0, 'dpkg-buildpackage -us -uc -b') or diag(substr($log, -4000));
my %deb = map { $_ => "$tmp/${_}_${version}_$arch.deb" } @PKGS;
ok(-s $deb{$_}, "built $deb{$_}") for @PKGS;
BAIL_OUT('no packages') unless -s $deb{qpstat} && -s $deb{'libqpstat-perl'};

my %contents;
for my $p (@PKGS) {
    my ($out) = run_cmd(['dpkg-deb', '-c', $deb{$p}]);
    $contents{$p} = { map { (split ' ', $_, 6)[5] =~ s{^\.}{}r => 1 } split /\n/, $out };
}
ok($contents{qpstat}{$_}, "qpstat has $_") for '/usr/bin/qpstat', '/lib/systemd/system/qpstat-collect.service',
    '/lib/systemd/system/qpstat-serve.service', '/var/lib/qpstat/';
ok((grep { m{^/usr/share/man/man1/qpstat\.1\w*\.gz$} } keys %{ $contents{qpstat} }), 'qpstat has the man page');
ok($contents{qpstat}{$MAP}, "qpstat has the category map $MAP");
my ($conffiles) = run_cmd(['dpkg-deb', '-I', $deb{qpstat}, 'conffiles']);
like($conffiles, qr{^\Q$MAP\E$}m, 'as a conffile');
ok($contents{'libqpstat-perl'}{'/usr/share/qpsmtpd/plugins/qpstat'}, 'libqpstat-perl has the plugin');
ok((grep { m{^/usr/lib/[^/]+/perl5/[\d.]+/auto/Qpstat/Qpstat\.so$} } keys %{ $contents{'libqpstat-perl'} }),
    'libqpstat-perl has the XS module');
ok((grep { m{/perl5/[\d.]+/Qpstat/Plugin\.pm$} } keys %{ $contents{'libqpstat-perl'} }), 'and Qpstat::Plugin');

my ($lint_st, $lint) = sh("lintian $deb{qpstat} $deb{'libqpstat-perl'}");
my @errors = grep {/^E: /} split /\n/, $lint;
is($lint_st, 0, 'lintian ran and failed on nothing (it fails on errors)') or diag($lint);
is("@errors", '', 'lintian: no errors') or diag($lint);
note($lint) if $lint =~ /\S/;

# ---------------------------------------------------------------- install
# qpsmtpd's configuration is the admin's: no package script touches it
sub qpsmtpd_conf {
    my ($out) = run_cmd(['sh', '-c', 'cd /etc/qpsmtpd && find . -type f -exec sha256sum {} + | sort -k 2; ls -lnR']);
    return $out;
}
my $conf_before = qpsmtpd_conf();
my ($install) = grep {/^apt-get install /} @steps;
ok($install, "the README's install line") or BAIL_OUT('no apt-get install line in the README block');
like($install, qr{\./qpstat_\Q$version\E_\w+\.deb .*\./libqpstat-perl_\Q$version\E_\w+\.deb}, "it names both packages of version $version");
(my $cmd = $install) =~ s/_amd64\.deb/_$arch.deb/g;
$cmd =~ s/^apt-get install /DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q /;
$installed = 1;
($st, $log) = sh("cd $tmp && $cmd");
is($st, 0, "apt-get install ./*.deb") or diag($log);
my %listed;
for my $p (@PKGS) {
    my ($out) = run_cmd(['dpkg-query', '-L', $p]);
    $listed{$_} = $p for grep { m{^/} } split /\n/, $out;
}
ok(-x '/usr/bin/qpstat', 'qpstat installed in /usr/bin');
is(qpsmtpd_conf(), $conf_before, '/etc/qpsmtpd is as it was (contents, owners, modes)');
ok(-f '/usr/share/qpsmtpd/plugins/qpstat', 'the plugin in /usr/share/qpsmtpd/plugins');
my ($inc, $e) = run_cmd([$^X, '-MQpstat::Store', '-e', 'print $INC{"Qpstat.pm"}, " ", Qpstat::library_version()'],
    env => { PERL5LIB => '' });
like($inc, qr{^/usr/lib/[^/]+/perl5/[\d.]+/Qpstat\.pm \Q$version\E$}, "the system perl loads the installed Qpstat $version")
    or diag($e);
my @st = stat $STORE_DIR;
ok(@st, "$STORE_DIR created");
is(scalar getpwuid($st[4] // -1), 'qpsmtpd', "$STORE_DIR owned by qpsmtpd");
is(($st[2] // 0) & 07777, 0750, "mode 0750");
for my $name (qw(qpstat-collect qpstat-serve)) {
    my $unit = slurp("/lib/systemd/system/$name.service");
    like($unit, qr/^User=qpsmtpd$/m, "$name runs as qpsmtpd");
    like($unit, qr/^ReadWritePaths=\/var\/lib\/qpstat$/m, 'and may write only the store');
    like($unit, qr{^ExecStart=/usr/bin/qpstat \Q${\ ($name =~ s/qpstat-//r)}\E --db /var/lib/qpstat/qpstat\.db }m,
        'on the store the plugin writes');
    ok(!-e "/etc/systemd/system/multi-user.target.wants/$name.service", "$name is not enabled");
}
like(slurp('/lib/systemd/system/qpstat-serve.service'), qr/--listen 127\.0\.0\.1:\d+$/m, 'serve on loopback');

# the category map where the binary reads it by default: a plugin the shipped
# map does not know is Unknown until the admin maps it in /etc/qpstat/categories
# (an exact rule for a made-up plugin: a report run meanwhile by anyone else
# on this machine counts exactly as before)
is(slurp($MAP), slurp('etc/categories'), "$MAP is etc/categories");
is((stat $MAP)[2] & 07777, 0644, 'mode 0644');
ok($listed{$MAP}, "dpkg knows $MAP as qpstat's");
{
    my ($cf) = run_cmd(['dpkg-query', '-W', '-f', '${Conffiles}', 'qpstat']);
    like($cf, qr{^ \Q$MAP\E [0-9a-f]{32}$}m, 'an installed conffile');
    my $probe = "$tmp/probe.log";
    spew($probe, "Wed Nov 25 19:39:55 2026 vm[9415]: `127.0.0.1\tUnknown\tprobe.example\t\t\tqpstat_t720_probe\t901\tprobe\tmsg denied before queued\n");
    my ($out, $err) = run_cmd(['/usr/bin/qpstat', 'report', '--by', 'category', $probe], env => { TZ => 'UTC' });
    like($out, qr/^\s+1\s+Unknown\b/m, 'a plugin the shipped map lacks is Unknown') or diag($err);
    like($out, qr/qpstat_t720_probe 1/, 'and named');
    open my $fh, '>>', $MAP or die "$MAP: $!";
    print $fh "qpstat_t720_probe               Karma\n";
    close $fh;
    ($out, $err) = run_cmd(['/usr/bin/qpstat', 'report', '--by', 'category', $probe], env => { TZ => 'UTC' });
    like($out, qr/^\s+1\s+Karma\b/m, "the admin's rule in $MAP counts, with no --categories") or diag($err);
    unlike($out, qr/Unknown/, 'nothing Unknown then');
}

# the installed binary on the fixtures: t/500's golden files
{
    local $ENV{TZ} = 'UTC';
    local $ENV{QPSTAT_NOW} = 1795640400;
    for my $f (@FIXTURES) {
        my ($out, $err, $s) = run_cmd(['/usr/bin/qpstat', 'report', '--format', 'text', $FIXTURE{$f}]);
        is($out, slurp("t/data/$f.all.text.expected"), "installed qpstat report $f = golden") or diag($err);
        ($out, $err, $s) = run_cmd(['/usr/bin/qpstat', 'report', '--format', 'csv', '--by', 'disposition', $FIXTURE{$f}]);
        is($out, slurp("t/data/$f.disposition.csv.expected"), "installed qpstat report --by disposition $f = golden");
    }
}

# ---------------------------------------------------------------- stock Debian steps
my $h = QpsmtpdHarness->new(name => 'deb', lifetime => 300);
my $conf = $h->confdir;
my $logdir = $h->tmp . '/log-file';
make_path($conf, $logdir, $h->logdir);
$h->own($logdir);
($st, $log) = sh("cp -a /etc/qpsmtpd/. $conf/");
is($st, 0, "Debian's stock /etc/qpsmtpd copied") or diag($log);
my $logging = slurp("$conf/logging");
ok($logging =~ s{^logging/file (.*) /var/log/qpsmtpd/qpsmtpd\.log$}{logging/file $1 $logdir/qpsmtpd.log}m,
    'the stock logging/file line (test: into a temporary directory)');
spew("$conf/logging", $logging);
unlike(slurp("$conf/plugins"), qr/^\s*logging\/logterse/m, 'stock Debian loads no logging/logterse');

# stock Debian before the steps: its log has connections but no logterse
# record, and the report says so and how to load the plugin
$h->start(installed => 1, log_file => "$logdir/qpsmtpd.log");
my ($stock_mail) = $h->swaks(from => 'user0@sender0.example', to => 'rcpt0@example.com');
ok(!$stock_mail->{timed_out}, 'swaks finished (stock configuration)');
$h->stop;
{
    my ($out, $err, $s) = run_cmd(['/usr/bin/qpstat', 'report', $logdir]);
    is($s, 0, 'installed qpstat report over the stock log: exit 0') or diag($err);
    like($out, qr/Transactions: 0\.\nNo logterse records in these logs/, 'Transactions: 0, and why');
    like($out, qr/Load the qpstat plugin \(or logging\/logterse\) in qpsmtpd's config\/plugins/, 'and how to load the plugin');
    like($out, qr/^== connections ==\n  accepted +1\n/m, 'the connection table counts the connection') or diag($out);
}

my @edits = grep { m{/etc/qpsmtpd/} && !/^apt-get/ } @steps;
ok(@edits, "the README's configuration lines");
for my $line (@edits) {
    (my $run = $line) =~ s{ /etc/qpsmtpd/(\w+)$}{ $conf/$1} or fail("the README line works on a file of /etc/qpsmtpd: $line");
    ($st, $log) = sh($run);
    is($st, 0, "README: $line") or diag($log);
}
like(slurp("$conf/plugins"), qr{^qpstat db /var/lib/qpstat/qpstat\.db\n\$include /etc/qpsmtpd/debian-queue-method\n}m,
    'the plugin line sits just before the queue plugins');
ok((grep { m{^/etc/init\.d/qpsmtpd restart$} } @steps), 'the README restarts qpsmtpd (here: the harness starts it)');

$h->start(installed => 1, log_file => "$logdir/qpsmtpd.log");
my @sent = map { $h->swaks(from => "user$_\@sender$_.example", to => "rcpt$_\@example.com") } 1 .. 3;
ok(!$_->{timed_out}, 'swaks finished') for @sent;
# what the clients were told at the end of DATA: 250 = queued, 4xx/5xx = one deny
# (Debian 12's stock `check_loop` line refuses every message: its wrapper of
# `loop` loses the default max-hops; see README)
my @dot = map { my ($a) = grep { $_->[0] eq 'dot' } @{ $_->{answers} }; $a ? $a->[1] : 'none' } @sent;
is(scalar(grep { /^[245]\d\d$/ } @dot), 3, "every message was answered at the end of DATA (@dot)");
my $refused = grep {/^[45]/} @dot;

my ($report_db) = grep { m{^qpstat report --db } } @steps;
my ($report_log) = grep { m{^qpstat report /var/log/qpsmtpd} } @steps;
ok($report_db && $report_log, "the README's two report lines");
s/\s+#.*// for $report_db, $report_log;
(my $run_log = $report_log) =~ s{/var/log/qpsmtpd}{$logdir};
my $live;
($st, $live) = sh("PATH=/usr/bin:/bin $report_db");
is($st, 0, "README: $report_db (qpsmtpd running)") or diag($live);
like($live, qr/Transactions: 3\b/, 'the plugin recorded the 3 transactions live');
$h->stop;
# two problems of Debian's stock configuration itself (seen without qpstat too)
my @problems = grep { !m{plugins/logging/file line 283|plugins/loop line 51} } $h->perl_problems;
is("@problems", '', 'no Perl problem in the log but those of the stock configuration');
my $logtext = slurp("$logdir/qpsmtpd.log") // '';
is(scalar(() = $logtext =~ /^\w{3} \w{3} [ \d]\d [\d:]{8} \d{4} \S+\[\d+\]: `127\.0\.0\.1\t/mg), 3,
    'the plugin wrote 3 terse lines through logging/file');
unlike($logtext, qr/cannot record/, 'and recorded every one');
($st, my $from_log) = sh("PATH=/usr/bin:/bin $run_log");
is($st, 0, "README: $report_log") or diag($from_log);
like($from_log, qr/Transactions: 3\b/, 'the log has the 3 transactions');
my ($db_csv, $log_csv);
(undef, $db_csv)  = sh("/usr/bin/qpstat report --format csv --by disposition --db $STORE");
(undef, $log_csv) = sh("/usr/bin/qpstat report --format csv --by disposition $logdir");
is($db_csv, $log_csv, 'report --db = report over the log (dispositions)');
my %disp = map { /^"?([^",]+)"?,(\d+),/ ? ($1 => $2) : () } split /\r?\n/, $db_csv;
delete $disp{disposition};
is($disp{queued} // 0, 3 - $refused, 'queued = the messages answered 250');
my $denied = 0;
$denied += $disp{$_} for grep { $_ ne 'queued' } keys %disp;
is($denied, $refused, 'denials = the messages refused');

# ---------------------------------------------------------------- the units
# No systemd runs here: systemd-analyze checks the installed units, and each
# unit's ExecStart runs as its User, Group and SupplementaryGroups (setpriv)
# on the log as logrotate creates it (0640 qpsmtpd adm in a 2750 directory)
# and the store the plugin wrote: collect must read the log and write the
# store, serve read the store.
SKIP: {
    skip 'no systemd-analyze (package systemd) or setpriv', 9
        unless QpsmtpdHarness::which('systemd-analyze') && QpsmtpdHarness::which('setpriv');
    my @units = map {"/lib/systemd/system/qpstat-$_.service"} 'collect', 'serve';
    ($st, $log) = sh("systemd-analyze verify @units");
    is($st, 0, 'systemd-analyze verify: the installed units') or diag($log);
    is($log, '', 'with nothing to say');
    my $unit_run = sub {
        my ($unit, %sub) = @_;
        my $text = slurp($unit);
        my %k = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $text;
        my $cmd = $k{ExecStart};
        $cmd =~ s/\Q$_\E/$sub{$_}/ for keys %sub;
        my @cmd = ('setpriv', "--reuid=$k{User}", "--regid=$k{Group}",
            '--groups=' . ($k{SupplementaryGroups} ? join(',', split ' ', $k{SupplementaryGroups}) : $k{Group}),
            '--', split ' ', $cmd);
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', "$tmp/unit.out";
            open STDERR, '>', "$tmp/unit.err";
            umask oct($k{UMask} // '022');
            exec @cmd or POSIX::_exit(127);
        }
        return $pid;
    };
    my $unit_stop = sub { kill 'TERM', $_[0]; waitpid $_[0], 0; slurp("$tmp/unit.err") };
    my $gid_adm = getgrnam('adm');
    chown scalar(getpwnam('qpsmtpd')), $gid_adm, $logdir, "$logdir/qpsmtpd.log";
    chmod 02750, $logdir;
    chmod 0640, "$logdir/qpsmtpd.log";
    my $pid = $unit_run->('/lib/systemd/system/qpstat-collect.service', '/var/log/qpsmtpd' => $logdir);
    my $known = '';
    for (1 .. 200) {
        ($known) = run_cmd(['sqlite3', $STORE, 'SELECT name, "offset" FROM files']);
        last if $known =~ /qpsmtpd\.log\|(\d+)/ && $1 == -s "$logdir/qpsmtpd.log";
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    my $err = $unit_stop->($pid);
    my $size = -s "$logdir/qpsmtpd.log";
    like($known, qr/qpsmtpd\.log\|\Q$size\E$/m, "qpstat-collect's command, as its user: the whole log imported")
        or diag($err);
    is($err, '', 'no message');
    ($st, my $after) = sh("/usr/bin/qpstat report --db $STORE");
    like($after, qr/Transactions: 3\b/, 'the live records and their logged twins: 3 transactions, not 6');
    my $port = free_port();
    $pid = $unit_run->('/lib/systemd/system/qpstat-serve.service', '127.0.0.1:9180' => "127.0.0.1:$port");
    my $res;
    for (1 .. 200) {
        $res = HTTP::Tiny->new(timeout => 5)->get("http://127.0.0.1:$port/api/report");
        last if $res->{status} != 599;
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    $err = $unit_stop->($pid);
    is($res->{status}, 200, "qpstat-serve's command, as its user: /api/report") or diag("$res->{content}\n$err");
    like($res->{content}, qr/"transactions":3\b/, 'the 3 transactions of the store');
    ok(-e $STORE && (stat $STORE)[4] == getpwnam('qpsmtpd'), 'the store still belongs to qpsmtpd');
}

# ---------------------------------------------------------------- purge
($st, $log) = purge();
is($st, 0, 'apt-get purge qpstat libqpstat-perl') or diag($log);
for my $p (@PKGS) {
    my ($out) = run_cmd(['dpkg-query', '-W', '-f', '${Status}', $p]);
    unlike($out, qr/installed|config-files/, "$p is gone (not even config-files)") unless $out =~ /not-installed/;
}
my @left = grep { !-d $_ && -e $_ } sort keys %listed;
is("@left", '', 'no file of the packages is left');
ok(-d '/usr/share/qpsmtpd/plugins', "qpsmtpd's plugin directory is still there");
is(qpsmtpd_conf(), $conf_before, 'and /etc/qpsmtpd is still as it was');
ok(!-e $MAP && !-e $ETC, "purge removed the (edited) category map and $ETC");
opendir(my $dh, $STORE_DIR);
my @in_store = $dh ? sort grep { !/^\.\.?$/ } readdir $dh : ();
ok((grep { $_ eq 'qpstat.db' } @in_store), 'the store is kept');
is(join(' ', grep { !/^qpstat\.db(-wal|-shm)?$/ } @in_store), '', 'and nothing else');
remove_tree($STORE_DIR);

done_testing;
