#!/usr/bin/perl
# The reading front end (core/logset.c, reader.c, lines.c) through the
# commands: special files in log directories never block a command, named
# ones are read as streams; a truncated .gz, a bad CRC and gzip followed
# by plain text; a directory named current; a directory named twice;
# over-long lines counted invalid alike by report, summary, tail and grep.
# (Issue 9 cases 6, 7 and 14, the reading side.)
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use IO::Socket::UNIX ();
use JSON::PP ();
use POSIX ();
use QpstatTest qw(qpstat_bin run_cmd slurp spew tmpdir);

my $bin = qpstat_bin() or plan skip_all => 'qpstat not built';
my $tmp = tmpdir();
my $ML  = 't/data/multilog-094';
my $OLD = '@400000006b07398735c119cc.s';

sub qp { my ($args, %o) = @_; return run_cmd([$bin, @$args], timeout => 30, %o) }

sub report_json {
    my ($args, %o) = @_;
    my ($out, $err, $rc) = qp(['report', '--format', 'json', '--jobs', '1', @$args], %o);
    my $j = eval { JSON::PP::decode_json($out) };
    return ($j, $err, $rc);
}

# the log directory with its rotated file and `current` replaced by $make
sub log_dir {
    my ($name, $make) = @_;
    my $d = "$tmp/$name";
    mkdir $d or die "$d: $!";
    copy("$ML/$OLD", "$d/$OLD") or die $!;
    $make->("$d/current");
    return $d;
}

my ($base) = report_json([$ML]);
my ($old_only) = report_json(["$ML/$OLD"]);
is($base->{transactions}, 17, 'the fixture: 17 transactions');
ok($old_only->{transactions} < 17, 'the rotated file alone has fewer');

# ---- special files behind a name in a log directory (case 7) ----
my %special = (
    fifo        => sub { POSIX::mkfifo($_[0], 0644) or die "mkfifo: $!" },
    'dev-zero'  => sub { symlink '/dev/zero', $_[0] or die $! },
    'dev-urandom' => sub { symlink '/dev/urandom', $_[0] or die $! },
    socket      => sub {
        IO::Socket::UNIX->new(Local => $_[0], Listen => 1) or die "socket: $!";
    },
);
my @keep; # sockets stay bound while the commands run
for my $kind (sort keys %special) {
    my $d = log_dir("special-$kind", sub { push @keep, $special{$kind}->(@_) });
    my ($j, $err, $rc) = report_json([$d]);
    is($rc, 0, "$kind as current: report exits 0 (a warning is no error)");
    is($j->{transactions}, $old_only->{transactions}, "$kind as current: the rotated file is counted");
    like($err, qr/\Q$d\E\/current is not a regular file.*skipped/, "$kind as current: a warning names it");
    my @cmds = (
        [summary => ['summary', $d]],
        [tail    => ['tail', '-n', 'all', $d]],  # tail reads current
        [grep    => ['grep', 'queued', $d]],
        [import  => ['import', '--db', "$tmp/$kind.db", $d]],
        [collect => ['collect', '--once', '--db', "$tmp/$kind.db", $d]],
        [check   => ['check', '--db', "$tmp/$kind.db", $d]],
        [dnsbl   => ['dnsbl-test', 'zen.example', '--resolver', '127.0.0.1:9', $d]],
    );
    for my $c (@cmds) {
        my ($name, $args) = @$c;
        my (undef, $cerr, $crc) = qp($args, timeout => 20);
        isnt($crc, -1, "$kind as current: $name does not block");
        like($cerr, qr/not a regular file/, "$kind as current: $name says why it was not read");
    }
}

# a FIFO or device given as the store: refused, never waited for (case 7)
for my $db ("$tmp/store.fifo", '/dev/zero') {
    POSIX::mkfifo($db, 0644) if $db =~ /fifo/;
    for my $cmd (['report', '--db', $db], ['summary', '--db', $db]) {
        my (undef, $err, $rc) = qp($cmd, timeout => 20);
        is($rc, 1, "$cmd->[0] --db $db: exit 1, no wait");
        like($err, qr/not a regular file.*not a store/, '... saying why');
    }
}

# named on the command line, a FIFO is a stream: read to its end
{
    my $fifo = "$tmp/named.fifo";
    POSIX::mkfifo($fifo, 0644) or die $!;
    my $pid = fork // die;
    if (!$pid) {
        open my $w, '>:raw', $fifo or POSIX::_exit(1);
        print {$w} slurp("$ML/$OLD"), slurp("$ML/current");
        close $w;
        POSIX::_exit(0);
    }
    my ($j, undef, $rc) = report_json([$fifo]);
    waitpid $pid, 0;
    is($rc, 0, 'a FIFO named on the command line is read');
    is($j->{transactions}, 17, '... as a stream, to its end');
}

