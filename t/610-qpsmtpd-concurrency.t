#!/usr/bin/perl
# t/610-qpsmtpd-concurrency.t - many parallel SMTP clients through Debian's
# qpsmtpd 0.94 with the qpstat plugin writing the store.
#
# Three phases, each with a fresh qpsmtpd-forkserver (-c 40) under multilog,
# config t/data/qpsmtpd/plugins-610 (rcpt_ok, the statistics plugin,
# queue/maildir), and 20 client processes sending 100 messages each (10 per
# connection: 2000 messages, 200 connections):
#
#   plain   every message is answered 250; the store shows exactly 2000
#           queued records at once (qpsmtpd still running); the log's terse
#           lines are 2000 queued records with exactly the Message-Ids sent;
#           `qpstat import` of the log adds nothing (still 2000).
#   locked  the same while another writer holds the store with
#           BEGIN EXCLUSIVE for 5 s (sqlite3, started once 200 messages are
#           in the log): every message is still answered 250; the store never
#           has more than 2000; after `qpstat import` it has exactly 2000
#           (recovered from the log, nothing doubled), and a second import
#           changes nothing.
#   importing  the same while `qpstat import` of the log runs every 0.1 s
#           (the log's copy and the plugin's copy of a record race): the
#           store has exactly 2000 at the end of the run, and after a final
#           import.
#
# Without plugins/qpstat (or Qpstat::Store) the phases run with the reference
# logging/logterse and only the log is checked; the store checks are skipped.
# QPSTAT_610_CLIENTS / QPSTAT_610_MESSAGES change the load (defaults 20/2000).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use QpsmtpdHarness;

$ENV{LC_ALL} = 'C';
my $T0 = time;
my $CLIENTS  = $ENV{QPSTAT_610_CLIENTS}  || 20;
my $MESSAGES = $ENV{QPSTAT_610_MESSAGES} || 2000;
my $PER_CONN = 10;
my $LOCK_S   = 5;
die "QPSTAT_610_MESSAGES must be a multiple of QPSTAT_610_CLIENTS\n" if $MESSAGES % $CLIENTS;

if (my @p = QpsmtpdHarness::prereq_problems()) {
    fail("prerequisites for running qpsmtpd (run sh scripts/deps.sh, then perl Makefile.PL && make)");
    diag($_) for @p;
    done_testing;
    exit;
}
QpsmtpdHarness::diag_slow_dns();
my ($have_plugin, $why) = QpsmtpdHarness::qpstat_plugin_status();
diag("store checks: " . ($have_plugin ? 'yes' : "skipped: $why"));
my $sqlite3 = QpsmtpdHarness::which('sqlite3');

for my $phase ('plain', 'locked', 'importing') {
    if ($phase eq 'locked' && !($have_plugin && $sqlite3)) {
        SKIP: { skip("locked-store phase: " . ($have_plugin ? 'sqlite3 not installed' : $why), 1) }
        next;
    }
    if ($phase eq 'importing' && !$have_plugin) {
        SKIP: { skip("importing phase: $why", 1) }
        next;
    }
    subtest "$phase: $CLIENTS clients, $MESSAGES messages" => sub {
        eval { run_phase($phase); 1 } or do { fail("$phase phase died: $@"); QpsmtpdHarness::stop_all() };
    };
}
diag(sprintf "t/610 took %.1f s", time - $T0);
done_testing;

sub counts {
    my ($r, $what) = @_;
    is($r->{exit}, 0, "$what: qpstat exits 0") or diag("$r->{stdout}$r->{stderr}");
    my $c = eval { QpsmtpdHarness::csv_counts($r->{stdout}, 'disposition') };
    return $c || { error => "$@ $r->{stdout}" };
}

