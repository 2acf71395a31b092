#!/usr/bin/perl
# t/368-check-store.t - issue 9 case 11: what `qpstat check` says about the
# store and the state file.
#
# - The README's processor-only set-up (multilog's processor imports each
#   rotated file; current waits for its rotation) is no problem; a store
#   really behind (nobody imported a rotated file) is one.
# - A state file emptied while rotated logs show that the processor ran is
#   a problem; --fix rebuilds it from the rotated logs, as the processor
#   wrote it.
# - A store ahead of the logs (records stored twice) is a problem, with
#   how to repair it; --fix changes nothing in the store (never worse).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use QpstatTest qw(qpstat_bin run_cmd slurp spew tmpdir);
use Cwd qw(abs_path);
use POSIX ();

my $Q = qpstat_bin() or plan skip_all => 'qpstat not built';
$Q = abs_path($Q);
my $tmpdir = tmpdir();
my $tmp = abs_path("$tmpdir");

sub qp { my ($out, $err, $rc) = run_cmd([$Q, @_], timeout => 60); return ($out . $err, $rc) }

sub label { sprintf '@%016x%08x', $_[0] + 4611686018427387914, $_[1] // 0 }

# terse records, one every $step seconds from $t0
sub terse_lines {
    my ($t0, $n, $step, $tag) = @_;
    my @disp = ('queued', 'naughty', 'dnsbl', 'rcpt_ok');
    return join '', map {
        my $d = $disp[$_ % @disp];
        label($t0 + $_ * $step, $_) . " " . (3000 + $_) . " (deny) logging::logterse: ` 192.0.2." . ($_ % 250)
          . "\tUnknown\th$_.$tag.example\t<s$_\@$tag.example>\t<bob\@example.com>\t$d\t"
          . ($d eq 'queued' ? '' : '903') . "\ttext $_\tNo, score=1.0 required=5.0\n"
    } 0 .. $n - 1;
}

# multilog's rotation with `qpstat processor --db`: current -> previous,
# the processor reads it on fd 0, state on fd 4, writes newstate on fd 5
sub rotate_with_processor {
    my ($dir, $db, $label) = @_;
    rename "$dir/current", "$dir/previous" or die $!;
    my $pid = fork // die;
    if (!$pid) {
        open STDIN, '<', "$dir/previous" or POSIX::_exit(126);
        open STDOUT, '>', "$dir/processed" or POSIX::_exit(126);
        open my $st, '<', "$dir/state" or POSIX::_exit(126);
        POSIX::dup2(fileno $st, 4) if fileno $st != 4;
        open my $ns, '>', "$dir/newstate" or POSIX::_exit(126);
        POSIX::dup2(fileno $ns, 5) if fileno $ns != 5;
        exec $Q, 'processor', '--db', $db or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    $? == 0 or die "processor: $?";
    rename "$dir/processed", "$dir/$label.s" or die;
    rename "$dir/newstate", "$dir/state" or die;
    unlink "$dir/previous";
    spew("$dir/current", '');
}

my $t0 = 1_790_000_000 - (1_790_000_000 % 86400);    # a UTC midnight

# ---- the processor-only set-up, and a store really behind ----
{
    my $dir = "$tmp/ml";
    mkdir $dir or die;
    spew("$dir/state", '');
    spew("$dir/current", terse_lines($t0 + 3600, 40, 7, 'one'));
    my $db = "$tmp/ml.db";
    rotate_with_processor($dir, $db, label($t0 + 3600 + 300));
    spew("$dir/current", terse_lines($t0 + 7200, 25, 5, 'two'));
    my ($out, $rc) = qp('check', '--db', $db, $dir);
    is($rc, 0, 'processor-only set-up, current with lines: check exits 0') or diag $out;
    unlike($out, qr/behind/, '... says nothing of a store behind');
    like($out, qr/current goes to the store at the next rotation/, '... but notes when current is imported');
    my ($fix, $frc) = qp('check', '--fix', '--db', $db, $dir);
    is($frc, 0, '... check --fix exits 0 too');
    my ($json) = qp('report', '--format', 'json', '--db', $db);
    like($json, qr/"transactions":40\b/, '... and imports nothing (current waits for its rotation)');

    # nobody imported the rotated file: really behind
    my $d2 = "$tmp/ml-behind";
    mkdir $d2 or die;
    spew("$d2/state", '');
    spew("$d2/" . label($t0 + 3600 + 300) . '.s', terse_lines($t0 + 3600, 40, 7, 'one'));
    spew("$d2/current", terse_lines($t0 + 7200, 25, 5, 'two'));
    my $db2 = "$tmp/behind.db";
    qp('import', '--db', $db2, "$d2/current");
    ($out, $rc) = qp('check', '--db', $db2, $d2);
    is($rc, 1, 'a rotated file nobody imported: check exits 1');
    like($out, qr/the store is behind: \S+\.s is not fully imported/, '... the store is behind');
}

# ---- an emptied state file ----
{
    my $dir = "$tmp/ml";    # from above: one rotation through the processor
    my $want = slurp("$dir/state");
    ok(length $want, 'the processor wrote a state');
    truncate "$dir/state", 0 or die;
    my ($out, $rc) = qp('check', '--db', "$tmp/ml.db", $dir);
    is($rc, 1, 'an emptied state: check exits 1');
    like($out, qr/state is empty although a processor ran/, '... and says so');
    ($out, $rc) = qp('check', '--fix', '--db', "$tmp/ml.db", $dir);
    is($rc, 0, 'check --fix: fixed') or diag $out;
    like($out, qr/FIXED .*rebuilt \S+\/state from 1 rotated logs/, '... rebuilt from the rotated log');
    my $data = sub { join '', grep { !/^#/ } split /^/, $_[0] };
    is($data->(slurp("$dir/state")), $data->($want), '... with the totals the processor had written');
    ($out, $rc) = qp('check', '--db', "$tmp/ml.db", $dir);
    is($rc, 0, '... and check is clean after it') or diag $out;
}

# ---- a store ahead of the logs ----
{
    my $dir = "$tmp/days";
    mkdir $dir or die;
    # four UTC days of records
    my $log = join '', map { terse_lines($t0 + $_ * 86400 + 3600, 30, 60, "d$_") } 0 .. 3;
    spew("$dir/qpsmtpd.log", $log);
    my $db = "$tmp/days.db";
    qp('import', '--db', $db, $dir);
    my ($out, $rc) = qp('check', '--db', $db, $dir);
    is($rc, 0, 'store = logs: check exits 0') or diag $out;
    # a copy of day 1 under another name and head: its records stored twice
    my $day1 = terse_lines($t0 + 86400 + 3600, 30, 60, 'd1');
    spew("$tmp/copy.log", "a banner line\n" . $day1);
    qp('import', '--db', $db, "$tmp/copy.log");
    my ($before) = qp('report', '--format', 'json', '--db', $db);
    ($out, $rc) = qp('check', '--db', $db, $dir);
    is($rc, 1, 'records stored twice: check exits 1');
    my $day = POSIX::strftime('%Y-%m-%d', gmtime($t0 + 86400));
    like($out, qr/the store is ahead of the logs .* on \Q$day\E: the store holds 60 transactions where the logs hold 30/,
        '... names the day and the counts');
    like($out, qr/rebuild it from the logs/, '... and says how to repair it');
    ($out, $rc) = qp('check', '--fix', '--db', $db, $dir);
    is($rc, 1, 'check --fix: the problem remains');
    my ($after) = qp('report', '--format', 'json', '--db', $db);
    is($after, $before, '... and the store is as it was');
}

# ---- ahead within a single day, and directories of different ages ----
{
    # two hours of one day: a copy imported again is ahead on that day
    my $dir = "$tmp/hours";
    mkdir $dir or die;
    spew("$dir/qpsmtpd.log", terse_lines($t0 + 3600, 120, 60, 'h'));
    my $db = "$tmp/hours.db";
    qp('import', '--db', $db, $dir);
    my ($out, $rc) = qp('check', '--db', $db, $dir);
    is($rc, 0, 'two hours of logs, store = logs: check exits 0') or diag $out;
    spew("$tmp/hours-copy.log", "another banner\n" . terse_lines($t0 + 3600, 120, 60, 'h'));
    qp('import', '--db', $db, "$tmp/hours-copy.log");
    ($out, $rc) = qp('check', '--db', $db, $dir);
    is($rc, 1, 'two hours stored twice: check exits 1 (no need for days of logs around them)');
    my $day = POSIX::strftime('%Y-%m-%d', gmtime($t0 + 3600));
    # the first and last minute of the logs are left out of the comparison
    like($out, qr/the store is ahead of the logs .* on \Q$day\E: the store holds (\d+) transactions where the logs hold (\d+)/,
        '... names the day');
    my ($have, $logged) = $out =~ /the store holds (\d+) transactions where the logs hold (\d+)/;
    is($have, 2 * $logged, '... the store holds each record of the window twice') if defined $have;
    cmp_ok($logged // 0, '>=', 110, '... a window of nearly all the logs');

    # the plugin's records of the last seconds, not logged yet, are not "ahead"
    my $late = "$tmp/late";
    mkdir $late or die;
    spew("$late/qpsmtpd.log", terse_lines($t0 + 3600, 120, 60, 'l'));
    my $ldb = "$tmp/late.db";
    qp('import', '--db', $ldb, $late);
    spew("$tmp/late-plugin.log", terse_lines($t0 + 3600 + 120 * 60, 5, 2, 'p'));
    qp('import', '--db', $ldb, "$tmp/late-plugin.log");
    ($out, $rc) = qp('check', '--db', $ldb, $late);
    is($rc, 0, 'records after the last logged line: not ahead') or diag $out;
}
{
    # SME: qpsmtpd's busy log rotates away in two days, sqpsmtpd's quiet one
    # keeps four; the store has everything both ever had
    my ($smtp, $ssmtp) = ("$tmp/qpsmtpd", "$tmp/sqpsmtpd");
    mkdir $_ or die for $smtp, $ssmtp;
    my $db = "$tmp/sme.db";
    spew("$tmp/old.log", join '', map { terse_lines($t0 + $_ * 86400 + 3600, 30, 60, "o$_") } 0 .. 1);
    qp('import', '--db', $db, "$tmp/old.log");
    unlink "$tmp/old.log";
    spew("$smtp/qpsmtpd.log", join '', map { terse_lines($t0 + $_ * 86400 + 3600, 30, 60, "s$_") } 2 .. 3);
    spew("$ssmtp/qpsmtpd.log", join '', map { terse_lines($t0 + $_ * 86400 + 7200, 5, 60, "q$_") } 0 .. 3);
    qp('import', '--db', $db, $smtp, $ssmtp);
    my ($out, $rc) = qp('check', '--db', $db, $smtp, $ssmtp);
    is($rc, 0, 'directories that reach back to different days: not ahead') or diag $out;
    unlike($out, qr/ahead/, '... and nothing said about it');
    # and a double inside the time both cover is still found
    spew("$tmp/sme-copy.log", "banner\n" . terse_lines($t0 + 3 * 86400 + 3600, 30, 60, 's3'));
    qp('import', '--db', $db, "$tmp/sme-copy.log");
    ($out, $rc) = qp('check', '--db', $db, $smtp, $ssmtp);
    is($rc, 1, '... a day stored twice where both cover it: ahead');
    my $day = POSIX::strftime('%Y-%m-%d', gmtime($t0 + 3 * 86400));
    like($out, qr/ahead of the logs .* on \Q$day\E/, '... on that day');
}

done_testing;
