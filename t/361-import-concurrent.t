# Issue 9 case 2: importers of the same logs into the same store at once
# (cron overlapping a manual run, collect running) never store a record
# twice: each batch reads the file's offset inside its write transaction
# and skips what another importer stored meanwhile.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use QpstatTest qw(qpstat_bin run_cmd tmpdir);
use ImportCheck qw(genlog same_reports stored);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
my $tmp = tmpdir();
# several batches (50,000 lines each) per file, so the runs interleave
my $dir = "$tmp/log";
mkdir $dir or die;
genlog("$tmp", "$dir/\@400000006b0738fa0a2c4174.s", '--connections', 6000, '--seed', 5);
genlog("$tmp", "$dir/current", '--connections', 4000, '--seed', 6, '--start', 1764020000);

# N importers started together; returns their exit statuses and stderr
sub together {
    my ($n, $db, @cmd) = @_;
    my @kids;
    for my $i (1 .. $n) {
        my $err = "$tmp/err.$n.$i";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open STDERR, '>', $err or POSIX::_exit(126);
            open STDOUT, '>', '/dev/null' or POSIX::_exit(126);
            my @c = ref $cmd[0] ? @{ $cmd[ ($i - 1) % @cmd ] } : @cmd;
            exec $Q, @c or POSIX::_exit(127);
        }
        push @kids, [$pid, $err];
    }
    my (@rc, $errs);
    for my $k (@kids) {
        waitpid $k->[0], 0;
        push @rc, $? >> 8;
        open my $e, '<', $k->[1] or die;
        $errs .= do { local $/; <$e> } // '';
    }
    return (\@rc, $errs);
}

for my $n (2, 3, 6) {
    my $db = "$tmp/imports-$n.db";
    my ($rc, $errs) = together($n, $db, 'import', '--db', $db, $dir);
    is_deeply($rc, [(0) x $n], "$n imports at once: all exit 0") or diag $errs;
    same_reports($db, [$dir], "$n imports at once");
    my ($rc2) = together(1, $db, 'import', '--db', $db, $dir);
    my ($tx) = stored($db);
    ($rc2) = together(2, $db, 'import', '--db', $db, $dir);
    is_deeply($rc2, [0, 0], "$n: imports again: exit 0");
    is((stored($db))[0], $tx, "$n: imports again: nothing new");
}

# every door at once: import, collect --once, check --fix, on a fresh store
{
    my $db = "$tmp/doors.db";
    my ($rc, $errs) = together(4, $db, ['import', '--db', $db, $dir], ['collect', '--once', '--db', $db, $dir],
        ['import', '--db', $db, $dir], ['collect', '--once', '--db', $db, $dir]);
    is_deeply($rc, [0, 0, 0, 0], 'imports and collect --once at once: all exit 0') or diag $errs;
    same_reports($db, [$dir], 'imports and collect --once at once');
}

done_testing;
