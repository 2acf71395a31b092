#!/usr/bin/perl
# t/500-cli.t - the qpstat CLI: golden outputs and error handling.
#
# Golden tests: for each fixture of t/data (made by t/data/make-fixtures.pl)
# `qpstat report` output is compared byte for byte with
# t/data/<fixture>.<by>.<fmt>.expected (<by> "all" = no --by; "," in a
# dimension is written "_"). TZ=UTC and QPSTAT_NOW make the output
# deterministic. A missing or different expected file makes the test fail and
# leaves the actual output in t/data/<...>.got: read it, check its numbers
# against the log by hand, and only then rename it to .expected.
#
# Then: the same log in every dialect/framing gives the same tables; JSON
# parses and agrees with CSV; and the error cases (usage errors exit 2,
# unreadable input exits 1, junk and over-long lines are counted invalid).
use strict;
use warnings;
use lib 't/lib';
use QpstatTest qw(qpstat_bin golden_path golden_csv_dims %FIXTURE run_cmd slurp spew parse_csv);
use Test::More;
use File::Temp ();
use POSIX ();
use JSON::PP ();

my $qpstat = qpstat_bin();
unless ($qpstat) {
    fail('a qpstat binary exists and is executable (build first, or set QPSTAT)');
    done_testing;
    exit;
}

$ENV{TZ} = 'UTC';
$ENV{QPSTAT_NOW} = 1795640400;    # 2026-11-25 21:00:00 UTC, the fixtures' day
$ENV{LC_ALL} = 'C';
delete $ENV{LANG};

my $D = 't/data';
my %FIX = %FIXTURE;
my @FIXTURES = sort keys %FIX;
-e $FIX{$_} or BAIL_OUT("fixture $FIX{$_} missing: run perl t/data/make-fixtures.pl") for @FIXTURES;

# The keyed dimensions and the two metric ones.
my @KEYED = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam');
my @METRIC = ('connections', 'connection-time');



# Runs a command (list form, no shell); returns stdout, stderr, exit code,
# signal.
sub run {
    my ($cmd, %o) = @_;
    my ($out, $err, $rc, undef, $sig) = run_cmd($cmd, %o);
    return { out => $out, err => $err, rc => $rc, sig => $sig };
}

sub report { run([$qpstat, 'report', @_]) }


# ---------------------------------------------------------------------------
# 1. golden files

sub golden {
    my ($fixture, $by, $fmt, @args) = @_;
    my $name = golden_path($fixture, $by, $fmt);
    (my $got = $name) =~ s/\.expected$/.got/;
    my $r = report(@args, $FIX{$fixture});
    my $label = "golden $fixture --by $by --format $fmt";
    if ($r->{rc} != 0 || $r->{sig} || length $r->{err}) {
        fail("$label: exit $r->{rc}, signal $r->{sig}, no stderr");
        diag $r->{err};
        return;
    }
    if (!-e $name) {
        spew($got, $r->{out});
        fail("$label: $name is missing; output written to $got (check it by hand, then rename)");
        return;
    }
    my $same = $r->{out} eq slurp($name);
    ok($same, $label) or do {
        spew($got, $r->{out});
        diag("differs from $name (actual output in $got)");
        diag `diff -u '$name' '$got' 2>&1 | head -40`;
    };
    unlink $got if $same;
}

for my $f (@FIXTURES) {
    golden($f, 'all', 'text', '--format', 'text');
    golden($f, 'all', 'json', '--format', 'json');
    golden($f, $_, 'csv', '--format', 'csv', '--by', $_) for golden_csv_dims($f);
}
golden('edge-cases', 'mail', 'text', '--mail');

# ---------------------------------------------------------------------------
# 2. one log, every dialect and framing: the same numbers

for my $f (qw(dialect-08x dialect-04x tai64nlocal-093 syslog-093)) {
    for my $dim (@KEYED, @METRIC) {
        my $want = report('--format', 'csv', '--by', $dim, $FIX{'multilog-094'});
        my $have = report('--format', 'csv', '--by', $dim, $FIX{$f});
        is($have->{out}, $want->{out}, "$f --by $dim = multilog-094 --by $dim");
    }
    my $want = report('--format', 'json', $FIX{'multilog-094'});
    my $have = report('--format', 'json', $FIX{$f});
    is($have->{out}, $want->{out}, "$f: the full JSON report = multilog-094's");
}

