#!/usr/bin/perl
# t/375-live-wal.t - the WAL of a store written live stays small on a quiet
# server: every qpsmtpd child opens the store as its only user, commits and
# closes. With one commit per connection (a client that connects and
# quits: its accept and its time) SQLite's checkpoints never started the
# WAL over, and every child read the whole of it back at its open. The
# store still equals the log of the same connections.
use strict;
use warnings;
use lib 't/lib', 'blib/lib', 'blib/arch';
use QpstatTest qw(qpstat_bin run_cmd tmpdir);
use Qpstat::Store;
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
my $tmp = tmpdir();

# 64 pages of 16 KiB (LIVE_WAL_PAGES in store/write.c) and the frames of
# one more commit; 300 connections without the fix left 20 MB
my $WAL_MAX = 2 * 1024 * 1024;
my $T0      = 1795000000;

sub wal_size { my ($db) = @_; return -s "$db-wal" // 0 }

sub tai64n { my ($t) = @_; my $s = int $t; sprintf '@40000000%08x%08x', $s, int(($t - $s) * 1e9) }

# One connection as the plugin writes it: the records of each commit, in
# one transaction of a handle opened for the connection alone.
sub connection {
    my ($db, $n, @commits) = @_;
    my $s = Qpstat::Store->open($db, create => 1, busy_ms => 1000);
    for my $lines (@commits) {
        $s->begin;
        $s->record_line($_->[0], time => $_->[1], source => 'plugin') for @$lines;
        $s->commit;
    }
    $s->close;
}

sub quiet_server {
    my ($name, $conns, $mail) = @_;
    my $db  = "$tmp/$name.db";
    my $log = "$tmp/$name.log";
    open my $fh, '>', $log or die "$log: $!";
    my $largest = 0;
    for my $c (1 .. $conns) {
        my $pid = 20000 + $c;
        my $t   = $T0 + $c;
        my @accept = (["$pid Accepted connection 1/40 from 192.0.2.$c / client$c.example", $t]);
        my @mail = $mail
          ? (["$pid (queue) logging::logterse: ` 192.0.2.$c\tclient$c.example\thelo.example\t<a\@sender.example>"
                  . "\t<b\@example.com>\tqueued\t\t<m$c\@sender.example>\tNo, score=-1.0 required=5.0", $t + 0.2],
             ["$pid 250 Queued! (by queue::maildir)", $t + 0.2])
          : ();
        my @end = (["$pid (post-connection) connection_time: 0.$c s.", $t + 0.5]);
        # the plugin's commits: with mail, the accept with the message and
        # the time alone; without, the accept and the time together
        connection($db, $c, $mail ? ([@accept, @mail], \@end) : ([@accept, @end]));
        print $fh tai64n($_->[1]), ' ', $_->[0], "\n" for @accept, @mail, @end;
        $largest = wal_size($db) if wal_size($db) > $largest;
    }
    close $fh;
    cmp_ok($largest, '<=', $WAL_MAX, "$name: the WAL never passed 2 MB ($largest bytes at most)");
    for my $by (qw(connections connection-time disposition)) {
        my ($from_log) = run_cmd([$Q, 'report', '--by', $by, '--format', 'csv', $log]);
        my ($from_db)  = run_cmd([$Q, 'report', '--db', $db, '--by', $by, '--format', 'csv']);
        is($from_db, $from_log, "$name: report --db = report of the log ($by)");
    }
    return $db;
}

quiet_server('no-mail', 300, 0);
quiet_server('one-message', 150, 1);

# a reader that stays open (qpstat serve) keeps the WAL from being emptied
# at a close; SQLite's own start-over at the next write then keeps it small
{
    my $db     = "$tmp/served.db";
    connection($db, 0, [["1 Accepted connection 1/40 from 192.0.2.1 / a.example", $T0]]);
    my $reader = Qpstat::Store->open($db);
    my $largest = 0;
    for my $c (1 .. 200) {
        my $t = $T0 + $c;
        connection($db, $c, [["$c Accepted connection 1/40 from 192.0.2.9 / b.example", $t],
            ["$c (post-connection) connection_time: 0.1 s.", $t + 0.1]]);
        $largest = wal_size($db) if wal_size($db) > $largest;
    }
    is($reader->aggregate->conn_stats->{accepted}, 201, 'the open reader sees every connection');
    $reader->close;
    cmp_ok($largest, '<=', $WAL_MAX, "with a reader open the WAL stays small too ($largest bytes at most)");
}

done_testing();
