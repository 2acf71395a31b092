#!/usr/bin/perl
# t/365-schedules.t - one truth: whatever the doors do, and in whatever
# order, the store ends equal to the logs.
#
# Each schedule takes a generated log (a random dialect and framing) and
# plays it into a log directory while random operations run: the plugin's
# live records written before and after their lines, multilog rotations
# with `qpstat processor --db` (SIGKILLed at times, then retried as
# multilog retries), logrotate rotations (create and copytruncate,
# delaycompress), `qpstat import` in the foreground and several at once in
# the background, `qpstat collect` started and SIGKILLed, `qpstat check
# --fix`, and SIGKILL of any writer. At the end one more import runs; then
# `report --db` must equal `report` over the logs for every table (CSV),
# and `qpstat check` must find nothing.
#
# QPS_SCHEDULES (default 200) and QPS_SCHEDULE_SEED choose the runs;
# bench/schedules.sh runs many more.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp spew file_lines tmpdir);
use Cwd qw(abs_path);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

use Qpstat;
use Qpstat::Store;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = abs_path(qpstat_bin());
my $SCHEDULES = $ENV{QPS_SCHEDULES} || 200;
my $SEED = $ENV{QPS_SCHEDULE_SEED} // 1;
# QPS_SCHEDULE_KEEP=DIR keeps the runs' logs and stores there (a failed
# run's files, to look at)
my $tmp = $ENV{QPS_SCHEDULE_KEEP} ? do { mkdir $ENV{QPS_SCHEDULE_KEEP}; $ENV{QPS_SCHEDULE_KEEP} } : tmpdir();

my @TABLES = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
              'helo', 'score', 'spam', 'connections', 'connection-time');

system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');

# A generated log per dialect and framing, kept as lines.
my %LOG;
sub log_lines {
    my ($dialect, $framing, $seed) = @_;
    my $key = "$dialect-$framing-$seed";
    $LOG{$key} //= do {
        my $f = "$tmp/gen-$key.log";
        system("$tmp/genlog --dialect $dialect --framing $framing --connections 40 --seed $seed > $f") == 0
          or BAIL_OUT('genlog failed');
        [map { "$_\n" } file_lines($f)];
    };
    return $LOG{$key};
}

