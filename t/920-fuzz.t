# A bounded libFuzzer run of the parser, aggregator and renderers.
use strict;
use warnings;
use Test::More;

plan skip_all => 'clang not installed' unless grep { -x "$_/clang" } split /:/, $ENV{PATH};
my $out = `sh tests/fuzz.sh 2>&1`;
is($?, 0, 'fuzzer found no crash, leak or undefined behaviour') or diag(substr($out, -4000));
like($out, qr/stat::number_of_executed_units:\s*(\d+)/, 'fuzzer executed inputs');
my ($runs) = $out =~ /stat::number_of_executed_units:\s*(\d+)/;
cmp_ok($runs // 0, '>', 1000, 'more than a thousand inputs tried');
done_testing;
