#!/usr/bin/perl
# t/335-store-batches.t - the store against the logs, whatever the batches.
#
# An import keeps rows back within a batch: an accept waits for its
# connection time, a queued record for its queue's reply, rows gather for a
# multi-row INSERT. A commit can fall anywhere, and the plugin's live copies
# (written before the log is imported, or late, after it) must pair with
# them. This test feeds a generated log through Qpstat::Store in batches cut
# at random, with and without plugin copies of records and facts, and checks
# that every table and time window reported from the store equals the
# report over the log.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(run_cli qpstat_bin file_lines tmpdir);

use Qpstat;
use Qpstat::Store;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
$ENV{TZ} = 'UTC';

my $tmp = tmpdir();
system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');

my @DIMS = ('disposition', 'disposition,tld', 'connections', 'connection-time', 'hour', 'score', 'ip');

# Windows of the log's first hours: some cut connections in two.
sub windows {
    my ($log) = @_;
    my $first = Qpstat::parse_line((file_lines($log))[0])->{time};
    my @w;
    for my $i (0 .. 5) {
        my $since = int($first) + 600 * $i + 17 * $i * $i;
        push @w, [$since, $since + 97 + 331 * $i];
    }
    return @w;
}

sub iso { my @t = gmtime shift; sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0] }

sub same_reports {
    my ($db, $log, $label) = @_;
    my @differ;
    for my $by (@DIMS) {
        my ($want) = run_cli('report', '--format', 'csv', '--by', $by, $log);
        my ($got) = run_cli('report', '--format', 'csv', '--by', $by, '--db', $db);
        push @differ, "--by $by" if $got ne $want;
    }
    for my $w (windows($log)) {
        my @sel = ('--since', iso($w->[0]), '--until', iso($w->[1]));
        for my $by ('connections', 'connection-time', 'disposition') {
            my ($want) = run_cli('report', '--format', 'csv', '--by', $by, @sel, $log);
            my ($got) = run_cli('report', '--format', 'csv', '--by', $by, @sel, '--db', $db);
            push @differ, "--by $by @sel" if $got ne $want;
        }
    }
    is_deeply(\@differ, [], "$label: every table and window from the store = from the log");
}

# The plugin's copy of a logged line: what qpsmtpd printed (no label), and
# its time. The plugin notes the queue's acceptance in its own words.
sub plugin_copy {
    my ($line, $rec) = @_;
    (my $copy = $line) =~ s/\A\@[0-9a-f]{24} //;
    $copy = "$rec->{pid} 250 Queued! (by queue/maildir)" if $rec->{kind} eq 'reply';
    return [$copy, $rec->{time} + 0.004];
}

for my $round (1 .. 4) {
    my $seed = 30 + $round;
    my $dialect = $round % 2 ? '093' : '08x';
    my $log = "$tmp/r$round.log";
    system("$tmp/genlog --dialect $dialect --connections 1200 --seed $seed > $log") == 0 or die 'genlog failed';
    my @lines = file_lines($log);
    srand($seed);

    for my $with_plugin (0, 1) {
        my $db = "$tmp/r$round-$with_plugin.db";
        my $store = Qpstat::Store->open($db, create => 1);
        my $plugin = Qpstat::Store->open($db);
        my (@late, $batch_end, $copies, $late);
        $store->begin;
        $batch_end = 1 + int rand 300;
        for my $i (0 .. $#lines) {
            my $line = $lines[$i];
            my $rec = Qpstat::parse_line($line);
            if ($with_plugin && $rec
                && ($rec->{kind} eq 'terse' || ($rec->{kind} eq 'reply' && $rec->{message} =~ /\A250 Queued/))
                && rand() < 0.6) {
                my $copy = plugin_copy($line, $rec);
                $copies++;
                if (rand() < 0.5) {
                    # the plugin wrote first: between two batches of the import
                    $store->commit;
                    $plugin->record_line($copy->[0], time => $copy->[1], source => 'plugin');
                    $store->begin;
                } else {
                    push @late, $copy;    # the plugin was late: after this batch
                    $late++;
                }
            }
            $store->record_line($line);
            if ($i == $batch_end) {
                $store->commit;
                $plugin->record_line($_->[0], time => $_->[1], source => 'plugin') for @late;
                @late = ();
                $store->begin;
                $batch_end = $i + 1 + int rand 300;
            }
        }
        $store->commit;
        $plugin->record_line($_->[0], time => $_->[1], source => 'plugin') for @late;
        $store->close;
        $plugin->close;
        same_reports($db, $log,
            "round $round ($dialect, " . scalar(@lines) . ' lines)'
              . ($with_plugin ? ", $copies plugin copies ($late late)" : ', import only'));
    }
}

done_testing;
