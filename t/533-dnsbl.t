#!/usr/bin/perl
# t/533-dnsbl.t - `qpstat dnsbl-test` against a real DNS server: a
# Net::DNS::Nameserver started on 127.0.0.1 (a free high port) serving the
# test zone test.bl for t/data/tools/dnsbl.log. Checks a listed IPv4 sender,
# an unlisted one (whose sender address contains "127.0", which the seed's
# grep took for a listing), IPv6 in nibble form, an IPv4-mapped IPv6 sender,
# multi-string and multi-record TXT, the per-IP cache (from the server's
# query log), dnsbl denials left out, --all, --days, many IPs in parallel,
# and servers that never answer or do not exist: bounded time and exit 1.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $Q = qpstat_bin();
plan skip_all => 'no qpstat binary (build first or set QPSTAT)' unless $Q;
eval { require Net::DNS::Nameserver; 1 }
    or plan skip_all => 'Net::DNS::Nameserver missing (apt-get install libnet-dns-perl)';
$ENV{TZ} = 'UTC';
$ENV{LC_ALL} = 'C';
delete $ENV{QPSTAT_NOW};

my $LOG = 't/data/tools/dnsbl.log';
-e $LOG or BAIL_OUT("$LOG missing: run perl t/data/tools/make-tools-fixtures.pl");
my $TMP = tempdir(CLEANUP => 1);

# ---- the test zone ----------------------------------------------------------
sub nibbles {    # 2001:db8::1 -> 1.0.0.0....8.b.d.0.1.0.0.2
    my ($ip) = @_;
    require Socket;
    my $bin = Socket::inet_pton(Socket::AF_INET6(), $ip) // die "bad $ip";
    return join '.', reverse split //, unpack 'H*', $bin;
}
my %A = (
    '1.2.0.192'     => ['127.0.0.2'],
    nibbles('2001:db8::1') => ['127.0.0.4'],
    '9.100.51.198'  => ['127.255.255.254'],
    '5.113.0.203'   => ['127.0.0.3', '127.0.0.10'],
    '7.0.0.10'      => ['127.0.0.2'],
);
my %TXT = (
    '1.2.0.192'     => [['Listed: see https://bl.example/q?192.0.2.1']],
    nibbles('2001:db8::1') => [['IPv6 listed']],
    '9.100.51.198'  => [['query refused']],
    '5.113.0.203'   => [['part one, ', 'part two'], ["esc \e[31m red"]],
    '7.0.0.10'      => [['many']],
);

my $QLOG = "$TMP/queries.log";
sub reply {
    my ($qname, $qclass, $qtype) = @_;
    open my $fh, '>>', $QLOG or die;
    print {$fh} lc($qname) . " $qtype\n";
    close $fh;
    my ($key) = lc($qname) =~ /^(.*)\.test\.bl$/ or return ('REFUSED', [], [], [], {aa => 1});
    my @ans;
    if ($qtype eq 'A' && $A{$key}) {
        push @ans, Net::DNS::RR->new("$qname 60 IN A $_") for @{ $A{$key} };
    } elsif ($qtype eq 'TXT' && $TXT{$key}) {
        push @ans, Net::DNS::RR->new(name => $qname, ttl => 60, type => 'TXT', txtdata => $_) for @{ $TXT{$key} };
    }
    return ('NXDOMAIN', [], [], [], {aa => 1}) unless $A{$key};
    return ('NOERROR', \@ans, [], [], {aa => 1});
}

# A free port for UDP and TCP on 127.0.0.1.
sub free_port {
    for (1 .. 50) {
        my $u = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or next;
        my $port = $u->sockport;
        my $t = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 1)
            or next;
        return $port;
    }
    die 'no free port';
}

my (@children, $port);
END {
    my $status = $?;    # keep the test's exit status
    kill 'KILL', @children if @children;
    waitpid $_, 0 for @children;
    $? = $status;
}
for my $try (1 .. 5) {
    $port = free_port();
    pipe my $r, my $w or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        alarm 300;    # never outlives a stuck test run
        my $ns = eval {
            Net::DNS::Nameserver->new(LocalAddr => ['127.0.0.1'], LocalPort => $port, ReplyHandler => \&reply,
                Verbose => 0);
        };
        syswrite $w, $ns ? "ok\n" : "fail\n";
        close $w;
        POSIX::_exit(1) unless $ns;
        $ns->main_loop;
        POSIX::_exit(0);
    }
    close $w;
    my $line = <$r> // '';
    close $r;
    if ($line eq "ok\n") {
        push @children, $pid;
        last;
    }
    waitpid $pid, 0;
    undef $port;
}
BAIL_OUT('cannot start the test DNS server on 127.0.0.1') unless $port;

