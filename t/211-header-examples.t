#!/usr/bin/perl
# t/211-header-examples.t - the usage examples in csrc/include/qpstat.h
# ("Example: ... compiled and run by t/211-header-examples.t") are taken out
# of the header verbatim, compiled against the built library with warnings
# as errors, and run: the aggregator loop prints what `qpstat report
# --format csv --by disposition` prints, the store example imports (once:
# a second run adds nothing) and reports the same table from the store.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE run_cli run_cmd slurp spew tmpdir qpstat_bin);

my $lib = 'csrc/libqpstat.a';
plan skip_all => 'build first (no csrc/libqpstat.a)' unless -f $lib && qpstat_bin();

my $header = slurp('csrc/include/qpstat.h');
my @examples;
while ($header =~ m{t/211-header-examples\.t\):\n((?: \*(?!/).*\n)+)}g) {
    my $code = $1;
    $code =~ s/^ \*(?: {6})?//mg;
    push @examples, $code;
}
is(scalar @examples, 2, 'two examples in the header (the aggregator loop, the store)')
  or BAIL_OUT('examples not found');
like($examples[0], qr/qps_agg_feed/, 'the first one feeds an aggregator');
like($examples[1], qr/qps_store_import_file/, 'the second one imports into a store');

my ($libs) = slurp('Makefile') =~ /^QPS_LIBS = (.*)$/m;
$libs //= '-lsqlite3 -lz';
my $dir = tmpdir();
my ($helper) = $examples[0] =~ /(static int to_stdout.*?\n\}\n)/s;
ok($helper, 'the first example defines to_stdout');

my @bins;
for my $i (0 .. $#examples) {
    my $code = $examples[$i];
    $code = "$helper\n$code" unless $code =~ /static int to_stdout/;
    my $src = "$dir/example$i.c";
    spew($src, "#include <stdio.h>\n#include \"qpstat.h\"\n\n$code");
    my ($out, $err, $rc) = run_cmd([split(' ', $ENV{CC} // 'cc'), qw(-std=gnu99 -Wall -Wextra -Werror -Icsrc/include),
                                    '-o', "$dir/example$i", $src, $lib, split(' ', $libs), '-lm', '-lpthread']);
    is($rc, 0, "example $i compiles without a warning") or diag "$err\n$code";
    push @bins, "$dir/example$i";
}

my $log = "$FIXTURE{'multilog-094'}/current";
my ($want) = run_cli('report', '--format', 'csv', '--by', 'disposition', $log);
ok(length $want, 'the CLI reports the fixture');

my ($out, $err, $rc) = run_cmd([$bins[0]], stdin => $log);
is($rc, 0, 'the aggregator example runs') or diag $err;
is($out, $want, 'it prints the CLI\'s disposition CSV');
like($err, qr/^\d+ transactions in \d+ lines$/, 'and its counts');

my $db = "$dir/q.db";
($out, $err, $rc) = run_cmd([$bins[1], $db, $log]);
is($rc, 0, 'the store example runs') or diag $err;
is($out, $want, 'it reports the CLI\'s disposition CSV from the store');
my ($first) = $err =~ /^(\d+) new records$/m;
ok($first, "it imported records ($err)");
($out, $err, $rc) = run_cmd([$bins[1], $db, $log]);
is($rc, 0, 'run again');
like($err, qr/^0 new records$/m, 'a second run adds nothing (it resumes)');
is($out, $want, 'and reports the same');
($out, $err, $rc) = run_cmd([$bins[1], "$dir/none/q.db", $log]);
is($rc, 1, 'a store that cannot be opened: exit 1');
like($err, qr{none/q\.db: }, 'with the store\'s message');

done_testing();
