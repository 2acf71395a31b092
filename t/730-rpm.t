# The RPM for SME Server / CentOS / Rocky: rpm/qpstat.spec builds with
# `rpmbuild -bb --nodeps` (Debian's rpm package; the BuildRequires name the
# EL packages, which Debian does not have) from the files of MANIFEST, and
# the package holds the binary, the man page, the Perl module, the plugin,
# the category map (a config file), the systemd units and SME Server's files.
use strict;
use warnings;
use Test::More;
use ExtUtils::Manifest ();
use File::Temp ();
use lib 't/lib';
use QpstatTest qw(run_cmd slurp);

my ($rpmbuild) = grep { -x } map {"$_/rpmbuild"} split /:/, $ENV{PATH} // '';
plan skip_all => 'rpmbuild not found (Debian package rpm; sh scripts/deps.sh test)' unless $rpmbuild;
my $chartjs = $ENV{QPS_CHARTJS} || '/usr/share/javascript/chart.js/chart.min.js';
plan skip_all => "Chart.js not found at $chartjs (libjs-chart.js)" unless -f $chartjs;

my $spec = slurp('rpm/qpstat.spec');
my ($version) = $spec =~ /^Version:\s*(\S+)/m;
is($version, (slurp('lib/Qpstat.pm') =~ /\$VERSION\s*=\s*'([^']+)'/)[0], 'the spec has the version of Qpstat.pm');
is($version, (slurp('debian/changelog') =~ /^qpstat \(([^)-]+)/)[0], 'and of debian/changelog');
my %breq = map { $_ => 1 } $spec =~ /^BuildRequires:\s*(\S+)/mg;
ok($breq{$_}, "BuildRequires: $_ (the CentOS/Rocky name)")
    for qw(sqlite-devel zlib-devel c-ares-devel check-devel perl-devel perl-ExtUtils-MakeMaker libmicrohttpd-devel
    systemd-devel);

# EL has no Chart.js package: --without chartjs needs no Source1 and builds
# the dashboard without charts (the Makefile.PL fallback t/017 builds)
SKIP: {
    my ($rpmspec) = grep { -x } map {"$_/rpmspec"} split /:/, $ENV{PATH} // '';
    skip 'rpmspec not found (Debian package rpm)', 4 unless $rpmspec;
    my ($with) = run_cmd([$rpmspec, '-P', 'rpm/qpstat.spec']);
    my ($without, $e2, $s2) = run_cmd([$rpmspec, '-P', '--without', 'chartjs', 'rpm/qpstat.spec']);
    like($with, qr/^Source1:\s*chart\.min\.js$/m, 'by default Source1 is Chart.js');
    like($with, qr/^QPS_CHARTJS=\S+\/chart\.min\.js perl Makefile\.PL /m, 'and the build embeds it');
    is($s2, 0, 'rpmspec --without chartjs') or diag($e2);
    unlike($without, qr/^Source1:|QPS_CHARTJS/m, '--without chartjs: no Source1, no QPS_CHARTJS');
}

my $tmp = File::Temp->newdir('/tmp/qpstat-rpm-XXXXXX');
my $top = "$tmp/rpmbuild";
mkdir $_ for $top, "$top/SOURCES", "$tmp/src";
{
    open my $save, '>&', \*STDOUT or die;
    open STDOUT, '>', '/dev/null' or die;    # manicopy narrates on STDOUT, which is TAP
    ExtUtils::Manifest::manicopy(ExtUtils::Manifest::maniread(), "$tmp/src/qpstat-$version", 'cp');
    open STDOUT, '>&', $save or die;
}
my ($out, $err, $st) = run_cmd(['tar', '-czf', "$top/SOURCES/qpstat-$version.tar.gz", '-C', "$tmp/src", "qpstat-$version"]);
is($st, 0, 'Source0 from the MANIFEST files') or diag($err);
($out, $err, $st) = run_cmd(['cp', $chartjs, "$top/SOURCES/chart.min.js"]);
($out, $err, $st) = run_cmd(['sh', '-c', "$rpmbuild -bb --nodeps --nocheck --define '_topdir $top' "
        . "--define 'debug_package %{nil}' rpm/qpstat.spec > $tmp/build.log 2>&1"], timeout => 600);
