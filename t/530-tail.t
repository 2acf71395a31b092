#!/usr/bin/perl
# t/530-tail.t - `qpstat tail`: qplogtail's layout, joined by pid, in every
# dialect, and -f following current across a multilog rotation.
#
# Golden: t/data/tools/tail-094.expected is the output for the real 0.94 log
# t/data/multilog-094 (@*.s then current), checked line by line against the
# log by hand. The same log in the 0.8x and 0.4x dialects, through
# tai64nlocal and through syslog must give the same lines (the 0.8x/0.4x
# fixtures carry SME's old "hits=... required=..._" spam summary, which is
# turned back into "score=" before comparing). If the golden differs, the
# test leaves the output in t/data/tools/tail-094.got.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp spew);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use IO::Compress::Gzip qw(gzip $GzipError);

my $Q = qpstat_bin();
plan skip_all => 'no qpstat binary (build first or set QPSTAT)' unless $Q;
$ENV{TZ} = 'UTC';
$ENV{LC_ALL} = 'C';
delete $ENV{QPSTAT_NOW};    # (QpstatTest fixes one for the fixtures)

my $D = 't/data';
my $ML = "$D/multilog-094";
opendir my $dh, $ML or die "cannot read $ML: $!";
my ($OLD) = sort grep { /^\@[0-9a-f]{24}\.s$/ } readdir $dh;
closedir $dh;
my @LOG = ("$ML/$OLD", "$ML/current");

# Runs qpstat; returns (stdout, stderr, exit status, seconds). Killed after
# $timeout seconds (status -1), so no test can hang.
my $TMP = tempdir(CLEANUP => 1);
sub run {
    my ($args, %o) = @_;
    return (run_cmd([$Q, @$args], %o))[0 .. 3];
}

my $golden_path = "$D/tools/tail-094.expected";
my $golden = slurp($golden_path);
my @golden = split /^/m, $golden;

# ---- golden -------------------------------------------------------------
my ($out, $err, $rc) = run(['tail', '-n', 'all', @LOG]);
is($rc, 0, 'tail on the 0.94 log exits 0') or diag $err;
if (!is($out, $golden, 'tail on the 0.94 log matches t/data/tools/tail-094.expected')) {
    spew("$D/tools/tail-094.got", $out);
    diag "output left in $D/tools/tail-094.got";
}
is($err, '', 'nothing on stderr');

# the facts the golden encodes, spelled out
like($out, qr/^8873\t127\.0\.0\.1\t0\/3\n/m, 'accept: pid, IP, n/M');
like($out, qr/^8909\t127\.0\.0\.1\tspamassassin\tYes, score=1000\.0 required=5\.0\t<alice\@sender\.example>\t<bob\@example\.com>,<carol\@example\.com>\tspam score exceeded threshold\n/m,
    'logterse: disposition, spam summary, sender, recipients, text');
like($out, qr/^8976\t127\.0\.0\.1\t6\.012 sec\.\n/m, '0.94 connection_time (no IP in the line) gets the IP of its pid');
like($out, qr/^8982\t127\.0\.0\.4\t4\.012 sec\.\n/m, 'concurrent connections are joined by pid, not by order');
like($out, qr/^8801\t-\tToo many connections: 3 >= 3\n/m, 'the parent\'s Too many connections wait');
like($out, qr/^8801\t127\.0\.0\.1\thosts_allow\ttoo many connections: 3 > 2\n8801\t127\.0\.0\.1\thosts_allow\tmsg denied/m,
    'hosts_allow denial, and its logterse record gets the IP from it');
is(scalar(() = $out =~ /^8911\t/mg), 5, 'a connection with three records: accept, 3 records, time');
unlike($out, qr/^9263\t.*sec\./m, 'a timed-out connection has no connection_time');
unlike($out, qr/[\x00-\x08\x0b-\x1f\x7f]/, 'no control bytes in the output');

# ---- dialects and framings ------------------------------------------------
my %same = (
    'dialect-08x.log'     => 'qpsmtpd 0.80-0.84 prefixes',
    'dialect-04x.log'     => 'qpsmtpd 0.4x prefixes',
    'tai64nlocal-093.log' => 'tai64nlocal time stamps',
    'syslog-093.log'      => 'syslog/journald frames',
);
for my $f (sort keys %same) {
  SKIP: {
        skip "$D/$f missing (made by t/data/make-fixtures.pl)", 1 unless -e "$D/$f";
        ($out, $err, $rc) = run(['tail', '-n', 'all', "$D/$f"]);
        $out =~ s/\t(Yes|No), hits=(\S+) required=(\S+?)_\t/\t$1, score=$2 required=$3\t/g;
        is($out, $golden, "$same{$f} ($f): the same lines as the 0.94 log") or diag $err;
    }
}

