#!/usr/bin/perl
# t/350-evil-input.t - what a log (or a careless caller) can throw at the
# binding: binary junk, 1 MB lines, NUL bytes, undef, references, wide
# characters, wrong object types. Bad lines are data (counted, never
# fatal); bad arguments croak with the method's name; nothing crashes.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(NOW tmpdir run_cli);

use Qpstat;
use Qpstat::Agg;
use Qpstat::Store;

srand(20261125);
my @junk = map {
    my $n = int(rand(300));
    join '', map { chr(int(rand(256))) } 1 .. $n
} 1 .. 500;
my $terse = "8909 (deny) logging::logterse: ` 1.2.3.4\tUnknown\th\t<a\@b.c>\t\trcpt_ok\t901\tRelaying denied\tmsg denied before queued";
push @junk, "8801 " . ('A' x (1 << 20)),                        # 1 MB line
  "\@400000006b07390e20f6398c 8911 (deny) logging::logterse: ` " . ("\t" x 100000),    # 100000 TABs
  $terse . ("\t" x 50),                                          # trailing TABs
  $terse =~ s/Relaying/Rel\0aying/r,                             # NUL inside a record
  "\@" . ('f' x 24) . " 1 x",                                    # the largest label
  "\@" . ('0' x 24) . " 1 x",                                    # the smallest
  "99999999999999999999 Accepted connection 99999999999/99999999999 from x / y",
  "1 (deny) logging::logterse: `",                               # prefix, no fields
  "\n\n\n", "\r\n", "\t", " ", "(", "1 (", "1 (x", "1 (x) ", "Nov 31 99:99:99 h q[1]: 1 x";

# parse_line never dies on bytes, and says undef or a hash
my $ok = 1;
for my $line (@junk) {
    my $r = eval { Qpstat::parse_line($line) };
    $ok = 0, diag("parse_line died: $@") if $@;
    $ok = 0, diag('parse_line returned ' . ref($r)) if defined $r && ref $r ne 'HASH';
}
ok($ok, 'parse_line survives ' . scalar(@junk) . ' junk lines');
is(Qpstat::parse_line("8801 " . ('A' x (1 << 20))), undef, 'a 1 MB line is invalid (over 64 KiB)');

