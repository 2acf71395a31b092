#!/bin/sh
# bench/qpsmtpd-throughput.sh - what the qpstat plugin costs a running qpsmtpd.
#
# Messages per second through Debian's qpsmtpd 0.94 forkserver on loopback
# (-c 40, under `multilog t`, queue/maildir, rcpt_ok), MESSAGES messages sent
# by CLIENTS parallel client processes (PER_CONN messages per connection),
# with the statistics plugin of config/plugins being
#   none       no statistics plugin
#   logterse   the reference logging/logterse (t/data/qpsmtpd/plugins)
#   qpstat     plugins/qpstat without db (terse line only)
#   qpstat+db  plugins/qpstat db <tmp>/qpstat.db (terse line + store record)
# Prints a markdown table: wall time, messages/s, qpsmtpd CPU time per
# message (the forkserver's own and its reaped children's CPU, from
# /proc/PID/stat) and the cost relative to "none". Then the cost of one store
# record: RECORDS calls of Qpstat::Store::record_line (perl -Mblib), each
# committed at once as the plugin does, and the same inside one transaction;
# the records are 10 ms apart in time (a server of 100 messages/s). Last,
# a quiet server: QUIET_CONNECTIONS connections one after another, each
# opening the store as a qpsmtpd child does (the first to open it, as
# nobody else holds it open) and writing what the plugin writes for it.
#
# Needs what t/600 needs (sh scripts/deps.sh; perl Makefile.PL && make).
# Usage: [MESSAGES=1000] [CLIENTS=10] [PER_CONN=10] [RECORDS=10000] [ROUNDS=1] [QUIET_CONNECTIONS=1000]
#        sh bench/qpsmtpd-throughput.sh
# With ROUNDS > 1 the configurations are run in turn ROUNDS times and the
# best (fastest) round of each is reported.
set -eu
cd "$(dirname "$0")/.."
export MESSAGES="${MESSAGES:-1000}" CLIENTS="${CLIENTS:-10}" PER_CONN="${PER_CONN:-10}"
export RECORDS="${RECORDS:-10000}" ROUNDS="${ROUNDS:-1}"

exec perl -It/lib - <<'PERL'
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time);
use QpsmtpdHarness;

my ($N, $C, $P, $R, $ROUNDS) = @ENV{qw(MESSAGES CLIENTS PER_CONN RECORDS ROUNDS)};
$N % $C == 0 or die "MESSAGES ($N) must be a multiple of CLIENTS ($C)\n";
if (my @p = QpsmtpdHarness::prereq_problems()) { die "cannot run qpsmtpd:\n  " . join("\n  ", @p) . "\n" }
my ($have_plugin, $why) = QpsmtpdHarness::qpstat_plugin_status();
my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

my @modes = ('none', 'logterse');
push @modes, 'qpstat', 'qpstat+db' if $have_plugin;
warn "# plugins/qpstat not usable ($why): only none and logterse are measured\n" unless $have_plugin;

sub cpu_seconds {    # utime + stime + cutime + cstime of a process
    my ($pid) = @_;
    my $s = QpstatTest::slurp("/proc/$pid/stat", missing_ok => 1) // return;
    $s =~ s/^.*\) //s;    # after "(comm) "
    my @f = split ' ', $s;
    return ($f[11] + $f[12] + $f[13] + $f[14]) / $tck;    # fields 14-17
}

