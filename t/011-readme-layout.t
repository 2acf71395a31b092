# The README's design section draws the layout a new maintainer learns the
# code base from: every path and file it names must exist, and each of the
# core, store and CLI folders must have all its files named there, or the
# drawing is a layout that was (issue 10: "the layers become visible").
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(slurp);
use ExtUtils::Manifest ();

my $manifest = ExtUtils::Manifest::maniread();

my ($design) = slurp('README.md') =~ /^## Design\n(.*?)^## /ms
    or BAIL_OUT('README.md has no "## Design" section');

# paths written out: csrc/cli/*.c, xs/, core/escape.c (inside csrc/), bench/memory.sh
my %path;
$path{$1} = 1 while $design =~ m{(?<![\w./-])((?:[\w.*-]+/)+[\w.*-]*)}g;
ok(%path, 'the design section names paths');
# logging/logterse is qpsmtpd's plugin, t/211 a test
for my $p (grep { !m{^logging/} } sort keys %path) {
    my @hit = map { glob } $p =~ m{^t/\d+$} ? "$p-*.t" : ($p, "csrc/$p");
    ok(scalar(grep { -e } @hit), "$p exists");
}

# the layout's entries: `csrc/core/   qps_private.h; parse, time, ...`, the
# continuation lines indented under it; plain names are .c files
my %entry;
my $cur;
for my $line (split /\n/, $design) {
    if ($line =~ m{^(csrc/(?:core|store|cli))/\s+(.*)}) { $cur = $1; $entry{$cur} = $2; next }
    if (defined $cur && $line =~ /^\s{10,}(\S.*)/) { $entry{$cur} .= " $1"; next }
    undef $cur;
}
for my $dir (qw(csrc/core csrc/store csrc/cli)) {
    ok(defined $entry{$dir}, "the layout has an entry for $dir") or next;
    (my $text = $entry{$dir}) =~ s/\([^)]*\)//g;
    my %named;
    for my $item (map { split /,/ } split /[;:]/, $text) {
        $item =~ s/^\s+|\s+$//g;
        next if $item eq '' || $item =~ /\s/;    # prose: "a file per command"
        my $file = $item =~ /\.[ch]$/ ? $item : "$item.c";
        $named{$file} = 1;
        ok(-f "$dir/$file", "$dir/$file (named in the README) exists");
    }
    # the sources MANIFEST lists, not build products (cli/assets.c is made)
    my @unnamed = sort grep { /\.[ch]$/ && !$named{$_} } map { m{^\Q$dir\E/([^/]+)$} ? $1 : () } keys %$manifest;
    is("@unnamed", '', "every file of $dir is named in the README's layout")
        or diag("add them to the layout in README.md's Design section");
}

done_testing;