# the aggregator counts every line, also in chunks
my $agg = Qpstat::Agg->new(now => NOW);
my $parsed = $agg->add_lines(@junk);
my $c = $agg->counts;
is($c->{lines_read}, scalar(@junk), 'every junk line is counted');
is($c->{lines_parsed}, $parsed, 'add_lines returns the parsed ones');
is($c->{lines_parsed} + $c->{lines_invalid}, $c->{lines_read}, 'parsed + invalid = read');
ok($c->{invalid}{too_long} >= 1, 'the 1 MB line is counted too long');
my $fed = Qpstat::Agg->new(now => NOW);
$fed->feed(join "\n", @junk);
$fed->finish;
ok($fed->counts->{lines_read} >= @junk, 'feed splits the junk on newlines and counts it all');
for my $fmt (qw(text csv json mail)) {
    my $out = eval { $agg->report(format => $fmt) };
    ok(defined $out && !$@, "report $fmt over junk") or diag $@;
}
my $json = $fed->report(format => 'json');
unlike($json =~ s/\n\z//r, qr/[\x00-\x1f]/, 'json output has no raw control bytes');

# arguments that are not lines
my %bad_line = (
    'undef'       => undef,
    'a reference' => [],
    'wide chars'  => "caf\x{263a}",
);
for my $what (sort keys %bad_line) {
    my $v = $bad_line{$what};
    eval { Qpstat::parse_line($v) };
    like($@, qr/^Qpstat::parse_line: /, "parse_line($what) croaks with its name");
    eval { $agg->add_line($v) };
    like($@, qr/^Qpstat::Agg::add_line: /, "add_line($what) croaks with its name");
    eval { $agg->add_lines('8801 x', $v) };
    like($@, qr/^Qpstat::Agg::add_lines: /, "add_lines(..., $what) croaks with its name");
}
like((eval { Qpstat::parse_line(undef) }, $@), qr/ at \Q$0\E line \d+/, 'croaks point at the caller\'s line');
eval { $agg->feed(undef) };
like($@, qr/^Qpstat::Agg::feed: the chunk is undef/, 'feed(undef)');

# objects of the wrong type
my $dir = tmpdir();
my $store = Qpstat::Store->open("$dir/evil.db", create => 1);
my %wrong = (
    'a plain hash' => {},
    'a string'     => 'Qpstat::Agg',
    'undef'        => undef,
    'a store'      => $store,
    'a fake'       => bless(\(my $x = 0), 'Fake'),
);
for my $what (sort keys %wrong) {
    my $obj = $wrong{$what};
    # (perl's stock T_PTROBJ message warns while printing an undef)
    local $SIG{__WARN__} = sub { warn @_ unless $what eq 'undef' && $_[0] =~ /uninitialized/ };
    eval { Qpstat::Agg::add_line($obj, '8801 x') };
    like($@, qr/^Qpstat::Agg::add_line: /, "Agg::add_line on $what croaks with its name");
    eval { Qpstat::Agg::counts($obj) };
    like($@, qr/^Qpstat::Agg::counts: /, "Agg::counts on $what");
    eval { $agg->merge($obj) };
    like($@, qr/^Qpstat::Agg::merge: /, "merge($what)");
    next if $what eq 'a store';
    eval { Qpstat::Store::commit($obj) };
    like($@, qr/^Qpstat::Store::commit: /, "Store::commit on $what");
    eval { Qpstat::Store::_record_line($obj, '8801 x', 0, 0, undef, 1) };
    like($@, qr/^Qpstat::Store::_record_line: /, "Store::record_line on $what");
}
eval { $store->aggregate(colour => 1) };
like($@, qr/^Qpstat::Store::aggregate: unknown option 'colour'/, 'unknown aggregate option');
eval { Qpstat::Store::_aggregate($store, $store) };
like($@, qr/^Qpstat::Store::_aggregate: /, 'aggregate into a store');
eval { $agg->merge($agg) };
like($@, qr/^Qpstat::Agg::merge: cannot merge an aggregator into itself/, 'merge into itself');

# options of the wrong kind
for my $case (
    [ [since => 'yesterday'],  qr/since must be unix seconds/ ],
    [ [until => [1]],          qr/until must be unix seconds/ ],
    [ [capacity => -1],        qr/capacity must be a whole number/ ],
    [ [prefix => ''],          qr/prefix must be a non-empty string/ ],
    [ [colour => 1],           qr/unknown option 'colour'/ ],
    [ ['odd'],                 qr/options come in name => value pairs/ ],
    )
{
    eval { Qpstat::Agg->new(@{ $case->[0] }) };
    like($@, qr/^Qpstat::Agg::new: $case->[1]/, "new(@{ $case->[0] })");
}
for my $case (
    [ [by => 'colour'],                   qr/unknown dimension 'colour'/ ],
    [ [by => 'tld,'],                     qr/unknown dimension ''/ ],
    [ [format => 'csv', by => 'ip,helo'], qr/csv prints one table/ ],
    [ [top => 'ten'],                     qr/top must be a whole number/ ],
    )
{
    eval { $agg->report(@{ $case->[0] }) };
    like($@, qr/^Qpstat::Agg::report: $case->[1]/, "report(@{ $case->[0] })");
}
eval { $agg->rows };
like($@, qr/^Qpstat::Agg::rows: which dimension/, 'rows()');
eval { $agg->rows('ip,helo') };
like($@, qr/^Qpstat::Agg::rows: one dimension/, 'rows(two)');

# a store line that is junk is not stored; a huge one neither breaks it
is($store->record_line($_, time => NOW), 0, 'junk is not stored') for @junk[0 .. 20];
is($store->record_line("8801 " . ('A' x (1 << 20)), time => NOW), 0, 'nor a 1 MB line');
my $long = $terse =~ s/Relaying denied/'x' x 60000/er;
is($store->record_line($long, time => NOW), 1, 'a long record (under 64 KiB) is stored');
is($store->aggregate->counts->{transactions}, 1, 'and read back');

# the same junk, among records, imported by the CLI: the store reports
# exactly what the log report says (invalid lines counted, records kept)
{
    my $log = "$dir/evil.log";
    open my $fh, '>:raw', $log or die;
    my $i = 0;
    for my $line (@junk) {
        my $label = sprintf '@4000000069248%03x%08x', $i % 4096, $i;
        print $fh "$line\n", "$label $terse\n";
        $i++;
    }
    close $fh;
    my ($out, $rc) = run_cli('import', '--db', "$dir/evil-cli.db", $log);
    is($rc, 0, 'qpstat import takes a log of junk');
    my ($want) = run_cli('report', $log);
    my ($got) = run_cli('report', '--db', "$dir/evil-cli.db");
    is($got, $want, 'and its report from the store equals the report over the log');
    like($want, qr/Transactions: 5\d\d\b/, '(the records between the junk are counted)');
}

# threads: objects are not cloned into a new thread (CLONE_SKIP), so
# nothing is freed twice
SKIP: {
    require Config;
    skip 'perl without ithreads', 3 unless $Config::Config{useithreads};
    require threads;
    my $read = $agg->counts->{lines_read};
    my $t = threads->create(sub {
        my $a2 = Qpstat::Agg->new;
        $a2->add_line($terse);
        return $a2->counts->{transactions};
    });
    is($t->join, 1, 'a thread makes and uses its own aggregator');
    is($agg->counts->{lines_read}, $read, 'the parent\'s aggregator is intact');
    ok($store->info, 'and its store');
}

done_testing;