# ---- paths, -n, stamps ----------------------------------------------------
($out) = run(['tail', '-n', 'all', $ML]);
is($out, join('', @golden[-3 .. -1]), 'a directory means its current');
($out) = run(['tail', @LOG]);
is($out, join('', @golden[-10 .. -1]), 'default: the last 10 lines, like tail(1)');
($out) = run(['tail', '-n', '2', @LOG]);
is($out, join('', @golden[-2 .. -1]), '-n 2');
($out, $err, $rc) = run(['tail', '-n', '0', @LOG]);
is("$rc:$out", '0:', '-n 0 prints nothing');
($out) = run(['tail', '-n', 'all', '-'], stdin => "$ML/current");
is($out, join('', @golden[-3 .. -1]), '- reads standard input');
my $gz = "$TMP/current.gz";
gzip("$ML/current" => $gz) or die $GzipError;
($out) = run(['tail', '-n', 'all', $gz]);
is($out, join('', @golden[-3 .. -1]), 'a gzip file is read by content');
($out) = run(['tail', '--label', '-n', '1', $ML]);
is($out, "\@400000006b0739a3147b7a14\t9534\t127.0.0.1\t1.014 sec.\n", '--label: the raw TAI64N label first');
($out) = run(['tail', '--local', '-n', '1', $ML]);
is($out, "2026-11-25 19:40:09.343636500\t9534\t127.0.0.1\t1.014 sec.\n", '--local: local time as tai64nlocal writes it (TZ=UTC)');
{
    local $ENV{TZ} = 'Asia/Kolkata';
    ($out) = run(['tail', '--local', '-n', '1', $ML]);
    is($out, "2026-11-26 01:10:09.343636500\t9534\t127.0.0.1\t1.014 sec.\n", '--local honours TZ (Asia/Kolkata)');
}

# ---- hostile input --------------------------------------------------------
my $L = '@400000006b0739a214240374';
spew("$TMP/evil.log", join('',
    "$L 7001 Accepted connection 0/40 from 192.0.2.9 / Unknown\n",
    "$L 7001 (deny) logging::logterse: ` 192.0.2.9\tUnknown\tx\t<a\e[2J\@b\x7f.example>\t\tspamassassin\t901\tbad\r\x01text\tmsg denied before queued\n",
    "$L junk without a pid \x00\x01\n",
    "$L 7001 (post-connection) connection_time: 0.500 s."));    # no final newline
($out, $err, $rc) = run(['tail', '-n', 'all', "$TMP/evil.log"]);
is($rc, 0, 'hostile log: exit 0');
is($out, "7001\t192.0.2.9\t0/40\n"
      . "7001\t192.0.2.9\tspamassassin\tmsg denied before queued\t<a\\x1b[2J\@b\\x7f.example>\t\tbad\\x0d\\x01text\n"
      . "7001\t192.0.2.9\t0.500 sec.\n",
    'control bytes are written as \\xNN, junk is skipped, a last line without newline counts');

# bounded memory: 70000 connections that never end; the oldest are dropped
# from the pid map (65536 kept), so their time line has no IP any more
{
    my $big = '';
    $big .= "$L " . (100000 + $_) . " Accepted connection 0/40 from 10.0.0.1 / Unknown\n" for 1 .. 70000;
    $big .= "$L 100001 (post-connection) connection_time: 1.000 s.\n";
    $big .= "$L 170000 (post-connection) connection_time: 2.000 s.\n";
    spew("$TMP/big.log", $big);
    my $secs;
    ($out, $err, $rc, $secs) = run(['tail', '-n', '2', "$TMP/big.log"], timeout => 60);
    is($out, "100001\t-\t1.000 sec.\n170000\t10.0.0.1\t2.000 sec.\n", '70000 open connections: the map is capped, oldest first');
    cmp_ok($secs, '<', 30, 'and it stays fast');
}

# ---- errors ----------------------------------------------------------------
($out, $err, $rc) = run(['tail', '-n', 'all', "$TMP/missing", "$ML/current"]);
is($rc, 1, 'a missing file: exit 1');
like($err, qr/^qpstat tail: cannot open \Q$TMP\E\/missing: No such file/m, '... with a clear message');
is($out, join('', @golden[-3 .. -1]), '... and the other files are still read');
($out, $err, $rc) = run(['tail', '-n', 'ten', $ML]);
is($rc, 2, 'bad -n: exit 2');
($out, $err, $rc) = run(['tail', '-f', $ML, $ML]);
is($rc, 2, '-f with two paths: exit 2');
($out, $err, $rc) = run(['tail', '-f', "$TMP/missing-dir/current"], timeout => 10);
is($rc, 1, '-f on a missing file: exit 1, no wait');
($out, $err, $rc) = run(['tail', '--bogus']);
is($rc, 2, 'unknown option: exit 2');