is($st, 0, 'rpmbuild -bb --nodeps') or diag(substr(slurp("$tmp/build.log"), -3000));
my ($rpm) = glob "$top/RPMS/*/qpstat-$version-1*.rpm";
ok($rpm && -s $rpm, 'the binary RPM') or done_testing, exit;

($out) = run_cmd(['rpm', '-qlp', $rpm]);
my %files = map { $_ => 1 } split /\n/, $out;
ok($files{$_}, "rpm -qlp: $_") for '/usr/bin/qpstat', '/usr/share/qpsmtpd/plugins/qpstat',
    '/usr/lib/systemd/system/qpstat-collect.service', '/usr/lib/systemd/system/qpstat-serve.service',
    '/var/lib/qpstat', '/etc/e-smith/templates-custom/var/service/qpsmtpd/config/plugins/02logterse',
    '/etc/e-smith/templates-custom/var/service/sqpsmtpd/config/plugins/02logterse',
    (map { "/etc/e-smith/templates-custom/var/service/$_/02logterse" }
        map { ("qpsmtpd/config/$_", "sqpsmtpd/config/$_") } 'peers/0', 'peers/local'),
    '/usr/share/qpstat/sme/log-run', '/etc/qpstat/categories';
($out) = run_cmd(['rpm', '-qp', '--configfiles', $rpm]);
like($out, qr{^/etc/qpstat/categories$}m, 'the category map is a config file');
($out) = run_cmd(['rpm', '-qp', '--qf', '[%{FILENAMES} %{FILEFLAGS:fflags}\n]', $rpm]);
like($out, qr{^/etc/qpstat/categories cn$}m, '%config(noreplace): an upgrade keeps the admin\'s edits');
ok((grep { m{^/usr/share/(licenses|doc)/qpstat[^/]*/LICENSE$} } keys %files), 'the licence');
ok((grep { m{^/usr/share/man/man1/qpstat\.1} } keys %files), 'the man page');
ok((grep { m{/perl5/.*/Qpstat\.pm$} } keys %files), 'the Perl module');
ok((grep { m{/auto/Qpstat/Qpstat\.so$} } keys %files), 'the XS library');
ok((grep { m{/Qpstat/Plugin\.pm$} } keys %files), 'Qpstat::Plugin');
ok(!(grep { m{\.packlist$|perllocal\.pod$} } keys %files), 'no .packlist or perllocal.pod');

($out) = run_cmd(['rpm', '-qp', '--requires', $rpm]);
like($out, qr/^$_\b/m, "Requires: $_") for qw(sqlite-libs zlib c-ares libmicrohttpd);
($out) = run_cmd(['rpm', '-qp', '--scripts', $rpm]);
like($out, qr/chown qpsmtpd:qpsmtpd \/var\/lib\/qpstat/, '%post gives the store to qpsmtpd');
unlike($out, qr/expand-template|config setprop|signal-event/, 'and enables nothing on SME: the admin does');

# the packaged fragment is the one t/735 expands; the binary is this build's
($out) = run_cmd(['sh', '-c', "cd $tmp && rpm2cpio $rpm | cpio -idm --quiet 2>/dev/null || "
        . "(rpm2archive $rpm >/dev/null && tar -xzf $rpm.tgz)"]);
SKIP: {
    skip 'cannot unpack the RPM here (no cpio or rpm2archive)', 8 unless -e "$tmp/usr/bin/qpstat";
    is(slurp("$tmp/etc/qpstat/categories"), slurp('etc/categories'), 'the packaged map is etc/categories');
    for my $f (map { ("var/service/qpsmtpd/config/$_/02logterse", "var/service/sqpsmtpd/config/$_/02logterse") }
        'plugins', 'peers/0', 'peers/local') {
        is(slurp("$tmp/etc/e-smith/templates-custom/$f"), slurp("sme/templates/$f"), "the SME fragment $f is sme/templates/...");
    }
    ($out, $err, $st) = run_cmd(["$tmp/usr/bin/qpstat", 'report', '--by', 'disposition', 't/data/logfile-094.log'],
        env => { TZ => 'UTC' });
    like($out, qr/queued/, 'the packaged qpstat runs a report');
}

done_testing;
