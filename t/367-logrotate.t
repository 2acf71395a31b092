#!/usr/bin/perl
# t/367-logrotate.t - issue 14: `qpstat import` (from cron) and `qpstat
# collect` (running) over Debian's logging/file log, which logrotate rotates
# under them: `create` (the log renamed to .1, a new empty log) and
# `copytruncate` (the log copied to .1 and emptied in place), each with and
# without `delaycompress` (.1 stays plain until it becomes .2.gz, or is
# compressed to .1.gz at once). The log grows between the imports, one of
# them sees a line half written, and some rotations come before the door
# has read the end of the log: the rest must be read from .1 or .1.gz.
# At the end the store holds every record once: report --db = report over
# the rotated logs = report over the log as it was written, every table.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use QpstatTest qw(qpstat_bin run_cli run_cmd tmpdir slurp spew);
use ImportCheck qw(genlog same_reports stored);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
$ENV{TZ} = 'UTC';    # logging/file stamps are local time
my $tmp = tmpdir();

# Debian's logging/file lines, about 130 KB, cut into the parts written
# between the steps below
my $gen = genlog("$tmp", "$tmp/written.log", '--framing', 'logfile', '--connections', 160, '--seed', 14);
my @lines = split /^/m, slurp($gen);
my @cut = map { int($_ * @lines / 7) } 0 .. 7;
my @part = map { join '', @lines[$cut[$_] .. $cut[$_ + 1] - 1] } 0 .. 6;
my ($total) = stored_of_file($gen);
cmp_ok($total, '>', 100, "the written log holds $total transactions");

# Transactions in a log file, as report counts them.
sub stored_of_file {
    my ($file) = @_;
    my ($json) = run_cli('report', '--format', 'json', $file);
    return $json =~ /"transactions":(\d+)/ ? $1 : -1;
}

sub gzip_to {
    my ($from, $to) = @_;
    system("gzip -c '$from' > '$to'") == 0 or die "gzip $from failed\n";
    unlink $from or die "unlink $from: $!\n";
}

# One logrotate run over qpsmtpd.log with `rotate 9`, `compress` and the
# given method.
sub logrotate {
    my ($dir, $kind, $delay) = @_;
    my $log = "$dir/qpsmtpd.log";
    my @old = sort { $b <=> $a } map { /\.(\d+)(?:\.gz)?\z/ ? $1 : () } glob "$log.*";
    for my $i (@old) {
        my $to = "$log." . ($i + 1) . '.gz';
        if (-e "$log.$i.gz") { rename "$log.$i.gz", $to or die "rename: $!\n" }
        else                 { gzip_to("$log.$i", $to) }    # delaycompress: .1 compressed as it becomes .2
    }
    if ($kind eq 'copytruncate') {
        system('cp', $log, "$log.1") == 0 or die "cp failed\n";
        truncate $log, 0 or die "truncate: $!\n";
    } else {
        rename $log, "$log.1" or die "rename: $!\n";
        spew($log, '');
    }
    gzip_to("$log.1", "$log.1.gz") unless $delay;
}

# Waits until the store holds $n transactions (collect follows the log).
sub caught_up {
    my ($db, $n) = @_;
    my $got = -1;
    for (1 .. 400) {
        ($got) = stored($db);
        return 1 if $got == $n;
        sleep 0.05;
    }
    diag("the store holds $got transactions, not $n");
    return 0;
}

for my $kind ('create', 'copytruncate') {
    for my $delay (1, 0) {
        for my $door ('import', 'collect') {
            my $what = "$kind, " . ($delay ? 'delaycompress' : 'compress at once') . ", $door";
            (my $tag = $what) =~ s/\W+/-/g;
            my $dir = "$tmp/$tag";
            mkdir $dir or die;
            my $db  = "$tmp/$tag.db";
            my $log = "$dir/qpsmtpd.log";
            my $written = '';
            my $write = sub { my ($text) = @_; spew($log, $text, 1); $written .= $text };
            my $fed = sub {    # the transactions of the complete lines written so far
                (my $complete = $written) =~ s/[^\n]*\z//;
                spew("$tmp/so-far.log", $complete);
                return stored_of_file("$tmp/so-far.log");
            };
            my $collect;
            my $feed = sub {
                my ($wait) = @_;
                if ($door eq 'import') {
                    my (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, $dir]);
                    is($rc, 0, "$what: import exits 0") or diag($err);
                } elsif ($wait) {
                    ok(caught_up($db, $fed->()), "$what: collect follows the log");
                }
            };
            if ($door eq 'collect') {
                spew($log, '');
                $collect = fork // die "fork: $!";
                if (!$collect) {
                    open STDOUT, '>', '/dev/null';
                    open STDERR, '>', "$tmp/$tag.collect.err";
                    exec $Q, 'collect', '--db', $db, $dir or POSIX::_exit(127);
                }
            }

            $write->($part[0]);
            $feed->(1);
            # a line half written when the door reads
            my ($head, $tail) = $part[1] =~ /\A(.*\n[^\n]{10})(.*)\z/s or die;
            $write->($head);
            $feed->(1);
            $write->($tail);
            $feed->(1);
            logrotate($dir, $kind, $delay);    # the door had read it all
            $write->($part[2]);
            $feed->(1);
            $write->($part[3]);
            logrotate($dir, $kind, $delay);    # part 3 not read yet: it is in .1 (.1.gz)
            $write->($part[4]);
            $feed->(1);
            $write->($part[5]);
            logrotate($dir, $kind, $delay);    # part 5 in .1, part 4 in .2.gz now (or .1.gz and .2.gz)
            logrotate($dir, $kind, $delay);    # and once more, the log empty (no notifempty)
            $write->($part[6]);
            $feed->(1);
            if ($collect) {
                kill 'TERM', $collect;
                waitpid $collect, 0;
                is($? & 127, 0, "$what: collect stops on SIGTERM")
                    or diag(slurp("$tmp/$tag.collect.err", missing_ok => 1));
            }
            is($written, slurp($gen), "$what: the whole log was written");
            my ($tx) = stored($db);
            is($tx, $total, "$what: every transaction stored once (no gap, no double)");
            same_reports($db, [$dir], "$what: over the rotated logs");
            is((run_cli('report', '--format', 'json', $dir))[0], (run_cli('report', '--format', 'json', $gen))[0],
                "$what: and the rotated logs hold the log as written (every table)");
            my ($out, undef, $rc) = run_cmd([$Q, 'check', '--db', $db, $dir]);
            is($rc, 0, "$what: qpstat check finds nothing") or diag($out);
        }
    }
}

done_testing;
