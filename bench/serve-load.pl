#!/usr/bin/perl
# bench/serve-load.pl - `qpstat serve` under load: 20 parallel clients send
# 2,000 requests in all (the dashboard's API call, /metrics, the page) on
# loopback while a writer records transactions through the plugin's path
# (Qpstat::Store, source plugin) into the same store. Prints errors and
# latency percentiles. Run from the repository after `make`:
#   perl -Mblib bench/serve-load.pl [STORE-LOG]
# STORE-LOG (default t/data/multilog-094) is imported first.
use strict;
use warnings;
use lib 't/lib';
use Cwd qw(abs_path);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use Qpstat::Store;

my $Q = abs_path($ENV{QPSTAT} || 'csrc/qpstat');
my $log = shift // 't/data/multilog-094';
my ($CLIENTS, $REQUESTS) = (20, 2000);
my $tmp = tempdir(CLEANUP => 1);
my $db = "$tmp/load.db";
system($Q, 'import', '--db', $db, $log) == 0 or die "import failed\n";

my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $port = $s->sockport;
close $s;
my $server = fork // die;
if (!$server) {
    open STDERR, '>', "$tmp/serve.err";
    exec $Q, 'serve', '--db', $db, '--listen', "127.0.0.1:$port" or POSIX::_exit(127);
}
sleep 0.3 until -s "$tmp/serve.err";

# the plugin's writes, one transaction every 5 ms
my $writer = fork // die;
if (!$writer) {
    my $st = Qpstat::Store->open($db, busy_ms => 5000);
    my $n = 0;
    while (1) {
        $st->record_line("9$n (deny) logging::logterse: ` 192.0.2.1\thost\thelo.example\t<a\@b.example>\t<c\@d.example>\tqueued\t250\tQueued\t", time => time, source => 'plugin');
        $n++;
        sleep 0.005;
    }
}

my @paths = ('/api/report?by=disposition,dnsbl,disposition,tld,hour,day,score,spam,ip,helo,sender,recipient,connections,connection-time&days=7',
             '/metrics', '/');
my $t0 = time;
my @kids;
for my $c (0 .. $CLIENTS - 1) {
    my $pid = fork // die;
    if (!$pid) {
        my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
        open my $out, '>', "$tmp/client$c" or die;
        for my $i (0 .. $REQUESTS / $CLIENTS - 1) {
            my $p = $paths[($c + $i) % @paths];
            my $t = time;
            my $r = $http->get("http://127.0.0.1:$port$p");
            printf {$out} "%d %.6f\n", $r->{status}, time - $t;
        }
        close $out;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
my $wall = time - $t0;
kill 'KILL', $writer;
waitpid $writer, 0;
kill 'TERM', $server;
waitpid $server, 0;

my (@lat, $errors);
for my $c (0 .. $CLIENTS - 1) {
    open my $in, '<', "$tmp/client$c" or die;
    while (<$in>) {
        my ($st, $l) = split;
        $errors++ if $st != 200;
        push @lat, $l;
    }
}
@lat = sort { $a <=> $b } @lat;
my $pct = sub { $lat[int($_[0] * $#lat)] * 1000 };
printf "%d requests from %d clients in %.2f s (%.0f/s) while the plugin wrote: %d errors; "
     . "latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    scalar @lat, $CLIENTS, $wall, @lat / $wall, $errors // 0, $pct->(0.5), $pct->(0.9), $pct->(0.99), $lat[-1] * 1000;