# Runs qpstat; (stdout, stderr, status, seconds); killed after 60 s (-1).
sub run {
    my (@args) = @_;
    return (run_cmd([$Q, @args], timeout => 60))[0 .. 3];
}

my @SERVER = ('--resolver', "127.0.0.1:$port", '--since', '2026-11-22');
my $L1 = "2026-11-22 08:00:00\tqueued\t192.0.2.1\t1.5\tFrom: news\@example.org\tTo: a\@example.com,b\@example.com\t"
    . "A: 127.0.0.2\tTXT: Listed: see https://bl.example/q?192.0.2.1\n";
my $L2 = "2026-11-22 08:01:00\tqueued\t192.0.2.2\t-1.0\tFrom: root\@127.0.0.1.example.net\tTo: a\@example.com\tA: \tTXT: \n";
my $L3 = "2026-11-22 08:02:00\tspamassassin\t2001:db8::1\t9.9\tFrom: x\@v6.example\tTo: a\@example.com\t"
    . "A: 127.0.0.4\tTXT: IPv6 listed\n";
my $L5 = "2026-11-22 08:04:00\tqueued\t198.51.100.9\t2.0\tFrom: y\@example.com\tTo: a\@example.com\t"
    . "A: 127.255.255.254\tTXT: query refused\n";
my $L6 = "2026-11-22 08:05:00\tcheck_earlytalker\t::ffff:192.0.2.1\t\tFrom: \tTo: \t"
    . "A: 127.0.0.2\tTXT: Listed: see https://bl.example/q?192.0.2.1\n";
my $L7 = "2026-11-22 08:06:00\tqueued\t203.0.113.5\t3.0\tFrom: 127.0.0.9\@example.com\tTo: a\@example.com\t"
    . "A: 127.0.0.3,127.0.0.10\tTXT: part one, part two | esc \\x1b[31m red\n";

# ---- listed, unlisted, IPv6, cache ------------------------------------------
unlink $QLOG;
my ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', @SERVER, $LOG);
is($rc, 0, 'dnsbl-test: exit 0') or diag $err;
is($out, $L1 . $L3 . $L6 . $L7,
    'listed senders in log order: IPv4, IPv6 (nibble form), IPv4-mapped, several A and TXT records; '
        . 'not the dnsbl denial, the unlisted sender with "127.0" in its address, the 127.255.255.254 refusal');
is($err, '', 'nothing on stderr');
my @q = split /\n/, slurp($QLOG);
is(scalar(grep { $_ eq '1.2.0.192.test.bl A' } @q), 1, 'the cache: 192.0.2.1 (three records, one ::ffff: form) asked once');
is(scalar(grep { $_ eq nibbles('2001:db8::1') . '.test.bl A' } @q), 1, 'IPv6 asked by its 32 reversed nibbles');
is(scalar(grep { / TXT$/ } @q), 4, 'TXT asked only for the names with an A record');
ok(!grep({ /^2\.2\.0\.192\.test\.bl TXT/ } @q), 'no TXT query for an unlisted IP');

($out, $err, $rc) = run('dnsbl-test', 'test.bl', @SERVER, '--all', $LOG);
is($out, $L1 . $L2 . $L3 . $L5 . $L6 . $L7, '--all: unlisted senders too (A: empty)');

($out, $err, $rc) = run('dnsbl-test', 'test.bl.', @SERVER, '--until', '2026-11-22 08:01', $LOG);
is($out, $L1, 'a trailing dot in the zone, and --until');
{
    local $ENV{QPSTAT_NOW} = 1795337340;    # 2026-11-22 08:49 UTC
    ($out) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$port", $LOG);
    is($out, $L1 . $L3 . $L6 . $L7, 'default: the last day (the 2026-11-20 record is left out)');
    ($out) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$port", '--days', '3', $LOG);
    like($out, qr/^2026-11-20 01:00:00\tqueued\t192\.0\.2\.1\t0\.5\tFrom: old\@example\.org/, '--days 3 takes it in');
}

