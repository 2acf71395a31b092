#!/usr/bin/perl
# t/372-copytruncate-open.t - an import that opened the log before
# logrotate's copytruncate and takes the store's lock after it (found by
# t/365's schedule 88): it holds the old content up to the size the log had
# when it opened it, while the copy (.1), imported meanwhile, is stored
# further. Taking what it holds for another file (shorter than what the
# store has of that head) stored those records twice. It must store
# nothing of it: the copy has them, and the emptied log is read again by
# the next import.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep);
use QpstatTest qw(qpstat_bin run_cli run_cmd tmpdir slurp spew);
use ImportCheck qw(genlog same_reports);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
system('sqlite3 -version > /dev/null 2>&1') == 0 or plan skip_all => 'sqlite3 (the CLI) holds the lock here';
$ENV{TZ} = 'UTC';    # logging/file stamps are local time
my $tmp = tmpdir();

my $gen = genlog("$tmp", "$tmp/written.log", '--framing', 'logfile', '--connections', 60, '--seed', 88);
my @lines = split /^/m, slurp($gen);
my $third = int(@lines / 3);
my ($first, $second, $after) =
  (join('', @lines[0 .. $third - 1]), join('', @lines[$third .. 2 * $third - 1]), join('', @lines[2 * $third .. $#lines]));
cmp_ok(length $first, '>', 4096, 'the first part is longer than a file head');

for my $case ('truncated', 'truncated and written again') {
    my $dir = "$tmp/" . ($case =~ /again/ ? 'again' : 'empty');
    mkdir $dir or die;
    my $db = "$dir.db";
    my $log = "$dir/qpsmtpd.log";
    spew($log, '');
    my (undef, $made_err, $made) = run_cmd([$Q, 'import', '--db', $db, $dir]);    # makes the store
    is($made, 0, "$case: a store") or diag($made_err);

    # another writer holds the lock: the import opens the log, reads its
    # first chunk and waits at BEGIN IMMEDIATE, where it is stopped
    spew($log, $first);
    pipe(my $hold_r, my $hold_w) or die;
    pipe(my $said_r, my $said_w) or die;
    my $holder = fork // die;
    if (!$holder) {
        close $hold_w;
        close $said_r;
        open STDIN, '<&', $hold_r or POSIX::_exit(1);
        open STDOUT, '>&', $said_w or POSIX::_exit(1);
        exec 'sqlite3', $db or POSIX::_exit(127);
    }
    close $hold_r;
    close $said_w;
    select((select($hold_w), $| = 1)[0]);
    print $hold_w "BEGIN IMMEDIATE;\nSELECT 'locked';\n";
    my $said = <$said_r>;    # the lock is taken
    is($said, "locked\n", "$case: another writer holds the lock");
    my $importer = fork // die;
    if (!$importer) {
        open STDOUT, '>', "$dir.out";
        open STDERR, '>', "$dir.err";
        exec $Q, 'import', '--db', $db, $dir or POSIX::_exit(127);
    }
    sleep 0.7;
    kill 'STOP', $importer;

    # the log grows, logrotate copies it to .1 and empties it
    spew($log, $second, 1);
    system('cp', $log, "$log.1") == 0 or die;
    truncate $log, 0 or die;
    spew($log, $after, 1) if $case =~ /again/;
    print $hold_w "COMMIT;\n.quit\n";
    close $hold_w;
    waitpid $holder, 0;
    close $said_r;

    # the copy is imported while the first import is stopped
    my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, "$log.1"]);
    is($st, 0, "$case: the copy is imported") or diag($err);
    kill 'CONT', $importer;
    waitpid $importer, 0;
    is($? >> 8, 0, "$case: the import that opened the log before the rotation succeeds")
      or diag(slurp("$dir.err"));

    # the next import reads the log as it is now
    spew($log, $after, 1) unless $case =~ /again/;
    (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, $dir]);
    is($st, 0, "$case: the next import succeeds") or diag($err);
    same_reports($db, ["$log.1", $log], $case);
}

done_testing;
