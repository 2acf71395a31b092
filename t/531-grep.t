#!/usr/bin/perl
# t/531-grep.t - `qpstat grep`: the seed's qploggrep examples on a multilog
# directory with an @*.s, an @*.u (crash) and current
# (t/data/tools/multilog-grep, made by make-tools-fixtures.pl): an address,
# spamassassin, dnsbl, connection_time, "/40 ", a TLD ".xyz>", "."; then
# case rules, -E, --local (against daemontools' tai64nlocal), time options,
# .gz and logrotate directories, and bad input.
#
# The expected events below were checked by hand against the fixture lines.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp spew);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use IO::Compress::Gzip qw(gzip $GzipError);

my $Q = qpstat_bin();
plan skip_all => 'no qpstat binary (build first or set QPSTAT)' unless $Q;
$ENV{TZ} = 'UTC';
$ENV{LC_ALL} = 'C';
delete $ENV{QPSTAT_NOW};

my $DIR = 't/data/tools/multilog-grep';
-d $DIR or BAIL_OUT("$DIR missing: run perl t/data/tools/make-tools-fixtures.pl");
opendir my $dh, $DIR or die;
my ($S) = grep { /\.s$/ } readdir $dh;
rewinddir $dh;
my ($U) = grep { /\.u$/ } readdir $dh;
closedir $dh;

my $TMP = tempdir(CLEANUP => 1);
chmod 0755, $TMP;
# Runs qpstat (optionally as another user); (stdout, stderr, status). Killed
# after 30 s (status -1).
sub run {
    my ($args, %o) = @_;
    return (run_cmd([$Q, @$args], %o))[0 .. 2];
}