sub run_mode {
    my ($mode) = @_;
    my $h = QpsmtpdHarness->new(name => "bench-$mode", lifetime => 900);
    my $db = $h->tmp . '/qpstat.db';
    my $logger = { none => '', logterse => 'logging/logterse', qpstat => 'qpstat', 'qpstat+db' => "qpstat db $db" }->{$mode};
    $h->write_config(plugins => [grep { length } split /\n/,
        QpsmtpdHarness::template('plugins-610', LOGGER => $logger, MAILDIR => $h->maildir)]);
    $h->start(max_conn => 40, max_per_ip => 0);
    my $cpu0 = cpu_seconds($h->{qp_pid}) // 0;
    my $t0 = time;
    my @res = $h->run_children($C, 900, sub {
        $h->send_messages(messages => $N / $C, per_conn => $P, id => "bench.$mode.$_[0]", rcpt => 'bob@example.com');
    });
    my $wall = time - $t0;
    $h->wait_idle(30);
    my $cpu = (cpu_seconds($h->{qp_pid}) // 0) - $cpu0;
    my $sum = QpsmtpdHarness::sum_results(@res);
    $h->stop;
    my $terse = () = $h->log_text =~ /\((?:queue|deny)\) \S+: ` /g;
    my %r = (mode => $mode, wall => $wall, cpu => $cpu, ok => $sum->{ok}, terse => $terse);
    if ($mode eq 'qpstat+db') {
        my $rep = $h->qpstat('report', '--db', $db, '--by', 'disposition', '--format', 'csv');
        my $c = eval { QpsmtpdHarness::csv_counts($rep->{stdout}, 'disposition') } || {};
        $r{stored} = $c->{queued} // 0;
        # the connection facts the plugin records, against the log's own
        for my $src (['db', '--db', $db], ['log', $h->logdir]) {
            my ($tag, @from) = @$src;
            my %v;
            for my $dim ('connections', 'connection-time') {
                my $out = $h->qpstat('report', @from, '--by', $dim, '--format', 'csv')->{stdout} // '';
                $v{$1} = $2 while $out =~ /^([a-z_]+),([0-9.]+)\r?$/mg;
            }
            $r{"conn_$tag"} = $v{accepted} // 0;
            $r{"ct_$tag"}   = $v{count} // 0;
        }
    }
    warn "# $mode: $sum->{ok}/$N accepted" . ($sum->{ok} == $N ? '' : " ERRORS: @{$sum->{errors}}[0]") . "\n";
    return \%r;
}

my %best;
for my $round (1 .. $ROUNDS) {
    for my $mode (@modes) {
        my $r = run_mode($mode);
        $best{$mode} = $r if !$best{$mode} || $r->{wall} < $best{$mode}{wall};
    }
}

my $base = $best{none};
printf "## qpsmtpd 0.94 throughput on loopback: %d messages, %d clients, %d per connection%s\n\n",
    $N, $C, $P, $ROUNDS > 1 ? ", best of $ROUNDS rounds" : '';
my $lt = $best{logterse};
print "| configuration | accepted | terse lines | stored | seconds | messages/s | qpsmtpd CPU ms/msg | cost vs none (wall) | cost vs none (CPU) | vs logterse (messages/s) | vs logterse (CPU/msg) |\n";
print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
for my $mode (@modes) {
    my $r = $best{$mode};
    my ($rate, $cpu_msg) = ($r->{ok} / ($r->{wall} || 1), $r->{cpu} / ($r->{ok} || 1));
    my ($lt_rate, $lt_cpu) = ($lt->{ok} / ($lt->{wall} || 1), $lt->{cpu} / ($lt->{ok} || 1));
    printf "| %s | %d | %d | %s | %.2f | %.0f | %.2f | %.2fx | %.2fx | %+.1f%% | %+.1f%% |\n",
        $mode, $r->{ok}, $r->{terse}, $r->{stored} // '-', $r->{wall}, $rate,
        1000 * $cpu_msg, $r->{wall} / ($base->{wall} || 1), $r->{cpu} / ($base->{cpu} || 1),
        100 * ($rate / ($lt_rate || 1) - 1), 100 * ($cpu_msg / ($lt_cpu || 1) - 1);
}
if (my $r = $best{'qpstat+db'}) {
    printf "\nConnection facts in the store before any import (qpstat+db): %d accepted connections "
         . "(the log: %d), %d connection times (the log: %d).\n", @$r{qw(conn_db conn_log ct_db ct_log)};
}
if ($have_plugin) {
    my ($a, $b) = @best{'qpstat+db', 'qpstat'};
    printf "\nThe store costs %.2fx the wall time and %.2fx the CPU of the terse line alone "
         . "(%.2f ms of qpsmtpd CPU per message more).\n",
        $a->{wall} / ($b->{wall} || 1), $a->{cpu} / ($b->{cpu} || 1), 1000 * ($a->{cpu} - $b->{cpu}) / ($N || 1);
}

# ---- one store record
if ($have_plugin) {
    my $tmp = File::Temp::tempdir('qpstat-bench-store-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $code = <<'CODE';
use strict; use warnings; use Time::HiRes qw(time); use Qpstat::Store;
my ($db, $n, $batch) = @ARGV;
my $s = Qpstat::Store->open($db, create => 1, busy_ms => 200);
my $t0 = time;
$s->begin if $batch;
for my $i (1 .. $n) {
    my $line = sprintf "%d (queue) logging::logterse: ` 127.0.0.1\tUnknown\tclient.sender.example\t<alice\@sender.example>\t<bob\@example.com>\tqueued\t\t<bench.%d\@sender.example>\tNo, score=-1.0 required=5.0",
        10000 + $i % 30000, $i;
    # 10 ms apart, as on a server of 100 messages/s: a live record looks
    # for its logged twin among the rows of its 30 s window
    $s->record_line($line, time => 1795000000 + $i / 100, source => 'plugin') or die "record $i not added\n";
}
$s->commit if $batch;
printf "%.3f\n", 1e6 * (time - $t0) / $n;
CODE
    my @rows;
    for my $batch (0, 1) {
        my $r = QpsmtpdHarness::capture_cmd(900, { cwd => $QpsmtpdHarness::REPO },
            $^X, '-Mblib', '-e', $code, "$tmp/store$batch.db", $R, $batch);
        die "store benchmark failed: $r->{stderr}\n" if $r->{exit};
        push @rows, $r->{stdout} + 0;
    }
    print "\n## One store record (Qpstat::Store::record_line, perl -Mblib, $R records)\n\n";
    print "| mode | microseconds per record | records/s |\n|---|---:|---:|\n";
    printf "| each committed at once (as the plugin) | %.1f | %.0f |\n", $rows[0], 1e6 / ($rows[0] || 1);
    printf "| one transaction (begin/commit) | %.1f | %.0f |\n", $rows[1], 1e6 / ($rows[1] || 1);

    # ---- a quiet server: one connection after another, each child the
    # first process to open the store (nobody else holds it open), with
    # what the plugin writes for it: the accept with the first message,
    # each queued message with its queue's OK, the connection time
    my $conn_code = <<'CODE';
use strict; use warnings; use Qpstat::Store;
my ($db, $conns, $per) = @ARGV;
my $t = 1795000000;
my $work = sub {
    my ($c) = @_;
    my $pid = 20000 + $c % 30000;
    my $s = Qpstat::Store->open($db, create => 1, busy_ms => 1000, prefix => '`');
    for my $m (1 .. $per) {
        $t += 0.01;
        $s->begin;
        $s->record_line("$pid Accepted connection 3/40 from 127.0.0.1 / localhost", time => $t - 0.005, source => 'plugin')
            if $m == 1;
        $s->record_line("$pid (queue) logging::logterse: ` 127.0.0.1\tlocalhost\tclient.example\t<alice\@sender.example>"
              . "\t<bob\@example.com>\tqueued\t\t<bench.$c.$m\@sender.example>\tNo, score=-1.0 required=5.0",
            time => $t, source => 'plugin');
        $s->record_line("$pid 250 Queued! (by queue::maildir)", time => $t, source => 'plugin');
        $s->commit;
    }
    $s->record_line("$pid (post-connection) connection_time: 0.123 s.", time => $t, source => 'plugin');
    $s->close;
};
$work->($_) for 1 .. 200;    # a store in use: its WAL as a server leaves it
my @c0 = times;
$work->($_) for 201 .. 200 + $conns;
my @c1 = times;
printf "%.3f\n", 1000 * ($c1[0] - $c0[0] + $c1[1] - $c0[1]) / $conns;
CODE
    my $conns = $ENV{QUIET_CONNECTIONS} || 1000;
    print "\n## A quiet server: $conns connections one after another (perl -Mblib, CPU per connection)\n\n";
    print "| messages per connection | CPU ms per connection | CPU ms per message |\n|---:|---:|---:|\n";
    for my $per (1, 10) {
        my $r = QpsmtpdHarness::capture_cmd(900, { cwd => $QpsmtpdHarness::REPO },
            $^X, '-Mblib', '-e', $conn_code, "$tmp/quiet$per.db", $conns, $per);
        die "quiet-server benchmark failed: $r->{stderr}\n" if $r->{exit};
        printf "| %d | %.3f | %.3f |\n", $per, $r->{stdout}, $r->{stdout} / $per;
    }
}
PERL
