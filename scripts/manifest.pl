#!/usr/bin/perl
# Writes MANIFEST: the files git tracks, less those MANIFEST.SKIP names.
# `make dist` packs exactly these; t/010-manifest.t fails when MANIFEST and
# the tracked files disagree (run `perl scripts/manifest.pl` after adding or
# removing a file).
use strict;
use warnings;
use ExtUtils::Manifest ();

chdir(($0 =~ m{^(.*)/scripts/[^/]+$})[0] // '.') or die "manifest: chdir: $!\n";
my $skip = ExtUtils::Manifest::maniskip();
my @files = grep { !$skip->($_) } split /\n/, `git ls-files -z | tr '\\0' '\\n'`;
die "manifest: git ls-files failed\n" if $? || !@files;
open my $fh, '>', 'MANIFEST' or die "manifest: cannot write MANIFEST: $!\n";
print {$fh} "$_\n" for sort @files;
close $fh or die "manifest: cannot write MANIFEST: $!\n";
print scalar(@files), " files in MANIFEST\n";
