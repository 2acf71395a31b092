# Issue 9 cases 3 and 4: lines over 128 KiB and first lines over 1 MiB.
# The processor and import split lines with one rule (a line over
# QPS_LINE_MAX is one invalid line, its bytes all counted in the offset)
# and know a file by its first bytes, not its first line: whatever the
# order of the doors, every record is stored once.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use QpstatTest qw(qpstat_bin run_cmd tmpdir slurp spew);
use ImportCheck qw(same_reports stored);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
my $tmp = tmpdir();
my @log = split /^/m, slurp('t/data/multilog-094/@400000006b07398735c119cc.s');
my $label = '@400000006b0738fa0a2c4174';

my %files = (
    'first line 200 KiB'  => ["$label 8801 " . ('x' x (200 << 10)) . "\n", @log],
    'first line 1.5 MiB'  => ["$label 8801 " . ('y' x (3 << 19)) . "\n", @log],
    'first line 3 MiB, no label' => [('z' x (3 << 20)) . "\n", @log],
    'a 300 KiB line inside' => [@log[0 .. 99], "$label 8873 " . ('w' x (300 << 10)) . "\n", @log[100 .. $#log]],
);

my $n = 0;
for my $name (sort keys %files) {
    $n++;
    my $f = "$tmp/log$n";
    spew($f, join '', @{ $files{$name} });
    # import alone
    my $db = "$tmp/import$n.db";
    my ($out, $err, $rc) = run_cmd([$Q, 'import', '-v', '--db', $db, $f]);
    is($rc, 0, "$name: import exits 0") or diag $err;
    unlike($err, qr/: 0 new records/, "$name: the file is imported");
    same_reports($db, [$f], "$name: import");
    # the processor, then import
    $db = "$tmp/proc$n.db";
    ($out, $err, $rc) = run_cmd([$Q, 'processor', '--db', $db], stdin => $f);
    is($rc, 0, "$name: processor exits 0");
    ok($out eq slurp($f), "$name: the processor copies its input unchanged");
    run_cmd([$Q, 'import', '--db', $db, $f]);
    same_reports($db, [$f], "$name: processor, then import");
    # import of the first part (current before the rotation), the processor
    # on the whole (the rotated file), import again (of the @x.s)
    $db = "$tmp/part$n.db";
    my $whole = slurp($f);
    my $cut = rindex($whole, "\n", int(length($whole) * 0.6)) + 1;
    spew("$tmp/current$n", substr($whole, 0, $cut));
    run_cmd([$Q, 'import', '--db', $db, "$tmp/current$n"]);
    spew("$tmp/current$n", substr($whole, $cut), 1);
    ($out, $err, $rc) = run_cmd([$Q, 'processor', '--db', $db], stdin => "$tmp/current$n");
    is($rc, 0, "$name: processor on the grown file exits 0");
    run_cmd([$Q, 'import', '--db', $db, $f]);
    same_reports($db, [$f], "$name: import of a part, processor, import");
}

done_testing;