# ---- gzip: truncated, bad CRC, gzip then plain text (cases 6, 14) ----
my $big = join '', (slurp("$ML/$OLD") . slurp("$ML/current")) x 300; # ~8.7 MB
spew("$tmp/big.log", $big);
system("gzip -c -6 '$tmp/big.log' > '$tmp/big.gz'") == 0 or die 'gzip';
my $gz = slurp("$tmp/big.gz");
my ($full) = report_json(["$tmp/big.log"]);
is($full->{transactions}, 17 * 300, 'the big log: 5100 transactions');
{
    spew("$tmp/cut.gz", substr($gz, 0, int(length($gz) / 2)));
    # what gzip itself recovers from the cut file
    system("gzip -dc < '$tmp/cut.gz' > '$tmp/cut.txt' 2>/dev/null");
    my ($want) = report_json(["$tmp/cut.txt"]);
    ok($want->{transactions} > 1000 && $want->{transactions} < 5100, 'gzip -d recovers part of the cut file');
    my ($j, $err, $rc) = report_json(["$tmp/cut.gz"]);
    is($rc, 1, 'truncated .gz: report exits 1');
    like($err, qr/cannot read \Q$tmp\E\/cut\.gz: unexpected end of gzip data/, '... and says the file is cut short');
    is($j->{transactions}, $want->{transactions}, '... after counting every intact record');
    is($j->{lines}{read}, $want->{lines}{read}, '... and every intact line');
    my (undef, $serr, $src) = qp(['summary', "$tmp/cut.gz"]);
    is($src, 1, 'truncated .gz: summary exits 1');
    my (undef, $gerr, $grc) = qp(['grep', 'queued', "$tmp/cut.gz"]);
    is($grc, 1, 'truncated .gz: grep exits 1');
    like($gerr, qr/unexpected end of gzip data/, '... with the reason');
}
{
    my $bad = $gz;
    substr($bad, -8, 1) = chr(ord(substr($bad, -8, 1)) ^ 0x55); # the CRC32
    spew("$tmp/crc.gz", $bad);
    my ($j, $err, $rc) = report_json(["$tmp/crc.gz"]);
    is($rc, 1, 'bad CRC: report exits 1');
    like($err, qr/crc\.gz: damaged gzip data \(bad CRC/, '... and says the data is damaged');
    is($j->{transactions}, 5100, '... with no intact data dropped');
    is($j->{lines}{read}, $full->{lines}{read}, '... every line counted');
}
{
    my $d = "$tmp/mixed";
    mkdir $d;
    system("gzip -c < '$ML/$OLD' > '$d/qpsmtpd.log.1.gz'") == 0 or die;
    spew("$d/qpsmtpd.log.1.gz", slurp("$ML/current"), 1); # plain text after the member
    my ($j, $err, $rc) = report_json(["$d/qpsmtpd.log.1.gz"]);
    is($rc, 0, 'gzip then plain text: exit 0');
    is($j->{transactions}, 17, '... the plain part is read too');
    is($j->{lines}{read}, 399, '... every line');
}

# ---- a directory named current: a read error, exit 1 (case 6) ----
{
    my $d = log_dir('dir-current', sub { mkdir $_[0] or die });
    my ($j, $err, $rc) = report_json([$d]);
    is($rc, 1, 'a directory named current: report exits 1');
    like($err, qr/cannot read \Q$d\E\/current: Is a directory/, '... and says why');
    is($j->{transactions}, $old_only->{transactions}, '... after counting the rest');
    for my $c (['summary', $d], ['grep', 'queued', $d], ['tail', '-n', 'all', $d]) {
        my (undef, $cerr, $crc) = qp($c);
        is($crc, 1, "a directory named current: $c->[0] exits 1");
        like($cerr, qr/Is a directory/, '... with the reason');
    }
}

# ---- a directory named twice is read once ----
{
    my ($j, undef, $rc) = report_json([$ML, $ML, "$ML/current", "$ML/"]);
    is($rc, 0, 'DIR DIR: exit 0');
    is($j->{transactions}, 17, 'DIR DIR DIR/current: each file counted once');
    my ($out1) = qp(['summary', $ML]);
    my ($out2) = qp(['summary', $ML, $ML]);
    is($out2, $out1, 'summary DIR DIR = summary DIR');
    my ($g1) = qp(['grep', 'queued', $ML]);
    my ($g2) = qp(['grep', 'queued', $ML, "$ML/$OLD"]);
    is($g2, $g1, 'grep DIR DIR/file = grep DIR');
}

# ---- over-long lines: one invalid line, everywhere ----
{
    my $rec = '@400000006b0739a31476942c' . " 9534 (deny) logging::logterse: ` 127.0.0.1\tUnknown\thelo.example\t<a\@b.example>\t\t";
    my $long = $rec . "toolong\t903\t" . ('x' x (1536 * 1024)) . "\tmsg denied before queued\n";
    my $short = $rec . "shortone\t903\tdenied\tmsg denied before queued\n";
    # the long record straddles the reader's 1 MiB chunks, once after a short line
    my $log = $short . $long . $short . ('y' x 70000) . "\n" . $short;
    spew("$tmp/long.log", $log);
    my ($j, $err, $rc) = report_json(["$tmp/long.log"]);
    is($rc, 0, 'over-long lines: report exits 0');
    is($j->{invalid}{too_long}, 2, 'report: each over-long line is one invalid line (too_long)');
    is($j->{lines}{read}, 5, 'report: 5 lines read');
    is($j->{transactions}, 3, 'report: the records around them counted');
    my ($sj) = report_json(['-'], stdin => "$tmp/long.log");
    is_deeply([$sj->{invalid}{too_long}, $sj->{transactions}], [2, 3], 'report from a pipe: the same');
    my ($sum) = qp(['summary', "$tmp/long.log"]);
    my ($total) = $sum =~ /^# TOTALS\s+\d+\s+\d+%\s+\d+\s+(\d+)/m;
    is($total, 3, 'summary: the over-long record is not counted (invalid, as in report)');
    my ($tail) = qp(['tail', '-n', 'all', "$tmp/long.log"]);
    my @tl = grep { /shortone|toolong/ } split /\n/, $tail;
    is(scalar(grep { /shortone/ } @tl), 3, 'tail: the records around it');
    is(scalar(grep { /toolong/ } @tl), 0, 'tail: not the over-long one');
    my ($g) = qp(['grep', 'toolong', "$tmp/long.log"]);
    is($g, '', 'grep: the over-long record is not found');
    my ($g2) = qp(['grep', 'shortone', "$tmp/long.log"]);
    is(scalar(() = $g2 =~ /shortone/g), 3, 'grep: the records around it are');
}

# ---- the Perl API reads through the same core (no Perl file finder or gunzip) ----
{
    require Qpstat;
    require Qpstat::Agg;
    my @warn;
    local $SIG{__WARN__} = sub { push @warn, @_ };
    my $d = "$tmp/special-fifo";
    is_deeply([Qpstat::log_files($d, $d, "$d/$OLD")], ["$d/$OLD"], 'log_files: a FIFO in a directory left out, a file named twice once');
    like($warn[0] // '', qr/^Qpstat::log_files: \Q$d\E\/current is not a regular file.*skipped at /, '... with a warning');
    @warn = ();
    my $agg = Qpstat::Agg->new->add_file($d);
    is($agg->counts->{transactions}, $old_only->{transactions}, 'add_file: the FIFO is not read, the rest is');
    like($warn[0] // '', qr/Qpstat::Agg::add_file: .*not a regular file/, '... with a warning');

    my %want = (cut => undef, crc => 5100);
    ($want{cut}) = map { $_->{transactions} } (report_json(["$tmp/cut.gz"]))[0];
    for my $f (qw(cut crc)) {
        my $a = Qpstat::Agg->new;
        ok(!eval { $a->add_file("$tmp/$f.gz"); 1 }, "add_file $f.gz croaks");
        like($@, qr/^Qpstat::Agg::add_file: cannot read \Q$tmp\E\/$f\.gz: (unexpected end|damaged gzip)/, '... saying why');
        is($a->counts->{transactions}, $want{$f}, '... after counting what report counts');
    }
    is(Qpstat::Agg->new->add_file("$tmp/mixed/qpsmtpd.log.1.gz")->counts->{transactions}, 17,
        'add_file: gzip then plain text, both read');
    my $c = Qpstat::Agg->new->add_file("$tmp/long.log")->counts;
    is_deeply([$c->{invalid}{too_long}, $c->{transactions}], [2, 3], 'add_file: over-long lines as report counts them');
    ok(!eval { Qpstat::Agg->new->add_file("$tmp/dir-current"); 1 }, 'add_file: a directory named current croaks');
    like($@, qr/cannot read .*current: Is a directory/, '... saying why');
}

# ---- the public header's example of the three, compiled and run ----
{
    my ($code) = slurp('csrc/include/qpstat.h') =~ m{t/360-reading\.t\):\n((?: \*(?!/).*\n)+)};
    ok($code, 'the header has the reading example');
    $code =~ s/^ \*(?: {6})?//mg;
    spew("$tmp/example.c", "#include <stdio.h>\n#include \"qpstat.h\"\n\n$code");
    # the core's link flags, as Makefile.PL wrote them (libsystemd too when found)
    my ($libs) = slurp('Makefile') =~ /^QPS_LIBS = (.*)$/m;
    my (undef, $cerr, $crc) = run_cmd(['cc', '-std=gnu99', '-Wall', '-Wextra', '-Werror', '-Icsrc/include', '-o',
        "$tmp/example", "$tmp/example.c", 'csrc/libqpstat.a', split(' ', $libs // '-lsqlite3 -lz')], timeout => 120);
    is($crc, 0, 'the example compiles with -Werror') or diag($cerr);
    my ($out, $err, $rc) = run_cmd(["$tmp/example", $ML, $ML, "$tmp/long.log", "$tmp/special-fifo", "$tmp/cut.gz"]);
    my ($cut) = report_json(["$tmp/cut.gz"]);
    my $want = 399 + 5 + $old_only->{lines}{read} + $cut->{lines}{read};
    is($out, "$want lines, 2 too long\n", 'the example counts the lines report counts');
    is($rc, 1, '... exits 1 for the cut .gz');
    like($err, qr/note: .*special-fifo\/current\n.*cannot read .*cut\.gz: unexpected end/s, '... after the FIFO note');
}

done_testing;
