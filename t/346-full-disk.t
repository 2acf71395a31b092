# A full disk (a small tmpfs): import fails with a clear error and exit 1,
# the store stays readable and holds what was committed before.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin);
use File::Temp qw(tempdir);

plan skip_all => 'needs root to mount a tmpfs' if $> != 0;
my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
delete $ENV{QPSTAT_NOW};    # the real clock (QpstatTest fixes one for the fixtures)
my $tmp = tempdir(CLEANUP => 1);
my $mnt = "$tmp/small";
mkdir $mnt or die;
system('mount', '-t', 'tmpfs', '-o', 'size=400k', 'tmpfs', $mnt) == 0
    or plan skip_all => 'cannot mount a tmpfs here';
END { local $?; system('umount', $mnt) if $mnt && -d $mnt }

system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');
system("$tmp/genlog --connections 3000 --seed 3 > $tmp/big.log") == 0 or die;
my $db = "$mnt/q.db";
my $out = `$Q import --db $db $tmp/big.log 2>&1`;
is($? >> 8, 1, 'import onto a full disk exits 1');
like($out, qr/qpstat import: .*(full|disk|I\/O)/i, 'with a clear message') or diag $out;
unlike($out, qr/Segmentation|Aborted|core dumped/, 'no crash');
$out = `$Q report --db $db --by disposition --format csv 2>&1`;
is($? >> 8, 0, 'the store is still readable') or diag $out;
like($out, qr/^disposition,count,percent\r\n/, 'and reports what was committed');

# a read-only file system (root ignores file modes, not this)
my $ro = "$tmp/ro";
mkdir $ro or die;
if (system('mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', $ro) == 0) {
    my $rodb = "$ro/q.db";
    `$Q import --db $rodb t/data/multilog-094 2>&1`;
    system('mount', '-o', 'remount,ro', $ro) == 0 or die 'remount';
    my $out = `$Q import --db $rodb t/data/multilog-094 2>&1`;
    is($? >> 8, 1, 'import into a store on a read-only file system: exit 1');
    like($out, qr/qpstat import: .*(read-only|readonly|unable to open|cannot)/i, 'with a clear message') or diag $out;
    $out = `$Q report --db $rodb --by disposition --format csv 2>&1`;
    like($out, qr/^queued,3,/m, 'reports from the read-only store still work') or diag $out;
    system('umount', $ro);
}
done_testing;
