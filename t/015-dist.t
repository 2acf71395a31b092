# `make dist` gives a tarball that builds and passes tests with nothing but
# its own files, and whose `make install` puts the CLI, the man page, the
# Perl module, the category map (/etc/qpstat/categories, kept when it is
# there: the admin's) and the qpsmtpd plugin in place (the plugin where
# `perl Makefile.PL QPSMTPD_PLUGINS=DIR` said).
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Find ();
use File::Temp ();
use lib 't/lib';
use QpstatTest qw(run_cmd slurp);

plan skip_all => 'no Makefile: run perl Makefile.PL first' unless -f 'Makefile';
my $version = (slurp('lib/Qpstat.pm') =~ /\$VERSION\s*=\s*'([^']+)'/)[0];
my $tmp = File::Temp->newdir('/tmp/qpstat-dist-XXXXXX');
my $rel = "t/tmp-dist-$$";
my $name = "qpstat-$version";

# DISTVNAME inside t/tmp-* (cleaned by make clean): the test does not race a
# developer's own `make dist` in the checkout
my ($out, $err, $st) = run_cmd(['make', '-s', 'dist', "DISTVNAME=$rel/$name"], timeout => 120);
is($st, 0, 'make dist') or diag("$out$err");
my $tgz = "$rel/$name.tar.gz";
ok(-s $tgz, "the tarball $tgz exists");
($out, $err, $st) = run_cmd(['tar', '-xzf', abs_path($tgz), '-C', "$tmp", '--strip-components=2']);
is($st, 0, 'it unpacks') or diag($err);
system('rm', '-rf', $rel);
my $src = "$tmp/$name";
ok(-f "$src/Makefile.PL" && -f "$src/MANIFEST" && -f "$src/LICENSE", 'with Makefile.PL, MANIFEST and LICENSE');
ok(!-e "$src/.git" && !-e "$src/.ci", 'without the git metadata');

my $dest = "$tmp/root";
my $plugdir = '/opt/qpsmtpd/plugins';
my $build = join ' && ', "cd $src", "perl Makefile.PL QPSMTPD_PLUGINS=$plugdir INSTALL_BASE=/usr/local",
    'make -j2', 'make c_tests', "make install DESTDIR=$dest";
($out, $err, $st) = run_cmd(['sh', '-c', "($build) >$tmp/build.log 2>&1"], timeout => 300);
is($st, 0, 'the unpacked tarball builds and installs') or diag(slurp("$tmp/build.log"));
unlike(slurp("$tmp/build.log"), qr/not a known parameter/, 'QPSMTPD_PLUGINS is our argument, not a MakeMaker warning');

# a few tests of the unpacked tree: fixtures, golden files, C units all came along
($out, $err, $st) = run_cmd(['sh', '-c', "cd $src && prove -b t/000-load.t t/010-manifest.t t/500-cli.t t/900-c-units.t 2>&1"],
    timeout => 300);
is($st, 0, "the tarball's own tests pass") or diag("$out$err");
like($out, qr/^Result: PASS/m, 'prove says PASS');

my %installed;
File::Find::find(sub { $installed{ substr($File::Find::name, length $dest) } = 1 if -f $_ }, $dest) if -d $dest;
ok($installed{'/usr/local/bin/qpstat'}, 'the CLI is installed') or diag(join "\n", sort keys %installed);
ok((grep { m{^/usr/local/.*man1/qpstat\.1} } keys %installed), 'its man page');
ok((grep { m{^/usr/local/lib/perl5/.*/Qpstat\.pm$} } keys %installed), 'the Perl module');
ok((grep { m{/auto/Qpstat/Qpstat\.so$} } keys %installed), 'the XS library');
ok((grep { m{/Qpstat/Plugin\.pm$} } keys %installed), 'the plugin module');
ok($installed{"$plugdir/qpstat"}, "the plugin, in QPSMTPD_PLUGINS ($plugdir)");
is(slurp("$dest$plugdir/qpstat"), slurp('plugins/qpstat'), 'the plugin is plugins/qpstat') if $installed{"$plugdir/qpstat"};
is((stat "$dest$plugdir/qpstat")[2] & 07777, 0644, 'mode 0644') if $installed{"$plugdir/qpstat"};
my $map = "$dest/etc/qpstat/categories";
ok($installed{'/etc/qpstat/categories'}, 'the category map, where the CLI reads it');
if (-f $map) {
    is(slurp($map), slurp('etc/categories'), 'it is etc/categories');
    is((stat $map)[2] & 07777, 0644, 'mode 0644');
    open my $fh, '>>', $map or die "$map: $!";
    print $fh "my_filter Karma\n";
    close $fh;
    my $edited = slurp($map);
    ($out, $err, $st) = run_cmd(['sh', '-c', "cd $src && make install DESTDIR=$dest 2>&1"], timeout => 300);
    is($st, 0, 'make install again') or diag("$out$err");
    like($out, qr{^Keeping \Q$map\E}m, 'says it keeps the map');
    is(slurp($map), $edited, "and keeps the admin's edited map");
}
if (-x "$dest/usr/local/bin/qpstat") {
    ($out, $err, $st) = run_cmd(["$dest/usr/local/bin/qpstat", 'report', '--by', 'disposition', 't/data/logfile-094.log']);
    is($st, 0, 'the installed CLI runs a report') or diag($err);
    like($out, qr/queued/, 'and counts the fixture');
}

done_testing;
