# scripts/deps.sh on an RPM system (SME Server 10/11, CentOS, Rocky: rpm and
# dnf or yum, no dpkg): it asks rpm what is missing and installs it by the EL
# package names with dnf, or yum where dnf is missing. Run against stub rpm,
# dnf and yum commands on a PATH without dpkg.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(run_cmd slurp spew tmpdir);

my $tmp = tmpdir();
my $bin = "$tmp/bin";
mkdir $bin or die;
my $installed = "perl gcc make";    # what the stub rpm says is there
spew("$bin/rpm", qq{#!/bin/sh\nfor p in $installed; do [ "\$2" = "\$p" ] && exit 0; done\nexit 1\n});
spew("$bin/id", "#!/bin/sh\necho 0\n");
chmod 0755, "$bin/rpm", "$bin/id";

sub run_deps {
    my ($installer, @args) = @_;
    unlink glob "$bin/dnf $bin/yum $tmp/args";
    if ($installer) {
        spew("$bin/$installer", "#!/bin/sh\necho \"$installer \$*\" > $tmp/args\n");
        chmod 0755, "$bin/$installer";
    }
    my ($out, $err, $st) = run_cmd(['/bin/sh', 'scripts/deps.sh', @args], env => { PATH => $bin });
    return ($st, -e "$tmp/args" ? slurp("$tmp/args") : '', "$out$err");
}

my ($st, $args, $out) = run_deps('dnf');
is($st, 0, 'deps.sh with rpm and dnf') or diag($out);
like($args, qr/^dnf install -y -q /, 'installs with dnf');
my %asked = map { $_ => 1 } split ' ', $args =~ s/^dnf install -y -q //r;
ok($asked{$_}, "build: $_") for qw(perl-devel perl-ExtUtils-MakeMaker zlib-devel sqlite-devel c-ares-devel
    check-devel libmicrohttpd-devel uthash-devel pkgconfig systemd-devel);
ok(!$asked{$_}, "$_ is installed: not asked for") for qw(perl gcc make);
ok(!(grep {/-dev$|^lib.*-perl$/} keys %asked), 'no Debian names');
ok(!$asked{valgrind}, 'the test tools only with "test"');

($st, $args) = run_deps('dnf', 'test');
%asked = map { $_ => 1 } split ' ', $args =~ s/^dnf install -y -q //r;
ok($asked{$_}, "test: $_") for qw(valgrind clang perl-Net-DNS perl-Text-Template rpm-build swaks systemd-journal-remote logrotate);

($st, $args) = run_deps('yum');
like($args, qr/^yum install -y -q .*sqlite-devel/, 'yum where there is no dnf (SME Server 10)');

done_testing;
