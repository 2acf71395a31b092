# Issue 9 case 1: the README's set-up, the processor in multilog's run
# (`multilog t '!qpstat processor --db S' DIR`) and `qpstat import` (or
# collect, or check --fix) from cron. An import of current before the
# rotation stores part of it; the processor, given the rotated file on
# fd 0 (its bytes, current's old inode), stores only the rest; the @x.s
# file (multilog's copy of the processor's output: a new inode) is known
# as the same file. Under the real daemontools multilog.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Cwd qw(abs_path);
use Time::HiRes qw(sleep time);
use IO::Handle;
use QpstatTest qw(qpstat_bin run_cmd tmpdir slurp);
use ImportCheck qw(same_reports stored multilog_bin);

my $multilog = multilog_bin() or plan skip_all => 'daemontools multilog not installed';
my $Q = abs_path(qpstat_bin() // plan skip_all => 'build qpstat first');
my $tmpd = tmpdir();
my $tmp = abs_path("$tmpd");    # multilog takes "t/..." for its t action

open my $in, '<', 't/data/multilog-094/@400000006b07398735c119cc.s' or die;
my @payload = map { s/^\@[0-9a-f]{24} //r } <$in>;
close $in;
my $half = int(@payload / 2);

# A multilog with the processor; returns (pid, pipe, dir).
sub start {
    my ($name, $db) = @_;
    my $dir = "$tmp/$name";
    mkdir $dir or die;
    open my $st, '>', "$dir/state" or die;
    close $st;
    my $pid = open(my $ml, '|-') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>', "$tmp/$name.err" or die;
        exec $multilog, 't', 's16777215', "!$Q processor --db $db", $dir or die "exec: $!";
    }
    $ml->autoflush(1);
    return ($pid, $ml, $dir);
}

sub rotated { my ($dir) = @_; my @s = sort glob("$dir/\@*.s"); return @s }

sub settle {
    my ($dir, $lines) = @_;
    my $deadline = time + 15;
    while (time < $deadline) {
        my $n = -e "$dir/current" ? (() = slurp("$dir/current") =~ /\n/g) : 0;
        last if $n >= $lines;
        sleep 0.05;
    }
}

sub rotate {
    my ($pid, $dir, $want) = @_;
    kill 'ALRM', $pid;
    my $deadline = time + 15;
    sleep 0.1 while rotated($dir) < $want && time < $deadline;
    sleep 0.3;    # the state is renamed into place after the .s
    return scalar rotated($dir);
}

# door => the command that imports the directory before the rotation
my %door = (
    import => sub { ('import', '--db', $_[0], $_[1]) },
    collect => sub { ('collect', '--once', '--db', $_[0], $_[1]) },
    'check --fix' => sub { ('check', '--fix', '--db', $_[0], $_[1]) },
);
for my $name (sort keys %door) {
    (my $tag = $name) =~ s/\W+/-/g;
    my $db = "$tmp/$tag.db";
    my ($pid, $ml, $dir) = start($tag, $db);
    print $ml @payload[0 .. $half - 1];
    settle($dir, $half);
    my (undef, $err, $rc) = run_cmd([$Q, $door{$name}->($db, $dir)]);
    ok($rc == 0 || $name eq 'check --fix', "$name before the rotation: ran") or diag $err;
    my ($tx) = stored($db);
    ok($tx > 0, "$name stored part of current ($tx transactions)");
    print $ml @payload[$half .. $#payload];
    settle($dir, scalar @payload);
    is(rotate($pid, $dir, 1), 1, "$name: multilog rotated current (processor --db ran)");
    same_reports($db, [$dir], "$name, then the processor on the rotated file");
    ($rc) = (run_cmd([$Q, 'import', '--db', $db, $dir]))[2];
    is($rc, 0, "$name: import after the rotation");
    same_reports($db, [$dir], "$name, processor, import");
    # a second log, this time the processor alone, then import again
    print $ml @payload;
    settle($dir, scalar @payload);
    is(rotate($pid, $dir, 2), 2, "$name: second rotation");
    run_cmd([$Q, 'import', '--db', $db, $dir]);
    same_reports($db, [$dir], "$name: second log, processor then import");
    my (undef, undef, $crc) = run_cmd([$Q, 'check', '--db', $db, $dir]);
    close $ml;
    waitpid $pid, 0;
    unlike(slurp("$tmp/$tag.err"), qr/processor failed/, "$name: multilog never saw the processor fail");
}

# the processor by hand on a file import already had in full: nothing new
{
    my $db = "$tmp/byhand.db";
    my $f = "$tmp/byhand.log";
    open my $o, '>', $f or die;
    print $o slurp('t/data/multilog-094/@400000006b07398735c119cc.s');
    close $o;
    run_cmd([$Q, 'import', '--db', $db, $f]);
    my ($tx, $facts) = stored($db);
    my ($out, $err, $rc) = run_cmd([$Q, 'processor', '--db', $db], stdin => $f);
    is($rc, 0, 'processor on an imported file: exit 0') or diag $err;
    is($out, slurp($f), '... copies fd 0 to fd 1 unchanged');
    is_deeply([stored($db)], [$tx, $facts], '... and stores nothing again');
    same_reports($db, [$f], 'import, then the processor on the same bytes');
}

done_testing;
