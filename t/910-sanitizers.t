# The ASan/UBSan build of the core, the CLI and the C tests (tests/sanitize.sh).
use strict;
use warnings;
use Test::More;

plan skip_all => 'clang not installed' unless grep { -x "$_/clang" } split /:/, $ENV{PATH};
my $out = `sh tests/sanitize.sh 2>&1`;
my $status = $?;
is($status, 0, 'sanitizer build and runs are clean') or diag($out);
unlike($out, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, 'no sanitizer report');
like($out, qr/100%: Checks: \d+, Failures: 0, Errors: 0/, 'C unit tests ran under the sanitizers');
done_testing;
