# A report's numbers do not depend on --jobs (issue 10): the JSON of every
# table, the approximate (Space-Saving) ones included, is byte-identical for
# --jobs 1, 2, 3, 8 and 16, on a generated log where every connection brings
# a new IP, HELO and sender (more keys than a table holds, so three tables
# are approximate and their counts depend on the order of additions), with
# filters and a time range, and on each fixture repeated past the size at
# which a file is read by several threads (so the 1 MiB blocks start at many
# places inside the fixtures' records and continuation lines).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use JSON::PP ();
use QpstatTest qw(%FIXTURE @FIXTURES qpstat_bin run_cli slurp spew tmpdir);

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
my $tmp = tmpdir();
my @JOBS = (1, 2, 3, 8, 16);

system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');

sub same_for_every_jobs {
    my ($name, $file, @args) = @_;
    my ($first, $rc) = run_cli('report', '--format', 'json', @args, '--jobs', 1, $file);
    is($rc, 0, "$name: --jobs 1 exits 0") or return;
    my $doc = eval { JSON::PP->new->decode($first) };
    ok($doc, "$name: --jobs 1 prints JSON") or return;
    for my $j (@JOBS[1 .. $#JOBS]) {
        my ($out, $rc2) = run_cli('report', '--format', 'json', @args, '--jobs', $j, $file);
        is($rc2, 0, "$name: --jobs $j exits 0");
        # one ok, not is(): a mismatch would print megabytes
        ok($out eq $first, "$name: --jobs $j prints the JSON of --jobs 1") or do {
            spew("$tmp/jobs1.json", $first);
            spew("$tmp/jobs$j.json", $out);
            diag(`diff $tmp/jobs1.json $tmp/jobs$j.json | head -20`);
        };
    }
    return $doc;
}

# every key new: 72 MB, about 37,000 connections for tables of 20,000 keys
my $unique = "$tmp/unique.log";
system("$tmp/genlog --unique-keys --size 72M --seed 3 --output $unique") == 0 or die 'genlog failed';
my $doc = same_for_every_jobs('every key new', $unique);
my @approx = grep { ref eq "HASH" && $_->{approximate} } values %{ $doc->{dimensions} || {} };
cmp_ok(scalar @approx, '>=', 2, 'every key new: some tables are approximate (the hard case is tested)');
cmp_ok($doc->{lines}{read}, ">", 900_000, "every key new: every line is read");

same_for_every_jobs('every key new, --where spam=spam', $unique, '--where', 'spam=spam');
same_for_every_jobs('every key new, --since/--until', $unique, '--since', '2025-11-24 20:00', '--until',
    '2025-11-25 04:00');

# the other dialects and framings, every key new
for my $case ([ '08x', 'tai64nlocal' ], [ '04x', 'syslog' ], [ '093', 'logfile' ]) {
    my ($dialect, $framing) = @$case;
    my $log = "$tmp/$dialect-$framing.log";
    system("$tmp/genlog --unique-keys --dialect $dialect --framing $framing --size 24M --seed 7 --output $log") == 0
        or die 'genlog failed';
    same_for_every_jobs("$dialect/$framing, every key new", $log);
}

# the fixtures, each repeated to about 6 MB; a first line of another length
# in the second copy moves every block boundary to other places
for my $name (@FIXTURES) {
    my $path = $FIXTURE{$name};
    my $text = -d $path ? join('', map { slurp($_) } sort(glob("$path/\@*.[su]")), "$path/current") : slurp($path);
    $text .= "\n" unless $text =~ /\n\z/;
    for my $shift (0, 1) {
        my $big = ($shift ? "x" x 333 . "\n" : '') . $text x (int(6_000_000 / length $text) + 1);
        my $file = "$tmp/$name-$shift.log";
        spew($file, $big);
        same_for_every_jobs("$name x" . int(length($big) / length $text) . ($shift ? ', shifted' : ''), $file);
    }
}

done_testing();
