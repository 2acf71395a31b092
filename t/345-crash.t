# Crash safety: qpstat import and qpstat collect are killed with SIGKILL at
# random points, again and again, while a writer appends to current and
# rotates it like multilog. After a final run the store must equal a clean
# import of the same logs: nothing lost, nothing doubled.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use POSIX qw(WNOHANG);

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
delete $ENV{QPSTAT_NOW};    # the real clock (QpstatTest fixes one for the fixtures)
$ENV{TZ} = 'UTC';
my $tmp = tempdir(CLEANUP => 1);
my $kills = $ENV{QPS_CRASH_KILLS} || 60;

# a realistic log from the project's generator
system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');
system("$tmp/genlog --connections 4000 --seed 11 > $tmp/all.log") == 0 or BAIL_OUT('genlog failed');
open my $all, '<', "$tmp/all.log" or die;
binmode $all;
my $data = do { local $/; <$all> };
close $all;
my $lines = () = $data =~ /\n/g;
note("log: " . length($data) . " bytes, $lines lines");

my $dir = "$tmp/log";
mkdir $dir or die;
my $db = "$tmp/crash.db";

# the writer: appends in odd-sized chunks (lines get cut), rotates often
my $writer = fork // die;
if (!$writer) {
    srand(42);
    my ($pos, $files) = (0, 0);
    open my $cur, '>>', "$dir/current" or die;
    $cur->autoflush(1);
    while ($pos < length $data) {
        my $n = 200 + int(rand(6000));
        print $cur substr($data, $pos, $n);
        $pos += $n;
        if (rand() < 0.08 && substr($data, $pos - 1, 1) eq "\n") {
            # multilog renames current only between lines
            close $cur;
            rename "$dir/current", sprintf("$dir/\@400000006b%06x%08x.s", ++$files, 0) or die;
            open $cur, '>>', "$dir/current" or die;
            $cur->autoflush(1);
        }
        sleep 0.002;
    }
    close $cur;
    exit 0;
}

my ($killed, $runs) = (0, 0);
srand(7);
while ($killed < $kills) {
    my @cmd = $runs % 2 ? ($Q, 'collect', '--db', $db, $dir) : ($Q, 'import', '--db', $db, $dir);
    my $pid = fork // die;
    if (!$pid) {
        open STDERR, '>', '/dev/null';
        exec @cmd or exit 127;
    }
    $runs++;
    sleep 0.01 + rand(0.25);
    if (waitpid($pid, WNOHANG) == 0) {
        kill 'KILL', $pid;
        $killed++;
    }
    waitpid($pid, 0);
}
waitpid($writer, 0);
is($? >> 8, 0, 'the writer finished');
cmp_ok($killed, '>=', 50, "$killed SIGKILLs in $runs runs");

# a last, undisturbed run; and a clean import of the same files to compare
my $out = `$Q import --db $db $dir 2>&1`;
is($? >> 8, 0, 'the final import succeeds') or diag $out;
my $clean = "$tmp/clean.db";
$out = `$Q import --db $clean $dir 2>&1`;
is($? >> 8, 0, 'clean import') or diag $out;

for my $by (qw(disposition tld ip day connections connection-time)) {
    my $got = `$Q report --db $db --by $by --format csv`;
    my $want = `$Q report --db $clean --by $by --format csv`;
    is($got, $want, "--by $by: the crashed store equals a clean import");
}
my $got = `$Q report --db $db --by disposition --format csv`;
my $logs = `$Q report --by disposition --format csv $tmp/all.log`;
is($got, $logs, 'and equals the report over the whole log: nothing lost, nothing doubled');
my ($total) = `$Q report --db $db --format json --by disposition` =~ /"transactions":(\d+)/;
my $records = () = $data =~ /logging::logterse: `/g;
is($total, $records, "$records records stored, each once");

done_testing;