# ---- -f across a rotation ---------------------------------------------------
# multilog renames current to @label.s and starts a new current. Lines are
# written just before the rename, in the new file while tail sleeps, as a
# partial line completed later, and after a truncation (copytruncate).
{
    my @src = split /^/m, slurp($LOG[0]);
    my $dir = tempdir(CLEANUP => 1);
    spew("$dir/current", join('', @src[0 .. 29]));
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        exec $Q, 'tail', '-f', '-n', 'all', $dir or exit 127;
    }
    my $wait_for = sub {    # until the output has $n lines, at most 10 s
        my ($n) = @_;
        my $deadline = time + 10;
        while (time < $deadline) {
            my @l = -e "$dir/out" ? split(/^/m, slurp("$dir/out")) : ();
            return 1 if @l >= $n;
            sleep 0.05;
        }
        return 0;
    };
    ok($wait_for->(2), '-f prints what current holds');
    spew("$dir/current", join('', @src[30 .. 49]), 1);
    rename "$dir/current", "$dir/\@400000006b0739ff00000000.s" or die;    # right after the write
    spew("$dir/current", join('', @src[50 .. 59]));
    my ($head, $tail) = $src[60] =~ /^(.{20})(.*\n)\z/s or die;
    spew("$dir/current", $head, 1);    # half a line ...
    sleep 0.7;
    spew("$dir/current", $tail, 1);    # ... completed after a poll
    spew("$dir/current", join('', @src[61 .. 119]), 1);
    my $want = run_expected(@src[0 .. 119]);
    my $n1 = () = $want =~ /\n/g;
    ok($wait_for->($n1), '-f reads on in the new current');
    sleep 0.7;    # one more poll: nothing may come twice
    truncate "$dir/current", 0 or die;
    spew("$dir/current", join('', @src[120 .. 160]), 1);
    my $want2 = run_expected(@src[0 .. 160]);    # -f reads one stream
    my $n2 = () = $want2 =~ /\n/g;
    ok($wait_for->($n2), '-f starts again at the top of a truncated file');
    sleep 0.7;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is(slurp("$dir/out"), $want2, 'every line once, in order, across rotation and truncation');
    is(slurp("$dir/err"), '', 'no errors while following');
}

# ---- -f under the real multilog ---------------------------------------------
# A 4 KiB size limit and bursts of lines make multilog rotate several times
# between two polls, with and without a processor (whose output, a new
# file, becomes the @*.s archive while `previous` holds the input).
SKIP: {
    my ($ml) = grep { -x } map { "$_/multilog" } split /:/, $ENV{PATH};
    skip 'daemontools multilog not installed', 6 unless $ml;
    my @payload = map { s/^\S+ //r } split /^/m, slurp($LOG[0]);    # without labels: multilog adds them
    for my $proc (undef, '!cat', '!sleep 0.05; cat') {
        my $name = defined $proc ? "processor '$proc'" : 'no processor';
        my $dir = tempdir(CLEANUP => 1);
        my $log = "$dir/log";
        open my $w, '|-', $ml, 't', 's4096', 'n500', (defined $proc ? $proc : ()), $log or die "multilog: $!";
        select((select($w), $| = 1)[0]);
        print {$w} @payload[0 .. 9];
        my $deadline = time + 10;
        sleep 0.05 until -s "$log/current" || time > $deadline;
        my $pid = fork // die;
        if (!$pid) {
            open STDOUT, '>', "$dir/out" or die;
            open STDERR, '>', "$dir/err" or die;
            exec $Q, 'tail', '-f', '-n', 'all', $log or exit 127;
        }
        sleep 0.3;
        for my $burst (1 .. 4) {    # about 25 rotations in all
            print {$w} @payload[($burst == 1 ? 10 : 0) .. $#payload];
            sleep 0.35;
        }
        close $w;    # multilog ends at the end of its input
        opendir my $d, $log or die;
        my @old = sort grep { /^\@/ } readdir $d;
        closedir $d;
        my $f = "$TMP/all.in";
        spew($f, join '', map { slurp("$log/$_") } @old, 'current');
        my ($want) = run(['tail', '-n', 'all', $f]);
        my $n = () = $want =~ /\n/g;
        $deadline = time + 10;
        sleep 0.1 until (() = slurp("$dir/out") =~ /\n/g) >= $n || time > $deadline;
        sleep 0.6;    # one more poll: nothing may come twice
        kill 'TERM', $pid;
        waitpid $pid, 0;
        cmp_ok(scalar @old, '>', 10, "multilog, $name: it rotated " . scalar(@old) . ' times');
        is(slurp("$dir/out"), $want, "multilog, $name: every line once, in order") or diag slurp("$dir/err");
    }
}

# what tail prints for these lines read in one go
sub run_expected {
    my $f = "$TMP/expected.in";
    spew($f, join('', @_));
    my ($o) = run(['tail', '-n', 'all', $f]);
    return $o;
}

done_testing;