# ---- many IPs, in parallel ------------------------------------------------------
{
    my $L = '@400000006b02a10a2a7c8c7c';
    my $log = '';
    for my $i (1 .. 400) {
        my $ip = '10.0.' . int($i / 250) . '.' . ($i % 250);
        $log .= "$L " . (30000 + $i) . " (queue) logging::logterse: ` $ip\tUnknown\th\t<s$i\@x.org>\t<r\@y.org>\tqueued\t\t<m>\tNo, score=0.0 required=5.0\n";
    }
    open my $fh, '>', "$TMP/many.log" or die;
    print {$fh} $log;
    close $fh;
    unlink $QLOG;
    ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', @SERVER, "$TMP/many.log");
    is($rc, 0, '400 distinct IPs: exit 0') or diag $err;
    is($out, "2026-11-22 08:00:00\tqueued\t10.0.0.7\t0.0\tFrom: s7\@x.org\tTo: r\@y.org\tA: 127.0.0.2\tTXT: many\n",
        '... the one listed is found');
    is(scalar(grep { / A$/ } split /\n/, slurp($QLOG)), 400, '... each asked once');
    cmp_ok($secs, '<', 30, "... in bounded time (${\ sprintf '%.1f', $secs} s)");
}

# ---- servers that do not answer -----------------------------------------------------
{
    # a UDP socket that receives and never replies
    my $mute = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0) or die;
    my $mport = $mute->sockport;
    ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$mport", '--timeout', '0.3',
        '--tries', '2', '--since', '2026-11-22', $LOG);
    is($rc, 1, 'a server that never answers: exit 1');
    like($err, qr/^qpstat dnsbl-test: lookup of \S+\.test\.bl failed: Timeout/m, '... a timeout message');
    like($err, qr/does not answer \(\d+ lookups failed, none answered\); giving up/, '... and it gives up');
    cmp_ok($secs, '<', 10, "... in bounded time (${\ sprintf '%.1f', $secs} s)");
    is($out, '', '... printing no guess');

    ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$mport", '--timeout', '0.3',
        '--all', '--since', '2026-11-22', $LOG);
    is($rc, 1, '--all with a mute server: exit 1');
    like($out, qr/\tA: error: [^\t]+\tTXT: \n/, '... the failed lookups are shown as errors');
    cmp_ok($secs, '<', 10, '... in bounded time');

    # the default timeout (2 s, 2 tries) with one IP: still bounded
    open my $fh, '>', "$TMP/one.log" or die;
    print {$fh} (grep { /21002 \(queue\)/ } split /^/m, slurp($LOG));
    close $fh;
    ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$mport", '--since', '2026-11-22',
        "$TMP/one.log");
    is($rc, 1, 'default timeouts: exit 1');
    like($err, qr/1 lookup failed/, '... counted');
    cmp_ok($secs, '<', 15, "... in bounded time (${\ sprintf '%.1f', $secs} s)");

    # nothing listens there at all
    close $mute;
    ($out, $err, $rc, $secs) = run('dnsbl-test', 'test.bl', '--resolver', "127.0.0.1:$mport", '--timeout', '0.3',
        '--since', '2026-11-22', $LOG);
    is($rc, 1, 'no server at all: exit 1');
    cmp_ok($secs, '<', 10, '... in bounded time');
}

# ---- usage -----------------------------------------------------------------------
($out, $err, $rc) = run('dnsbl-test');
is($rc, 2, 'no zone: exit 2');
($out, $err, $rc) = run('dnsbl-test', 'bad zone!', $LOG);
is($rc, 2, 'a bad zone name: exit 2');
($out, $err, $rc) = run('dnsbl-test', 'test.bl', '--resolver', 'not-an-address', $LOG);
is($rc, 2, 'a bad --resolver: exit 2');
like($err, qr/--resolver takes IP:PORT/, '... says what it takes');
($out, $err, $rc) = run('dnsbl-test', 'test.bl', '--server', "127.0.0.1:$port", $LOG);
is($rc, 2, '--server (the old name of --resolver): exit 2');
like($err, qr/^qpstat dnsbl-test: --server is now --resolver .*\nTry 'qpstat dnsbl-test --help'\.$/, '... naming the new one');
is($out, '', '... and nothing looked up');
($out, $err, $rc) = run('dnsbl-test', 'test.bl', '--timeout', '0', $LOG);
is($rc, 2, 'a bad --timeout: exit 2');
($out, $err, $rc) = run('dnsbl-test', 'test.bl', @SERVER, "$TMP/missing.log", $LOG);
is($rc, 1, 'a missing log: exit 1');
like($err, qr/cannot open \Q$TMP\E\/missing\.log: No such file/, '... with a clear message');
is($out, $L1 . $L3 . $L6 . $L7, '... the other logs are still tested');

done_testing;