sub grep_events {    # the output without the stamp column
    my ($out) = @_;
    return join '', map { s/^[^\t]*\t//r } split /^/m, $out;
}

my %EV = (
    20001 => "20001\t198.51.100.7\t3/40\n"
        . "20001\t198.51.100.7\tqueued\tNo, score=-0.4 required=5.0\t<User\@Domain.TLD>\t<alice\@example.com>,<bob\@example.com>\t<abc.1\@domain.tld>\n"
        . "20001\t198.51.100.7\t2.500 sec.\n",
    20002 => "20002\t203.0.113.50\t0/40\n"
        . "20002\t203.0.113.50\tdnsbl\tmsg denied before queued\t\t\tBlocked - see http://www.spamcop.net/bl.shtml?203.0.113.50\n"
        . "20002\t203.0.113.50\t0.300 sec.\n",
    20003 => "20003\t192.0.2.77\t39/40\n"
        . "20003\t192.0.2.77\tspamassassin\tYes, score=14.2 required=5.0\t<promo\@deals.xyz>\t<user\@domain.tld>\tspam score exceeded threshold\n"
        . "20003\t192.0.2.77\t5.100 sec.\n",
    too_many => "19990\t-\tToo many connections: 40 >= 40\n",
    20004 => "20004\t192.0.2.88\t1/40\n"
        . "20004\t192.0.2.88\tqueued\tNo, score=1.1 required=5.0\t<a\@b.xyz.com>\t<carol\@example.com>\t<q.4\@b.xyz.com>\n"
        . "20004\t192.0.2.88\t1.100 sec.\n",
    20005 => "20005\t192.0.2.99\t2/40\n"
        . "20005\t192.0.2.99\tbadmailfrom\tmsg denied before queued\t\t\tYour envelope sender is in my badmailfrom list\n"
        . "20005\t192.0.2.99\t0.900 sec.\n",
    hosts_allow => "19990\t192.0.2.66\thosts_allow\ttoo many connections: 6 > 5\n"
        . "19990\t192.0.2.66\thosts_allow\tmsg denied before queued\t\t\ttoo many connections from 192.0.2.66, try again later\n",
    20006 => "20006\t2001:db8::25\t0/40\n"
        . "20006\t2001:db8::25\tqueued\tNo, score=0.2 required=5.0\t<ops\@v6.example>\t<user\@domain.tld>\t<v6.1\@v6.example>\n"
        . "20006\t2001:db8::25\t12.250 sec.\n",
);
my @ORDER = (20001, 20002, 20003, 'too_many', 20004, 20005, 'hosts_allow', 20006);
sub ev { join '', map { $EV{$_} } @_ }

my ($out, $err, $rc);

# ---- the seed's examples ------------------------------------------------
($out, $err, $rc) = run(['grep', 'user@domain.tld', $DIR]);
is($rc, 0, 'grep user@domain.tld: exit 0') or diag $err;
is(grep_events($out), ev(20001, 20003, 20006),
    'an address: every connection that names it (any case), whole, from .s, .u and current');
like($out, qr/^\@4000000[0-9a-f]{17}\t20001\t/, 'each line starts with the raw TAI64N label');

($out) = run(['grep', 'spamassassin', $DIR]);
is(grep_events($out), ev(20001, 20003), 'spamassassin: the connections where it ran');
my @denied = grep { /user\@domain\.tld/ } split /^/m, grep_events($out);
is(join('', @denied), (split /^/m, $EV{20003})[1], '| grep user@domain.tld: the spamassassin denial of mail to that user');

($out) = run(['grep', 'dnsbl', $DIR]);
is(grep_events($out), ev(20002), 'dnsbl: the connection dnsbl denied');

($out) = run(['grep', '--lines', 'connection_time', $DIR]);
sub col4 { ((split /\t/, $_[0])[3] // '') =~ /^([0-9.]+)/ ? $1 : -1 }
my @times = sort { col4($a) <=> col4($b) } split /^/m, $out;
is(join('', map { s/^[^\t]*\t//r } @times),
    join('', map { (split /^/m, $EV{$_})[-1] } 20002, 20005, 20004, 20001, 20003, 20006),
    '--lines connection_time | sort -t"\t" -k4 -n: the connection times, sorted');

($out) = run(['grep', '--lines', '/40 ', $DIR]);
my @accepts = sort { col4($a) <=> col4($b) or $a cmp $b } split /^/m, $out;
is(join('', map { (split /\t/)[3] } @accepts), "0/40\n0/40\n1/40\n2/40\n3/40\n39/40\n",
    '--lines "/40 " | sort -k4 -n: the n/40 lines by concurrency (not the "40 >= 40" wait)');

($out) = run(['grep', '.xyz>', $DIR]);
is(grep_events($out), ev(20003, 20005),
    '.xyz>: senders in .xyz, also one denied at MAIL FROM (found in its dispatch line) whose connection spans .u and current; not b.xyz.com');
my @tld = grep { (split /\t/) >= 8 } split /^/m, $out;
is(scalar @tld, 2, 'the TLD one-liner: awk -F"\t" "NF >= 8" keeps the disposition lines');

($out) = run(['grep', '.', $DIR]);
is(grep_events($out), ev(@ORDER), '.: everything, in log order');
my ($tail_out) = run(['tail', '-n', 'all', "$DIR/$S", "$DIR/$U", "$DIR/current"]);
is(grep_events($out), $tail_out, '... the same events as qpstat tail');

# ---- pattern rules --------------------------------------------------------
($out) = run(['grep', 'USER@DOMAIN.TLD', $DIR]);
is(grep_events($out), ev(20001, 20003, 20006), 'case-insensitive by default');
($out) = run(['grep', '-i', 'USER@DOMAIN.TLD', $DIR]);
is(grep_events($out), ev(20001, 20003, 20006), '-i is accepted');
($out) = run(['grep', '-I', 'User@Domain.TLD', $DIR]);
is(grep_events($out), ev(20001), '-I: case-sensitive');
($out) = run(['grep', '4000000', $DIR]);
is($out, '', 'the time stamp is not searched');
($out) = run(['grep', '-E', 'score=1[0-9]\.', $DIR]);
is(grep_events($out), ev(20003), '-E: a POSIX extended regular expression');
($out) = run(['grep', '-E', 'DEALS\.XYZ>$', $DIR]);
is(grep_events($out), ev(20003), '-E is case-insensitive too, anchors work per line');
($out) = run(['grep', 'evil', $DIR]);
is(grep_events($out), ev(20006), 'a match in a line with an ESC byte');
unlike($out, qr/\e/, 'no raw ESC in the output');

# ---- --local: what `qploggrep x | tai64nlocal` gave ------------------------
for my $tz ('UTC', 'Europe/Berlin', 'America/New_York') {
    local $ENV{TZ} = $tz;
    ($out) = run(['grep', '--local', 'user@domain.tld', $DIR]);
    like($out, qr/^2026-11-2\d \d\d:\d\d:\d\d\.\d{9}\t20001\t/, "--local ($tz): tai64nlocal's time layout");
  SKIP: {
        skip 'daemontools tai64nlocal not installed', 1 unless grep { -x "$_/tai64nlocal" } split /:/, $ENV{PATH};
        my ($raw) = run(['grep', 'user@domain.tld', $DIR]);
        spew("$TMP/raw", $raw);
        my $via = `tai64nlocal < $TMP/raw`;
        is($out, $via, "--local ($tz) = grep | tai64nlocal, byte for byte");
    }
}
($out) = run(['grep', 'user@domain.tld', $DIR]);
spew("$TMP/raw", $out);
my ($conv) = run(['tai64n'], stdin => "$TMP/raw");
my ($local) = run(['grep', '--local', 'user@domain.tld', $DIR]);
is($conv, $local, 'grep | qpstat tai64n = grep --local');

# ---- time options ---------------------------------------------------------
($out) = run(['grep', '--until', '2026-11-20', '.', $DIR]);
is(grep_events($out), ev(20001, 20002), '--until 2026-11-20 (a date includes its day)');
($out) = run(['grep', '--since', '2026-11-21 10:00:30', '--until', '2026-11-21 12:00', '.', $DIR]);
is(grep_events($out), ev('too_many', 20004) . (split /^/m, $EV{20005})[0], '--since/--until with times');
{
    local $ENV{QPSTAT_NOW} = 1795262400;    # 2026-11-21 12:00 UTC
    ($out) = run(['grep', '--today', 'xyz', $DIR]);
    is(grep_events($out), ev(20003, 20004) . (split /^/m, $EV{20005})[0], '--today (QPSTAT_NOW)');
    ($out) = run(['grep', '--yesterday', 'xyz', $DIR]);
    is($out, '', '--yesterday');
    ($out) = run(['grep', '--days', '2', 'dnsbl', $DIR]);
    is(grep_events($out), ev(20002), '--days 2');
    ($out, $err, $rc) = run(['grep', '--today', '--days', '2', 'x', $DIR]);
    is($rc, 2, '--today with --days: exit 2');
}
{
    # with --since, old logs closed before it are not even opened
    my $d = tempdir(CLEANUP => 1);
    copy("$DIR/$_", "$d/$_") or die for $S, $U, 'current';
    spew("$d/$S", "\x1f\x8b\x08\x00corrupt gzip");
    ($out, $err, $rc) = run(['grep', '.', $d]);
    is($rc, 1, 'a corrupt .s file: exit 1') or diag $err;
    like($err, qr/^qpstat grep: cannot read .*\Q$S\E/m, '... naming the file');
    ($out, $err, $rc) = run(['grep', '--since', '2026-11-21', '.', $d]);
    is("$rc$err", '0', '--since skips @*.s files labelled (closed) before it');
    is(grep_events($out), ev(20003, 'too_many', 20004, 20005, 'hosts_allow', 20006), '... and reads the rest');
}

# ---- .gz and logrotate directories -------------------------------------------
{
    my $d = tempdir(CLEANUP => 1);
    gzip("$DIR/$S" => "$d/qpsmtpd.log.2.gz") or die $GzipError;
    copy("$DIR/$U", "$d/qpsmtpd.log.1") or die;
    copy("$DIR/current", "$d/qpsmtpd.log") or die;
    ($out, $err, $rc) = run(['grep', '.', $d]);
    is(grep_events($out), ev(@ORDER), 'logrotate directory with .gz: the same events') or diag $err;
    my $m = tempdir(CLEANUP => 1);
    gzip("$DIR/$S" => "$m/$S") or die $GzipError;    # a processor that compresses
    copy("$DIR/$U", "$m/$U") or die;
    copy("$DIR/current", "$m/current") or die;
    ($out) = run(['grep', 'dnsbl', $m]);
    is(grep_events($out), ev(20002), 'a gzip-compressed @*.s file is read by content');
    ($out) = run(['grep', 'dnsbl', '-'], stdin => "$DIR/$S");
    is(grep_events($out), ev(20002), '- reads standard input');
}

# ---- bad input ------------------------------------------------------------------
($out, $err, $rc) = run(['grep', 'dnsbl', "$TMP/nope", $DIR]);
is($rc, 1, 'a missing file: exit 1');
like($err, qr/^qpstat grep: cannot open \Q$TMP\E\/nope: No such file or directory$/m, '... with a clear message');
is(grep_events($out), ev(20002), '... and the other logs are still searched');
($out, $err, $rc) = run(['grep', '-E', 'a(', $DIR]);
is($rc, 2, 'a bad regular expression: exit 2');
like($err, qr/bad regular expression 'a\(':/, '... with the regcomp message');
($out, $err, $rc) = run(['grep']);
is($rc, 2, 'no pattern: exit 2');
($out, $err, $rc) = run(['grep', '', $DIR]);
is($rc, 2, 'an empty pattern: exit 2');
like($err, qr/PATTERN is empty/, '... says so');
($out, $err, $rc) = run(['grep', '--since', 'yesterday', 'x', $DIR]);
is($rc, 2, 'a bad --since: exit 2');
($out, $err, $rc) = run(['grep', '--frobnicate', 'x', $DIR]);
is($rc, 2, 'an unknown option: exit 2');
SKIP: {
    skip 'needs root to run as nobody', 3 unless $> == 0;
    my $uid = getpwnam('nobody');
    skip 'no user nobody', 3 unless defined $uid;
    my $d = tempdir(CLEANUP => 1);
    chmod 0755, $d;
    copy("$DIR/current", "$d/current") or die;
    copy("$DIR/$S", "$d/$S") or die;
    chmod 0644, "$d/current";
    chmod 0000, "$d/$S";
    my $q = $Q =~ m{^/} ? $Q : "./$Q";
    skip "$Q not runnable by nobody", 3 unless (stat $q)[2] & 01;
    ($out, $err, $rc) = run(['grep', 'xyz', $d], uid => $uid);
    is($rc, 1, 'an unreadable file: exit 1');
    like($err, qr/^qpstat grep: cannot open .*\Q$S\E: Permission denied$/m, '... with a clear message');
    is(grep_events($out), join('', (split /^/m, $EV{20005})[1, 2]), '... the readable files are still searched');
}
{
    # junk, NUL bytes and an over-long line do not stop the search
    my $L = '@400000006b0739a214240374';
    spew("$TMP/junk.log", "\x00\x01\x02 junk\n" . ('x' x 70000) . "\n$L 9 Accepted connection 0/40 from 192.0.2.5 / x\n"
        . "$L 9 (post-connection) connection_time: 1.000 s.");
    ($out, $err, $rc) = run(['grep', '192.0.2.5', "$TMP/junk.log"]);
    is($rc, 0, 'junk lines: exit 0');
    is(grep_events($out), "9\t192.0.2.5\t0/40\n9\t192.0.2.5\t1.000 sec.\n", '... and the good lines are found');
}

{
    # bounded memory: 70000 connections that never end, each holding its
    # output; past the joiner's budget (65536 connections) the oldest are
    # printed early, whole: every event once, none lost, and grep says so
    my $L = '@400000006b0739a214240374';
    my $big = '';
    for my $i (1 .. 70000) {
        my $pid = 100000 + $i;
        $big .= "$L $pid Accepted connection 0/40 from 10.1.@{[$i >> 8]}.@{[$i & 255]} / x\n"
            . "$L $pid (deny) logging::logterse: ` 10.1.@{[$i >> 8]}.@{[$i & 255]}\tx\tx\t<a$i\@b.example>\t"
            . "<c\@d.example>\tdnsbl\t550\tno\t\n";
    }
    spew("$TMP/never-ending.log", $big);
    ($out, $err, $rc) = run(['grep', 'b.example', "$TMP/never-ending.log"], timeout => 120);
    is($rc, 0, 'never-ending connections: exit 0');
    my @lines = split /\n/, $out;
    is(scalar(@lines), 140000, '... every event printed once');
    my %per_pid;
    $per_pid{(split /\t/)[1]}++ for @lines;
    is(scalar(grep { $_ == 2 } values %per_pid), 70000, '... each connection whole (accept and record)');
    like($lines[0], qr/^\Q$L\E\t100001\t10\.1\.0\.1\t0\/40$/, '... the oldest first, ended early');
    like($err, qr/^qpstat grep: 4464 connections did not end within the memory budget/m, '... and it says so');
}

done_testing;