sub run_phase {
    my ($phase) = @_;
    my $t0 = time;
    my $h = QpsmtpdHarness->new(name => "610-$phase", lifetime => 400);
    my $db = $h->tmp . '/qpstat.db';
    my $logger = $have_plugin ? "qpstat db $db" : 'logging/logterse';
    $h->write_config(plugins => [split /\n/, QpsmtpdHarness::template('plugins-610', LOGGER => $logger, MAILDIR => $h->maildir)]);
    $h->start(max_conn => 40, max_per_ip => 0);
    note("qpsmtpd: $h->{qp_cmd}; logger: $logger");

    my ($locker, $lockout, $importer, $impout);
    if ($phase eq 'locked') {
        ($locker, $lockout) = start_locker($h, $db);
    }
    if ($phase eq 'importing') {
        ($importer, $impout) = start_importer($h, $db);
    }
    my $ts = time;
    my @res = $h->run_children($CLIENTS, 240, sub {
        my ($i) = @_;
        return $h->send_messages(messages => $MESSAGES / $CLIENTS, per_conn => $PER_CONN,
            id => "610.$phase.$i", rcpt => 'bob@example.com', timeout => 60);
    });
    my $te = time;
    my $sum = QpsmtpdHarness::sum_results(@res);
    my %uniq = map { $_ => 1 } @{ $sum->{ids} };
    note(sprintf "%s: %d messages in %.1f s (%.0f/s), slowest message %d ms",
        $phase, $sum->{sent}, $te - $ts, $sum->{sent} / (($te - $ts) || 1), $sum->{max_ms});
    is($sum->{sent}, $MESSAGES, "$phase: $MESSAGES messages sent");
    is($sum->{ok}, $MESSAGES, "$phase: every message answered 250 after DATA");
    is($sum->{fail} + $sum->{conn_fail}, 0, "$phase: no refused message or connection")
        or diag(join "\n---\n", @{ $sum->{errors} }[0 .. ($#{ $sum->{errors} } < 2 ? $#{ $sum->{errors} } : 2)]);
    is(scalar keys %uniq, $MESSAGES, "$phase: $MESSAGES distinct Message-Ids accepted");

    if ($locker) {
        my $st = QpsmtpdHarness::wait_pid($locker, 60);
        is($st, 0, "$phase: the locking writer (sqlite3 BEGIN EXCLUSIVE) ran") or diag(QpstatTest::slurp($lockout, missing_ok => 1));
        my $out = QpstatTest::slurp($lockout, missing_ok => 1) // '';
        my ($ls) = $out =~ /^locked (\d+(?:\.\d+)?)/m;
        my ($le) = $out =~ /^unlocked (\d+(?:\.\d+)?)/m;
        ok($ls && $le && $le - $ls >= $LOCK_S - 0.5, "$phase: the store was held exclusively for ${LOCK_S} s")
            or diag("sqlite3 output:\n$out");
        if ($ls && $le) {
            # queued lines logged while the lock was held
            my $during = grep { my $t = label_time($_->{line}); $t >= $ls && $t <= $le } $h->terse_records;
            ok($during > 0, "$phase: messages were accepted while the store was locked ($during)");
            note(sprintf "lock held %.1f-%.1f s after the clients started; %d messages logged meanwhile",
                $ls - $ts, $le - $ts, $during);
        }
    }

    if ($importer) {
        QpsmtpdHarness::write_file($h->tmp . '/importer.stop', '');
        my $st = QpsmtpdHarness::wait_pid($importer, 60);
        my $out = QpstatTest::slurp($impout, missing_ok => 1) // '';
        my ($runs, $bad) = $out =~ /^runs=(\d+) failed=(\d+)/m;
        ok(defined $runs && $runs >= 2, "$phase: qpstat import ran while the clients were sending (" . ($runs // 0) . " times)")
            or diag($out);
        is($bad, 0, "$phase: every concurrent qpstat import exited 0") or diag($out);
    }
    ok($h->wait_idle(15), "$phase: every qpsmtpd child finished");
    my $missing = 0;
    if ($have_plugin) {
        my $live = counts($h->qpstat('report', '--db', $db, '--by', 'disposition', '--format', 'csv'), "$phase: report --db");
        if ($phase eq 'plain') {
            is_deeply($live, { queued => $MESSAGES }, "$phase: the store has exactly $MESSAGES queued records at once (no import)");
        }
        elsif ($phase eq 'importing') {
            is_deeply($live, { queued => $MESSAGES },
                "$phase: plugin records and concurrent imports together: exactly $MESSAGES queued records");
        }
        else {
            my @k = grep { $_ ne 'queued' } keys %$live;
            ok(!@k && ($live->{queued} // 0) <= $MESSAGES,
                "$phase: before import the store has only queued records, at most $MESSAGES")
                or diag(explain $live);
            $missing = $MESSAGES - ($live->{queued} // 0);
            note("$phase: the store had " . ($live->{queued} // 0) . " of $MESSAGES before the import");
        }
        # without the connection_time plugin, qpstat stores one connection time per connection itself
        my $ct = $h->qpstat('report', '--db', $db, '--by', 'connection-time', '--format', 'csv');
        my ($n) = $ct->{stdout} =~ /^count,(\d+)/m;
        my $conns = $MESSAGES / $PER_CONN;
        if ($phase ne 'locked') { is($n, $conns, "$phase: the store has one connection time per connection ($conns)") }
        else { ok(defined $n && $n <= $conns, "$phase: the store has at most $conns connection times") or diag($ct->{stdout}) }
        if ($phase ne 'locked') {
            # case 9: without connection_time, the plugin logs and records each connection's time, and
            # records each accept: the store's connection tables equal the log's before any import
            for my $by ('connections', 'connection-time') {
                my $sd = $h->qpstat('report', '--db', $db, '--by', $by, '--format', 'csv');
                my $sl = $h->qpstat('report', '--by', $by, '--format', 'csv', $h->logdir);
                is($sd->{stdout}, $sl->{stdout}, "$phase: --by $by of the store = of the log while qpsmtpd runs")
                    or diag("store:\n$sd->{stdout}log:\n$sl->{stdout}");
            }
        }
    }
    my $warnings = () = $h->log_text =~ /: cannot record into /g;
    if ($phase eq 'locked') {
        ok(!$missing || $warnings, "$phase: records missed while locked ($missing) were announced by warnings in the log ($warnings)");
        note("warning: " . ($h->log_text =~ /^\S+ \d+ (.*cannot record into.*)$/m)[0]) if $warnings;
    }
    elsif ($phase eq 'plain') {
        is($warnings, 0, "$phase: no 'cannot record' warning in the log");
    }
    else {    # an import holds the write lock for a batch: a record may give up after busy_ms
        note("$phase: $warnings 'cannot record' warnings (records left to the import)");
    }
    note(sprintf "stop took %.1f s", $h->stop);

    my @pp = $h->perl_problems;
    is(scalar @pp, 0, "$phase: no Perl warning or plugin error in the log") or diag(join "\n", @pp[0 .. ($#pp < 9 ? $#pp : 9)]);
    my $logdir = $h->logdir;
    my $log = counts($h->qpstat('report', '--format', 'csv', '--by', 'disposition', $logdir), "$phase: report <logdir>");
    is_deeply($log, { queued => $MESSAGES }, "$phase: the log has $MESSAGES queued records and nothing else");
    my @rec = $h->terse_records;
    is_deeply([sort map { $_->{text} } @rec], [sort map {"<$_>"} keys %uniq],
        "$phase: the log's terse lines carry exactly the accepted Message-Ids");

    if ($have_plugin) {
        for my $n (1, 2) {
            my $i = $h->qpstat('import', '--db', $db, $logdir);
            is($i->{exit}, 0, "$phase: qpstat import #$n exits 0") or diag("$i->{stdout}$i->{stderr}");
            my $c = counts($h->qpstat('report', '--db', $db, '--by', 'disposition', '--format', 'csv'), "$phase: report --db");
            is_deeply($c, { queued => $MESSAGES }, "$phase: after import #$n the store has exactly $MESSAGES (nothing doubled or lost)");
        }
        my $cl = $h->qpstat('report', '--by', 'connections', '--format', 'csv', $logdir);
        my $cd = $h->qpstat('report', '--db', $db, '--by', 'connections', '--format', 'csv');
        is($cd->{stdout}, $cl->{stdout}, "$phase: connections table of the store after import = the log's");
        like($cl->{stdout}, qr/^accepted,\Q${\($MESSAGES \/ $PER_CONN)}\E\r?$/m, "$phase: the log shows ${\($MESSAGES / $PER_CONN)} accepted connections");
    }
    note(sprintf "%s phase took %.1f s", $phase, time - $t0);
}

# Forks a process that, once the plugin has created the store, runs
# `qpstat import --db DB <logdir>` every 0.1 s (as a cron job would, but
# often) until <tmp>/importer.stop exists (at most
# 120 s); writes "runs=N failed=N" and the output of failed runs.
sub start_importer {
    my ($h, $db) = @_;
    my $out = $h->tmp . '/importer.out';
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my ($runs, $failed, $msg, $end) = (0, 0, '', time + 120);
        # the plugin (user qpsmtpd) creates the store: an import run as root
        # first would create a file the plugin cannot write
        QpsmtpdHarness::wait_until(20, sub { -s $db || -e $h->tmp . '/importer.stop' });
        until (-e $h->tmp . '/importer.stop' || time > $end) {
            my $r = $h->qpstat({ timeout => 60 }, 'import', '--db', $db, $h->logdir);
            $runs++;
            if ($r->{exit} != 0) { $failed++; $msg .= "exit $r->{exit}: $r->{stdout}$r->{stderr}\n" if length $msg < 4000 }
            sleep 0.1;
        }
        if (open my $fh, '>', $out) { print $fh "runs=$runs failed=$failed\n$msg"; close $fh }
        POSIX::_exit(0);
    }
    push @{ $h->{children} }, $pid;
    return ($pid, $out);
}

# A multilog label's time (unix seconds, fractional).
sub label_time {
    my ($line) = @_;
    my ($hex) = $line =~ /^@([0-9a-f]{24})/ or return 0;
    return hex(substr($hex, 8, 8)) - 10 + hex(substr($hex, 16, 8)) / 1e9
        + (hex(substr($hex, 0, 8)) - 0x40000000) * 4294967296;
}

# Forks a process that waits until 200 messages are in the log (at most
# 20 s), then holds the store with BEGIN EXCLUSIVE for $LOCK_S seconds
# through sqlite3, printing "locked T" and "unlocked T" (unix time).
sub start_locker {
    my ($h, $db) = @_;
    my $out = $h->tmp . '/locker.out';
    my $sql = $h->tmp . '/locker.sql';
    QpsmtpdHarness::write_file($sql, <<"SQL");
.timeout 30000
BEGIN EXCLUSIVE;
SELECT 'locked ' || ((julianday('now') - 2440587.5) * 86400.0);
.shell sleep $LOCK_S
SELECT 'unlocked ' || ((julianday('now') - 2440587.5) * 86400.0);
COMMIT;
SQL
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $end = time + 20;
        until (time > $end) {
            my $n = () = $h->log_text =~ /\(queue\) \S+: ` /g;
            last if $n >= 200;
            sleep 0.1;
        }
        open STDIN, '<', $sql or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec $sqlite3, $db or POSIX::_exit(127);
    }
    push @{ $h->{children} }, $pid;
    return ($pid, $out);
}