# ---------------------------------------------------------------------------
# 3. JSON parses and agrees with CSV

my $json = JSON::PP->new;
for my $f (@FIXTURES) {
    my $all = report('--format', 'json', $FIX{$f});
    my $doc = eval { $json->decode($all->{out}) };
    ok($doc, "$f: the full JSON report parses") or diag $@;
    next unless $doc;
    my $text = report($FIX{$f})->{out};
    my ($read, $parsed, $invalid, $tx) = $text =~ /^Lines: (\d+) read, (\d+) parsed, (\d+) invalid\. Transactions: (\d+)\./;
    is_deeply([@{ $doc->{lines} }{qw(read parsed invalid)}, $doc->{transactions}], [$read, $parsed, $invalid, $tx],
        "$f: JSON line counts = the text report's header");
    is($doc->{lines}{parsed} + $doc->{lines}{invalid}, $doc->{lines}{read}, "$f: parsed + invalid = read");
    my $kinds = 0;
    $kinds += $_ for values %{ $doc->{kinds} };
    is($kinds, $doc->{lines}{read}, "$f: the line kinds add up to the lines read");

    for my $dim (@KEYED) {
        my $csv = report('--format', 'csv', '--by', $dim, $FIX{$f});
        my $one = $json->decode(report('--format', 'json', '--by', $dim, $FIX{$f})->{out});
        my ($head, @rows) = parse_csv($csv->{out});
        my $jd = $one->{dimensions}{$dim};
        my @cols = $dim eq 'disposition,tld' ? ('disposition', 'tld') : ($dim);
        is_deeply($head, [@cols, 'count', 'percent'], "$f --by $dim: CSV header");
        # CSV writes control bytes as the text format does (\xNN, \\); JSON
        # escapes them its own way: compare the keys through the same mapping
        my $as_text = sub {
            my $k = shift;
            $k =~ s/\\/\\\\/g;
            $k =~ s/([\x00-\x1f\x7f])/sprintf('\\x%02x', ord $1)/ge;
            return $k;
        };
        my @jrows = map {
            my $r = $_;
            [(map { $as_text->($r->{$_}) } @cols), $r->{count}, sprintf('%.2f', $r->{percent})]
        } @{ $jd->{rows} };
        is_deeply(\@rows, \@jrows, "$f --by $dim: JSON rows = CSV rows (keys, counts, percents, order)");
        my $sum = 0;
        $sum += $_->[-2] for @rows;
        if ($dim =~ /^(sender|ip|helo)$/) {
            # percentages of all records; records without the field (e.g. no
            # MAIL FROM yet) are the row with an empty key
            is($jd->{total}, $doc->{transactions}, "$f --by $dim: total = records");
            is($sum, $jd->{total}, "$f --by $dim: the CSV counts add up to the total");
        } else {
            is($jd->{total}, $sum, "$f --by $dim: JSON total = sum of the CSV counts");
        }
        is_deeply($doc->{dimensions}{$dim}, $jd, "$f --by $dim: same table in the full JSON report");
    }
    for my $dim (@METRIC) {
        my ($head, @rows) = parse_csv(report('--format', 'csv', '--by', $dim, $FIX{$f})->{out});
        my %csv = map { $_->[0] => $_->[1] } @rows;
        my %js = %{ $doc->{dimensions}{$dim} };
        # CSV prints counts as integers and times with 3 decimals
        my %want = map { $_ => ($dim eq 'connections' || $_ eq 'count' ? $js{$_} : sprintf('%.3f', $js{$_})) } keys %js;
        is_deeply($head, [$dim, 'value'], "$f --by $dim: CSV header");
        is_deeply(\%csv, \%want, "$f --by $dim: JSON metrics = CSV metrics");
    }
}