# What the plugin would have recorded for a logged line, or undef: the
# terse record and the queue plugin's acceptance, in the plugin's stderr form.
sub plugin_copy {
    my ($line) = @_;
    chomp(my $l = $line);
    my $rec = Qpstat::parse_line($l) or return;
    return unless $rec->{has_time} // defined $rec->{time};
    if ($rec->{kind} eq 'terse') {
        return ["$rec->{pid} (deny) logging::logterse: $rec->{message}", $rec->{time} + 0.004];
    }
    if ($rec->{kind} eq 'reply' && ($rec->{message} // '') =~ /\A250 Queued/) {
        return ["$rec->{pid} 250 Queued! (by queue/maildir)", $rec->{time} + 0.004];
    }
    return;
}

my %ops;    # operations run, by kind

# ---------------------------------------------------------------- doors
my %bg;     # pid => what runs in the background

sub spawn {
    my ($what, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', "$tmp/stderr.log";
        exec @cmd or POSIX::_exit(127);
    }
    $bg{$pid} = $what;
    return $pid;
}

sub reap {
    for my $pid (keys %bg) {
        delete $bg{$pid} if waitpid($pid, WNOHANG) == $pid;
    }
}

sub kill_all {
    kill 'KILL', keys %bg;
    waitpid($_, 0) for keys %bg;
    %bg = ();
}

# --------------------------------------------------------------- one run
sub schedule {
    my ($n) = @_;
    srand($SEED * 100_003 + $n);
    my $multilog = rand() < 0.6;
    my @dialects = ('093', '08x', '04x');
    my $dialect = $dialects[rand @dialects];
    my @framings = $multilog ? ('multilog') : ('logfile', 'syslog', 'tai64nlocal', 'multilog');
    my $framing = $framings[rand @framings];
    my $lines = log_lines($dialect, $framing, 1 + $n % 5);
    my $dir = "$tmp/s$n";
    mkdir $dir or die "mkdir $dir: $!";
    my $db = "$tmp/s$n.db";
    my $log = $multilog ? "$dir/current" : "$dir/qpsmtpd.log";
    spew($log, '');
    spew("$dir/state", '') if $multilog;    # as multilog makes it when it starts
    my ($cursor, $partial) = (0, '');    # lines written; a line cut in two
    my (%copied, @trace);
    my $plugin = Qpstat::Store->open($db, create => 1, busy_ms => 10_000);
    my $label = 0x69000000;              # multilog's names, in order
    my $rotations = 0;

    my $append = sub {
        my ($count, $may_cut) = @_;
        my $data = $partial;
        $partial = '';
        while ($count-- > 0 && $cursor < @$lines) {
            $data .= $lines->[$cursor++];
        }
        if ($may_cut && length $data > 10 && rand() < 0.3) {
            my $cut = 1 + int rand(length($data) - 1);
            $partial = substr($data, $cut);
            $data = substr($data, 0, $cut);
        }
        spew($log, $data, 1);
    };
    my $processor = sub {
        # multilog: current -> previous; the processor reads it on fd 0 and
        # writes processed (fd 1) and newstate (fd 5) from state (fd 4);
        # a processor that did not exit 0 runs again
        rename "$dir/current", "$dir/previous" or die "rename: $!";
        for (my $try = 0;; $try++) {
            my $pid = fork // die;
            if (!$pid) {
                open STDIN, '<', "$dir/previous" or POSIX::_exit(126);
                open STDOUT, '>', "$dir/processed" or POSIX::_exit(126);
                open STDERR, '>>', "$tmp/stderr.log";
                POSIX::close(4);
                POSIX::close(5);
                if (-e "$dir/state") {
                    open my $st, '<', "$dir/state" or POSIX::_exit(126);
                    POSIX::dup2(fileno $st, 4) if fileno $st != 4;
                }
                open my $ns, '>', "$dir/newstate" or POSIX::_exit(126);
                POSIX::dup2(fileno $ns, 5) if fileno $ns != 5;
                exec $Q, 'processor', '--db', $db or POSIX::_exit(127);
            }
            if ($try < 2 && rand() < 0.25) {
                sleep rand 0.05;
                kill 'KILL', $pid;
                $ops{'processor SIGKILLed'}++;
            }
            waitpid $pid, 0;
            last if $? == 0;
            $try < 20 or die "the processor never succeeded";
        }
        my $name = sprintf '@40000000%08x%08x.s', ++$label, 0;
        rename "$dir/processed", "$dir/$name" or die;
        rename "$dir/newstate", "$dir/state" or die;
        unlink "$dir/previous";
        spew("$dir/current", '');
    };
    my $logrotate = sub {
        my $copytruncate = rand() < 0.4;
        # qpsmtpd's logging/file (and syslog) write whole lines: a rotation
        # never falls inside one. With create the writer finishes its line
        # in the renamed file (its descriptor), after the rename; with
        # copytruncate the line was written before cp read the file.
        my $rest = $partial;
        $partial = '';
        spew($log, $rest, 1) if $copytruncate && $rest ne '';
        my @old = sort { $b <=> $a } map { /\.(\d+)(?:\.gz)?\z/ ? $1 : () } glob "$dir/qpsmtpd.log.*";
        for my $i (@old) {
            my $from = -e "$dir/qpsmtpd.log.$i.gz" ? "$dir/qpsmtpd.log.$i.gz" : "$dir/qpsmtpd.log.$i";
            my $to = "$dir/qpsmtpd.log." . ($i + 1) . '.gz';
            if ($from =~ /\.gz\z/) {
                rename $from, $to or die;
            } else {
                # delaycompress: .1 is compressed when it becomes .2
                system("gzip -c '$from' > '$to'") == 0 or die;
                unlink $from;
            }
        }
        if ($copytruncate) {
            system('cp', $log, "$log.1") == 0 or die;
            truncate $log, 0 or die;
        } else {
            rename $log, "$log.1" or die;
            spew($log, '');
            spew("$log.1", $rest, 1) if $rest ne '';
        }
        return $copytruncate ? 'copytruncate' : 'create';
    };

    my $steps = 8 + int rand 17;
    for my $step (1 .. $steps) {
        reap();
        my $r = rand 100;
        my $op;
        if ($r < 30) {
            $append->(1 + int rand 120, 1);
            $op = 'append';
        } elsif ($r < 45) {
            # the plugin: live records of lines around the writer, some
            # already in the log, some not yet
            my $lo = $cursor - 80 < 0 ? 0 : $cursor - 80;
            my $hi = $cursor + 40 > $#$lines ? $#$lines : $cursor + 40;
            for my $i ($lo .. $hi) {
                next if $copied{$i} || rand() < 0.4;
                my $copy = plugin_copy($lines->[$i]) or next;
                $copied{$i} = 1;
                $plugin->record_line($copy->[0], time => $copy->[1], source => 'plugin');
            }
            $op = 'plugin records';
        } elsif ($r < 55) {
            if ($multilog) {
                if ($partial ne '') { spew($log, $partial, 1); $partial = '' }
                $processor->();
                $op = 'multilog rotation + processor';
            } else {
                $op = 'logrotate ' . $logrotate->();
            }
            $rotations++;
        } elsif ($r < 67) {
            my (undef, undef, $st) = run_cmd([$Q, 'import', '--db', $db, $dir], timeout => 60);
            push @trace, "import exit $st" if $st != 0;
            $op = 'import';
        } elsif ($r < 75) {
            my $k = 1 + int rand 3;
            spawn('import', $Q, 'import', '--db', $db, $dir) for 1 .. $k;
            $op = 'imports at once';
            $ops{'concurrent importers'} += $k;
        } elsif ($r < 81) {
            spawn('collect', $Q, 'collect', '--db', $db, $dir);
            $op = 'collect started';
        } elsif ($r < 89) {
            my @pids = keys %bg;
            if (@pids) {
                my $pid = $pids[rand @pids];
                kill 'KILL', $pid;
                $op = "SIGKILL $bg{$pid}";
            } else {
                $op = 'wait';
                sleep 0.02;
            }
        } elsif ($r < 93) {
            run_cmd([$Q, 'check', '--fix', '--db', $db, $dir], timeout => 60);
            $op = 'check --fix';
        } else {
            sleep 0.01 + rand 0.08;
            $op = 'wait';
        }
        $ops{$op}++;
        push @trace, "$step: $op (cursor $cursor)";
    }
    # the end: writers stopped (killed), the log complete, one more import
    kill_all();
    $append->(scalar @$lines, 0);
    $plugin->close;
    my ($out, $err, $st) = run_cmd([$Q, 'import', '--db', $db, $dir], timeout => 120);
    my $what = "schedule $n ($dialect, $framing, " . ($multilog ? 'multilog' : 'logrotate')
      . ", $steps steps, $rotations rotations)";
    my $ok = is($st, 0, "$what: the last import succeeds") or diag($err);
    my @differ;
    for my $by (@TABLES) {
        my ($want) = run_cmd([$Q, 'report', '--format', 'csv', '--by', $by, $dir]);
        my ($got) = run_cmd([$Q, 'report', '--format', 'csv', '--by', $by, '--db', $db]);
        push @differ, "--by $by:\n--- logs\n$want--- store\n$got" if $got ne $want;
    }
    ok(!@differ, "$what: report --db = report over the logs, every table") or $ok = 0;
    my ($cout, $cerr, $cst) = run_cmd([$Q, 'check', '--db', $db, $dir], timeout => 60);
    is($cst, 0, "$what: qpstat check is clean") or ($ok = 0, diag($cout . $cerr));
    # QPS_SCHEDULE_TRACE=1 shows the operations of runs that pass too
    diag(join "\n", "QPS_SCHEDULE_ONLY=$n QPS_SCHEDULE_SEED=$SEED replays its operations:", @trace, @differ ? $differ[0] : ())
      if !$ok || $ENV{QPS_SCHEDULE_TRACE};
    $ops{schedules}++;
    return !@differ;
}

my $failed = 0;
my @runs = $ENV{QPS_SCHEDULE_ONLY} ? ($ENV{QPS_SCHEDULE_ONLY}) : (1 .. $SCHEDULES);
for my $n (@runs) {
    $failed++ unless schedule($n);
    last if $failed >= 5;    # enough to see what is wrong
}
my $total = 0;
$total += $ops{$_} for grep { $_ ne 'schedules' } keys %ops;
diag(sprintf '%d schedules, %d operations: %s', $ops{schedules} // 0, $total,
    join ', ', map {"$_ $ops{$_}"} grep { $_ ne 'schedules' } sort keys %ops);

done_testing;
