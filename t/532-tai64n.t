#!/usr/bin/perl
# t/532-tai64n.t - `qpstat tai64n` against daemontools' own tai64nlocal:
# byte-identical output on the real 0.94 multilog files, on lines without a
# label, binary bytes, a missing final newline, random labels from 1901 to
# 2100 (with out-of-range nanoseconds) and DST changes, under TZ=UTC,
# Europe/Berlin, America/New_York and Asia/Kolkata. Then the labels that
# crash tai64nlocal (SIGSEGV: short, upper case, non-hex, too long, "@"
# alone, out of range): qpstat copies those lines unchanged and exits 0.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp spew);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $Q = qpstat_bin();
plan skip_all => 'no qpstat binary (build first or set QPSTAT)' unless $Q;
my ($TAI) = grep { -x } map { "$_/tai64nlocal" } split /:/, $ENV{PATH};
plan skip_all => 'daemontools tai64nlocal not installed (apt-get install daemontools)' unless $TAI;
$ENV{LC_ALL} = 'C';
delete $ENV{QPSTAT_NOW};    # (QpstatTest fixes one for the fixtures)

my $TMP = tempdir(CLEANUP => 1);

# Runs a program with $input on stdin; returns (stdout, exit code, signal).
# Killed after 30 s.
sub run {
    my ($input, $tz, @cmd) = @_;
    spew("$TMP/in", $input);
    my ($out, undef, $status, undef, $signal) = run_cmd(\@cmd, stdin => "$TMP/in", env => { TZ => $tz });
    return ($out, $status, $signal);
}

# daemontools: label = 2^62 + 10 + unix (as two 32-bit halves), then nanoseconds
sub label {
    my ($unix, $nano) = @_;
    my $s = $unix + 10;
    my $hi = 0x40000000 + POSIX::floor($s / 4294967296);
    return sprintf '@%08x%08x%08x', $hi, $s - POSIX::floor($s / 4294967296) * 4294967296, $nano;
}

# ---- inputs -----------------------------------------------------------
my %cases;
my $ML = 't/data/multilog-094';
opendir my $dh, $ML or die "cannot read $ML: $!";
for my $f (sort grep { /^\@|^current$/ } readdir $dh) {
    $cases{"multilog-094/$f"} = slurp("$ML/$f");
}
closedir $dh;

srand 530;    # the same random lines every run
my $random = '';
for (1 .. 3000) {
    my $unix = int(rand(4102444800 + 2147483648)) - 2147483648;    # 1901 .. 2100
    my $nano = rand() < 0.9 ? int(rand(1e9)) : int(rand(4294967296));
    $random .= label($unix, $nano) . " line $_\n";
}
$cases{'3000 random labels, 1901-2100, some nanoseconds over 10^9'} = $random;

my $dst = '';
for my $edge (1774746000, 1792890000, 1772953200, 1793516400, 1774656000, 1793484000) {
    # Berlin 2026-03-29 / 10-25 01:00 UTC, New York 03-08 07:00 / 11-01 07:00 UTC (the switch at
    # 06:00 is inside the hour before), and two UTC midnights
    $dst .= label($edge + $_, 1000 * ($_ + 4000) + 500) . " dst $_\n" for -3601, -1, 0, 1, 1799, 3600;
}
$cases{'labels around DST changes'} = $dst;

my $L = '@400000006b0739a214240374';
$cases{'lines without a label'} = "plain text\n\n   indented\n2026-11-25 19:40:08.1 already converted\n$L after\n";
$cases{'binary bytes'} = join('', map { "$L " . join('', map { chr } grep { $_ != 10 } ($_ * 16 .. $_ * 16 + 15)) . "\n" } 0 .. 15)
    . "\x00\x01\xff no label\r\n" . "$L\ttab\r\n" . "$L" . "x no space\n";
$cases{'missing final newline'} = "$L first\n$L last line without newline";
$cases{'unlabelled last line without newline'} = "$L first\nno newline here";
$cases{'a label alone at the end, no newline'} = "$L first\n$L";
$cases{'empty input'} = '';

my @TZ = ('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata');
for my $name (sort keys %cases) {
    for my $tz (@TZ) {
        my ($want, $trc, $tsig) = run($cases{$name}, $tz, $TAI);
        my ($got, $qrc) = run($cases{$name}, $tz, $Q, 'tai64n');
        ok($trc == 0 && $tsig == 0, "tai64nlocal handles '$name' ($tz)") or diag "exit $trc signal $tsig";
        is($qrc, 0, "qpstat tai64n: exit 0 on '$name' ($tz)");
        ok($got eq $want, "byte-identical to tai64nlocal: '$name' ($tz)") or do {
            my @g = split /^/m, $got;
            my @w = split /^/m, $want;
            for my $i (0 .. $#w) {
                next if defined $g[$i] && $g[$i] eq $w[$i];
                diag "first difference at line " . ($i + 1) . ":\n  got:  " . ($g[$i] // '(none)') . "  want: $w[$i]";
                last;
            }
        };
    }
}

# ---- labels that crash tai64nlocal ------------------------------------------
my @crash = (
    '@4000 short label',
    '@400000006B0739A214240374 upper case',
    '@40000000zz0739a214240374 not hex',
    '@ a lone at sign',
    '@',
    '@400000006b0739a2142403741234 too long',
    '@ffffffffffffffffffffffff out of range',
);
for my $line (@crash) {
    my (undef, $trc, $tsig) = run("$line\n", 'UTC', $TAI);
  SKIP: {
        skip "this tai64nlocal does not crash on '$line'", 1 unless $tsig;
        is($tsig, 11, "tai64nlocal dies with SIGSEGV on '$line'");
    }
    my ($got, $qrc) = run("$line\n", 'UTC', $Q, 'tai64n');
    is("$qrc|$got", "0|$line\n", "qpstat tai64n copies '$line' unchanged, exit 0");
}
{
    # in a stream, the lines around a bad label are still converted
    my $good1 = "$L before\n";
    my $good2 = label(1795640400, 123456789) . " after\n";
    my $input = $good1 . join('', map { "$_\n" } @crash) . $good2;
    my ($lost, undef, $sig) = run($input, 'Europe/Berlin', $TAI);
    my ($w1) = run($good1, 'Europe/Berlin', $TAI);
    my ($w2) = run($good2, 'Europe/Berlin', $TAI);
    my ($got, $qrc) = run($input, 'Europe/Berlin', $Q, 'tai64n');
    is($qrc, 0, 'a stream with bad labels: exit 0');
    is($got, $w1 . join('', map { "$_\n" } @crash) . $w2, '... good lines converted as tai64nlocal does, bad ones copied');
  SKIP: {
        skip 'tai64nlocal did not crash', 1 unless $sig;
        is($lost, '', 'where tai64nlocal loses even the lines before the bad label');
    }
}

done_testing;