# The numbers of the full 0.94 log, checked by hand against the log (grep):
# 17 logterse lines, 20 "Accepted connection", 4 "Too many connections:",
# 19 connection_time lines, 2 hosts_allow records, 3 "250 Queued" replies.
{
    my $doc = $json->decode(report('--format', 'json', $FIX{'multilog-094'})->{out});
    is_deeply([@{ $doc->{lines} }{qw(read invalid)}, $doc->{transactions}], [399, 0, 17],
        'multilog-094: 399 lines, none invalid, 17 records');
    is_deeply($doc->{dimensions}{connections}, { accepted => 20, peak => 3, limit => 15, too_many => 4, hosts_allow => 2, queue_accepted => 3 },
        'multilog-094: connection facts');
    is($doc->{dimensions}{'connection-time'}{count}, 19, 'multilog-094: 19 connection times');
    my $e = $json->decode(report('--format', 'json', $FIX{'edge-cases'})->{out});
    is_deeply([@{ $e->{lines} }{qw(read invalid)}, $e->{transactions}, $e->{kinds}{continuation}], [136, 0, 16, 1],
        'edge-cases: 136 lines, 16 records, 1 continuation line');
    my %helo = map { $_->{helo} => $_->{count} } @{ $e->{dimensions}{helo}{rows} };
    is($helo{"evil\x1b[31m.example"}, 1, 'edge-cases: the HELO with an ESC byte round-trips through JSON');
    my %rcpt = map { $_->{recipient} => $_->{count} } @{ $e->{dimensions}{recipient}{rows} };
    is_deeply(\%rcpt, { 'x.org' => 8, 'y.org' => 1 }, 'edge-cases: recipient domains, lower-cased, each recipient counted');
    my ($bad) = grep { /\\x1b|\x1b/ } split /\n/, report('--by', 'helo', $FIX{'edge-cases'})->{out};
    like($bad, qr/evil\\x1b\[31m\.example/, 'edge-cases: the text report escapes the ESC byte');
    unlike(report($FIX{'edge-cases'})->{out}, qr/\x1b/, 'edge-cases: no raw ESC in the text report');
}

# ---------------------------------------------------------------------------
# 4. errors and hostile input

my $tmp = File::Temp->newdir;

{
    my $r = report('--no-such-option', $FIX{'edge-cases'});
    is($r->{rc}, 2, 'unknown option: exit 2');
    like($r->{err}, qr/unrecognized option|unknown option/, 'unknown option: message on stderr');
    is($r->{out}, '', 'unknown option: nothing on stdout');

    # --by parses as the core's qps_dims_parse does (serve's ?by= too)
    my $default = report($FIX{'multilog-094'});
    is(report('--by', 'all', $FIX{'multilog-094'})->{out}, $default->{out}, '--by all: the default report');
    my $once = report('--by', 'tld', $FIX{'multilog-094'});
    is(report('--by', 'tld,tld', '--by', 'tld', $FIX{'multilog-094'})->{out}, $once->{out},
        'a table named twice is printed once');
    $r = report('--by', 'tld,', $FIX{'multilog-094'});
    is($r->{rc}, 2, '--by with a trailing comma: exit 2');
    like($r->{err}, qr/unknown --by dimension in 'tld,'/, '... naming it');
    $r = report('--format', 'csv', '--by', 'all', $FIX{'edge-cases'});
    is($r->{rc}, 2, '--format csv --by all: exit 2 (one table)');

    $r = report('--format', 'csv', '--by', 'disposition', '--by', 'tld', $FIX{'edge-cases'});
    is($r->{rc}, 2, '--format csv with two --by: exit 2');
    like($r->{err}, qr/csv/, '--format csv with two --by: message on stderr');
    is($r->{out}, '', '--format csv with two --by: nothing on stdout');

    $r = report('--format', 'xml', $FIX{'edge-cases'});
    is($r->{rc}, 2, '--format xml: exit 2');
    $r = report('--by', 'nonsense', $FIX{'edge-cases'});
    is($r->{rc}, 2, '--by nonsense: exit 2');
    $r = report('--help');
    is($r->{rc}, 0, '--help: exit 0');
    like($r->{out}, qr/^usage: qpstat report/, '--help: usage on stdout');
}

{
    # An unreadable file. chmod 000 does not stop root: then a path that
    # does not exist stands in for it.
    my $path = "$tmp/unreadable.log";
    spew($path, slurp($FIX{'edge-cases'}));
    chmod 0000, $path;
    my $why = 'chmod 000 file';
    if (open my $fh, '<', $path) {
        close $fh;
        $path = "$tmp/does-not-exist.log";
        $why = 'nonexistent file (running as root)';
    }
    my $r = report($path);
    is($r->{rc}, 1, "$why: exit 1");
    like($r->{err}, qr/^qpstat report: cannot open \Q$path\E/m, "$why: 'qpstat report: cannot open' on stderr");
    $r = report('--format', 'csv', '--by', 'disposition', $path, $FIX{'edge-cases'});
    is($r->{rc}, 1, "$why next to a good file: exit 1 ...");
    like($r->{out}, qr/^queued,6,/m, '... and the report still covers the readable file');
    chmod 0600, "$tmp/unreadable.log";
}

{
    my $path = "$tmp/empty.log";
    spew($path, '');
    my $r = report($path);
    is($r->{rc}, 0, 'empty file: exit 0');
    like($r->{out}, qr/^Lines: 0 read, 0 parsed, 0 invalid\. Transactions: 0\./, 'empty file: "0 read"');
    is($r->{err}, '', 'empty file: nothing on stderr');
}

{
    # Binary junk: deterministic pseudo-random bytes (an LCG), NULs and
    # newlines included, every line containing a NUL.
    my ($x, $junk) = (12345, '');
    for my $line (1 .. 200) {
        my $n = 20 + $line % 50;
        my $s = '';
        for (1 .. $n) {
            $x = ($x * 1103515245 + 12345) % 2147483648;
            $s .= chr(($x >> 16) & 255);
        }
        $s =~ tr/\n//d;
        substr($s, ($x >> 8) % length($s), 0, "\0");
        $junk .= "$s\n";
    }
    my $path = "$tmp/junk.bin";
    spew($path, $junk);
    my $r = report('--format', 'json', $path);
    is($r->{rc}, 0, 'binary junk: exit 0');
    is($r->{sig}, 0, 'binary junk: no crash');
    my $doc = eval { $json->decode($r->{out}) };
    ok($doc, 'binary junk: JSON still parses') or diag $@;
    is($doc->{lines}{read}, 200, 'binary junk: 200 lines read');
    is($doc->{lines}{invalid}, 200, 'binary junk: all 200 counted invalid');
    is($doc->{invalid}{nul}, 200, 'binary junk: ... for their NUL bytes');
    is($doc->{transactions}, 0, 'binary junk: no records');
    $r = run([$qpstat, 'report', '--format', 'csv', '--by', 'disposition', '-'], stdin => $path);
    is_deeply([$r->{rc}, $r->{out}], [0, "disposition,count,percent\r\n"], 'binary junk on stdin: empty table, exit 0');
}

{
    # A 1 MB line between two records: counted invalid, the next line parsed.
    my $rec = slurp($FIX{'edge-cases'}) =~ /^(\@\S+ 30020 \(queue\) logging::logterse: [^\n]*\n)/m ? $1 : die;
    my $path = "$tmp/long.log";
    spew($path, $rec . '@400000006b06958b0d924fd4 30020 ' . ('x' x (1024 * 1024)) . "\n" . $rec);
    my $r = report('--format', 'json', $path);
    is($r->{rc}, 0, '1 MB line: exit 0');
    is($r->{sig}, 0, '1 MB line: no crash');
    my $doc = $json->decode($r->{out});
    is_deeply([@{ $doc->{lines} }{qw(read parsed invalid)}, $doc->{invalid}{too_long}, $doc->{transactions}],
        [3, 2, 1, 1, 2], '1 MB line: counted invalid (too long), the records around it counted');
}

{
    # stdin gives the same report as the file
    my $r = run([$qpstat, 'report', '--format', 'csv', '--by', 'tld', '-'], stdin => $FIX{'edge-cases'});
    is($r->{out}, report('--format', 'csv', '--by', 'tld', $FIX{'edge-cases'})->{out}, 'stdin "-" = file');
}

done_testing;
