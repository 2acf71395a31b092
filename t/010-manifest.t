# MANIFEST is what `make dist` packs: it must list every file git tracks
# (less MANIFEST.SKIP), or the tarball misses a source file or a fixture and
# fails to build or test where the checkout passed. And the licence the
# README and Makefile.PL name is there.
use strict;
use warnings;
use Test::More;
use ExtUtils::Manifest ();
use lib 't/lib';
use QpstatTest qw(slurp);

my %listed = %{ ExtUtils::Manifest::maniread() };
ok(%listed, 'MANIFEST lists files');
my @gone = grep { !-e $_ } sort keys %listed;
is("@gone", '', 'every file in MANIFEST exists');

SKIP: {
    skip 'not a git checkout (an unpacked tarball)', 3 unless -e '.git' && `git --version 2>/dev/null`;
    my @tracked = split /\0/, `git ls-files -z`;
    is($?, 0, 'git ls-files runs');
    my $skip = ExtUtils::Manifest::maniskip();
    my @missing = grep { !exists $listed{$_} && !$skip->($_) } @tracked;
    is(join("\n", @missing), '', 'every tracked file is in MANIFEST or MANIFEST.SKIP')
        or diag('run `perl scripts/manifest.pl` (or add the file to MANIFEST.SKIP)');
    my %tracked = map { $_ => 1 } @tracked;
    my @untracked = grep { !$tracked{$_} } sort keys %listed;
    is(join("\n", @untracked), '', 'MANIFEST lists only tracked files') or diag('run `perl scripts/manifest.pl`');
}

like(slurp('LICENSE'), qr/\AMIT License\n.*Permission is hereby granted, free of charge/s, 'LICENSE is the MIT licence');
like(slurp('Makefile.PL'), qr/LICENSE\s*=>\s*'mit'/, 'Makefile.PL says MIT too');
like(slurp('README.md'), qr/^## License\n\nMIT/m, 'and the README');

done_testing;
