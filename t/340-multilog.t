# qpstat processor under the real daemontools multilog: the qplogsumm
# drop-in. Lines are fed, rotation forced with SIGALRM; the state, the .s
# files and the store are checked; then the state is overwritten with junk
# and logging must go on with cleanly restarted totals.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use IO::Handle;

my $multilog = (grep { -x } map { "$_/multilog" } split /:/, $ENV{PATH})[0];
plan skip_all => 'daemontools multilog not installed' unless $multilog;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
delete $ENV{QPSTAT_NOW};    # the real clock (QpstatTest fixes one for the fixtures)
$ENV{TZ} = 'UTC';
my $tmp = tempdir(CLEANUP => 1);
my $dir = "$tmp/log";
my $db = "$tmp/qpstat.db";
mkdir $dir or die;
open my $st, '>', "$dir/state" or die;
close $st;

# the sample's payloads: multilog adds its own labels
open my $in, '<', 't/data/multilog-094/@400000006b07398735c119cc.s' or die;
my @payload = map { s/^\@[0-9a-f]{24} //r } <$in>;
close $in;
my $records = grep { /logterse/ } @payload;

open my $err, '>', "$tmp/multilog.err" or die;
my $pid = open(my $ml, '|-') // die "fork: $!";
if (!$pid) {
    open STDERR, '>&', $err or die;
    exec $multilog, 't', "!$Q processor --db $db", $dir or die "exec: $!";
}
$ml->autoflush(1);

sub rotated { my @s = sort glob("$dir/\@*.s"); return @s }

sub rotate_and_wait {
    my ($want, $patience) = @_;
    sleep 0.3;    # let multilog write what it has read
    kill 'ALRM', $pid;
    my $deadline = time + ($patience // 15);
    sleep 0.1 while rotated() < $want && time < $deadline;
    sleep 0.3;    # the state is renamed into place after the .s
    return scalar rotated();
}

sub state_counts {
    open my $s, '<', "$dir/state" or return {};
    my %c;
    while (<$s>) {
        next if /^#/ || !/\S/;
        my ($name, $label, $n) = split;
        $c{$name} = $n;
    }
    return \%c;
}

print $ml @payload;
is(rotate_and_wait(1), 1, "SIGALRM: multilog rotated current into a .s file") or diag(`ls -la $dir; cat $tmp/multilog.err`);
my ($s1) = rotated();
open my $f, '<', $s1 or die;
my @got = map { s/^\@[0-9a-f]{24} //r } <$f>;
close $f;
is_deeply(\@got, \@payload, 'the .s file holds the input unchanged (fd 0 copied to fd 1)');
my $c = state_counts();
is($c->{queued}, 3, 'state: queued 3');
is($c->{hosts_allow}, 2, 'state: hosts_allow 2');
my $sum = 0;
$sum += $c->{$_} for grep { $_ ne 'LOGFILE_EPOCH' } keys %$c;
is($sum, $records, "state: $records records in all");
ok(exists $c->{LOGFILE_EPOCH}, 'state: LOGFILE_EPOCH line');
open my $sf, "<", "$dir/state" or die;
my $state = do { local $/; <$sf> };
like($state, qr/^# TOTALS\s+$records 100%/m, 'state report: TOTALS');
like($state, qr/^# Start  : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m, 'state report: local start time');
my $csv = `$Q report --db $db --by disposition --format csv`;
like($csv, qr/^queued,3,/m, 'the store has the rotated log at once');

# second log: totals accumulate
print $ml grep { /logterse/ } @payload;
is(rotate_and_wait(2), 2, 'second rotation');
$c = state_counts();
is($c->{queued}, 6, 'cumulative: queued 3 + 3');

# junk state: the processor must still exit 0 and restart the totals
open my $junk, '>', "$dir/state" or die;
print $junk "garbage \x00\xff line\nqueued notalabel 12\n#\n" . ("z" x 5000) . "\n";
close $junk;
print $ml grep { /logterse/ } @payload;
is(rotate_and_wait(3), 3, 'rotation with a junk state: multilog went on');
$c = state_counts();
is($c->{queued}, 3, 'junk state ignored: totals restart from this log');

# an empty log and a log of one line (zero seconds)
is(rotate_and_wait(4, 2), 3, 'an empty current is not rotated (multilog skips it)');
print $ml "12345 some line\n";
is(rotate_and_wait(4), 4, 'rotation of a one-line log (zero seconds)');
like(`cat $dir/state`, qr/^# Elapsed: 0 days, 0 hours, 0 mins, 0 secs$/m, 'a zero-second log: no division by zero');
print $ml "67890 still logging\n";
sleep 0.3;
close $ml;    # EOF: multilog finishes and exits
waitpid($pid, 0);
close $err;
open $err, '<', "$tmp/multilog.err" or die;
my $errs = do { local $/; <$err> };
unlike($errs, qr/processor failed/, 'multilog never saw the processor fail');
open my $cur, '<', "$dir/current" or die;
like(do { local $/; <$cur> }, qr/still logging/, 'logging went on after all rotations');

# qplogsumm's own state format is read (a migration keeps the totals)
my $qs = "$tmp/qplogsumm-state";
open my $q, '>', $qs or die;
print $q "LOGFILE_EPOCH                  \@400000006b073902013e9c74            0\n",
    "queued                         \@400000006b073902013e9c74         1000\n",
    "#\n# Most recent logfile\n";
close $q;
open my $line, '>', "$tmp/one.log" or die;
print $line "8873 (queue) logging::logterse: \` 1\th\th\t<a\@b.c>\t<d\@e.f>\tqueued\t\t<id>\tNo, score=1 required=5\n";
close $line;
my $out = `$Q processor 4<$qs 5>$tmp/new-state <$tmp/one.log >/dev/null; echo rc=\$?`;
like($out, qr/rc=0/, 'processor by hand: exit 0');
open $q, '<', "$tmp/new-state" or die;
like(do { local $/; <$q> }, qr/^queued\s+\@400000006b073902013e9c74\s+1001$/m,
    'a qplogsumm state carries over: 1000 + 1');
$out = `echo x | $Q processor --bogus 2>&1; echo rc=\$?`;
like($out, qr/rc=0/, 'processor with a bad option still exits 0');

done_testing;
