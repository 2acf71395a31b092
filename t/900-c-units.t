# Runs the check-based C unit tests (tests/check_*) and reports each of
# their results as a Test::More test, so `make test` has one summary.
use strict;
use warnings;
use Test::More;

my @bins = grep { -x $_ && !/\.c$/ } glob 'tests/check_*';
plan skip_all => 'no C unit tests built (libcheck missing: apt-get install check)' unless @bins;

for my $bin (@bins) {
    subtest $bin => sub {
        local $ENV{CK_TAP_LOG_FILE_NAME} = '-';
        local $ENV{CK_VERBOSITY} = 'silent';
        local $ENV{QPS_TEST_DATA} = 't/data';
        my @tap = `$bin`;
        my $status = $?;
        my $count = 0;
        for (@tap) {
            next unless /^(not ok|ok)\s+\d+\s*-?\s*(.*)$/;
            $count++;
            ok($1 eq 'ok', $2);
        }
        ok($count > 0, "$bin ran tests");
        is($status, 0, "$bin exited 0");
    };
}

done_testing;
