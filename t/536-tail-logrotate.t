# qpstat tail on a logrotate directory (Debian's qpsmtpd: logging/file writes
# DIR/qpsmtpd.log, logrotate renames it to qpsmtpd.log.1 and creates a new
# one, or copies and truncates it): DIR stands for its live qpsmtpd.log as a
# multilog directory stands for its current, and -f follows it across both
# kinds of rotation, every line once.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd slurp spew);

my $Q = qpstat_bin() or plan skip_all => 'build first';
my @src = split /^/m, slurp($FIXTURE{'logfile-094'});
cmp_ok(scalar @src, '>=', 48, 'the logging/file fixture');

# what tail prints for these lines read as one stream
sub expected {
    my $d = tempdir(CLEANUP => 1);
    spew("$d/one.log", join '', @_);
    my ($out) = run_cmd([$Q, 'tail', '-n', 'all', "$d/one.log"]);
    return $out;
}

my $dir = tempdir(CLEANUP => 1);
spew("$dir/qpsmtpd.log", join '', @src);
spew("$dir/qpsmtpd.log.1", "an older log\n");
my ($out, $err, $st) = run_cmd([$Q, 'tail', '-n', 'all', $dir]);
is($st, 0, 'tail DIR on a logrotate directory: exit 0') or diag($err);
is($err, '', 'no "cannot open DIR/current"');
is($out, expected(@src), 'DIR reads its live qpsmtpd.log');
($out) = run_cmd([$Q, 'tail', '-n', '3', $dir]);
is($out, join('', (split /^/m, expected(@src))[-3 .. -1]), '-n 3: the last three');

my $empty = tempdir(CLEANUP => 1);
($out, $err, $st) = run_cmd([$Q, 'tail', $empty]);
is($st, 1, 'a directory with neither current nor x.log: exit 1');
like($err, qr{cannot open \Q$empty\E/current}, 'and says what it looked for');

# -f across a "create" rotation, then a "copytruncate" one
{
    my $d = tempdir(CLEANUP => 1);
    spew("$d/qpsmtpd.log", join('', @src[0 .. 19]));
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$d/out" or die;
        open STDERR, '>', "$d/err" or die;
        exec $Q, 'tail', '-f', '-n', 'all', $d or exit 127;
    }
    my $wait_for = sub {    # until the output has $n lines, at most 10 s
        my ($n) = @_;
        my $deadline = time + 10;
        while (time < $deadline) {
            my @l = -e "$d/out" ? split(/^/m, slurp("$d/out")) : ();
            return 1 if @l >= $n;
            sleep 0.05;
        }
        return 0;
    };
    my $n = sub { my $e = expected(@src[0 .. $_[0]]); scalar(() = $e =~ /\n/g) };
    ok($wait_for->(1), '-f prints what qpsmtpd.log holds');
    # create: written just before the rename, then into the new file
    spew("$d/qpsmtpd.log", join('', @src[20 .. 29]), 1);
    rename "$d/qpsmtpd.log", "$d/qpsmtpd.log.1" or die;
    spew("$d/qpsmtpd.log", join('', @src[30 .. 39]));
    ok($wait_for->($n->(39)), '-f reads on in the new qpsmtpd.log after a create rotation');
    sleep 0.7;    # one more poll: nothing may come twice
    # copytruncate: copied away, emptied in place, written again
    my $before = -s "$d/qpsmtpd.log";
    spew("$d/qpsmtpd.log.1", slurp("$d/qpsmtpd.log"));
    truncate "$d/qpsmtpd.log", 0 or die;
    spew("$d/qpsmtpd.log", join('', @src[40 .. $#src]), 1);
    cmp_ok(-s "$d/qpsmtpd.log", '>=', $before, 'by the next poll the file is as long as before: its size cannot tell');
    ok($wait_for->($n->($#src)), '-f starts again at the top after copytruncate');
    sleep 0.7;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is(slurp("$d/out"), expected(@src), 'every line once, in order, across both rotations');
    is(slurp("$d/err"), '', 'no errors while following');
}

done_testing;
