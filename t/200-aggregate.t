#!/usr/bin/perl
# t/200-aggregate.t - Qpstat::Agg gives the numbers of `qpstat report`:
# for each golden fixture of t/data the Perl aggregator's CSV (every
# dimension), JSON and text reports equal the CLI's output on the same
# file, byte for byte, and the golden .expected files t/500 checks (a
# missing one fails);
# rows() agrees with the CSV; feeding line by line, in chunks or by file
# is the same; the merge of two halves equals the whole.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES NOW run_cli file_lines qpstat_bin slurp golden_path golden_csv_dims);

use Qpstat::Agg;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();

my @KEYED = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam');
my @METRIC = ('connections', 'connection-time');

sub agg_of_file {
    my ($path) = @_;
    return Qpstat::Agg->new(now => NOW)->add_file($path);
}

for my $fx (@FIXTURES) {
    my $path = $FIXTURE{$fx};
    my $agg = agg_of_file($path);

    # CSV, every dimension; the golden ones against their files
    my %golden = map { $_ => 1 } golden_csv_dims($fx);
    for my $dim (@KEYED, @METRIC) {
        my ($cli) = run_cli('report', '--format', 'csv', '--by', $dim, $path);
        my $got = $agg->report(format => 'csv', by => $dim);
        is($got, $cli, "$fx: csv --by $dim equals the CLI");
        next unless $golden{$dim};
        my $file = golden_path($fx, $dim, 'csv');
        -e $file ? is($got, slurp($file), "$fx: csv --by $dim equals $file")
                 : fail("$fx: csv --by $dim: the golden file $file is missing");
    }
    # JSON and text, all tables; text with --top
    my ($json) = run_cli('report', '--format', 'json', $path);
    is($agg->report(format => 'json'), $json, "$fx: json equals the CLI");
    my $jfile = golden_path($fx, 'all', 'json');
    -e $jfile ? is($agg->report(format => 'json'), slurp($jfile), "$fx: json equals the golden file")
              : fail("$fx: json: the golden file $jfile is missing");
    my ($text) = run_cli('report', $path);
    is($agg->report, $text, "$fx: text equals the CLI");
    my ($top) = run_cli('report', '--top', '3', '--by', 'disposition,tld', '--by', 'ip,helo', $path);
    is($agg->report(by => ['disposition,tld', 'ip', 'helo'], top => 3), $top, "$fx: --top 3 and several --by");

    # rows() against the CSV: same keys, counts and (rounded) percentages
    # (keys the CSV quotes or escapes are compared by their count only)
    for my $dim (@KEYED) {
        my @csv = split /\r\n/, $agg->report(format => 'csv', by => $dim);
        shift @csv;
        my $plain = sub { !grep { !defined || /[^\x20-\x7e]|[",]/ } @_ };
        my (@got, @want);
        for my $r (@{ $agg->rows($dim) }) {
            my @key = $dim eq 'disposition,tld' ? ($r->{disposition}, $r->{tld}) : ($r->{key});
            my $row = join ',', @key, $r->{count}, sprintf('%.2f', $r->{percent});
            my $csv = shift @csv // '';
            if (!$plain->(@key)) {
                $row =~ s/.*,(?=[^,]*,[^,]*\z)//;
                $csv =~ s/.*,(?=[^,]*,[^,]*\z)//;
            }
            push @got, $row;
            push @want, $csv;
        }
        push @want, @csv;
        is_deeply(\@got, \@want, "$fx: rows('$dim') agree with the CSV");
    }

    # the same lines, line by line and in odd chunks
    my @lines = map { file_lines($_) } Qpstat::log_files($path);
    my $by_line = Qpstat::Agg->new(now => NOW);
    my $parsed = 0;
    $parsed += $by_line->add_line($_) ? 1 : 0 for @lines;
    is($by_line->report(format => 'json'), $json, "$fx: add_line gives the same report");
    is($parsed, $by_line->counts->{lines_parsed}, "$fx: add_line's return value counts the parsed lines");
    my $by_lines = Qpstat::Agg->new(now => NOW);
    is($by_lines->add_lines(@lines), $parsed, "$fx: add_lines returns the parsed count");
    is($by_lines->report(format => 'json'), $json, "$fx: add_lines gives the same report");
    my $chunked = Qpstat::Agg->new(now => NOW);
    for my $file (Qpstat::log_files($path)) {
        my $data = slurp($file);
        for (my $i = 0; $i < length $data; $i += 7) {
            $chunked->feed(substr($data, $i, 7));
        }
        $chunked->finish;
    }
    is($chunked->report(format => 'json'), $json, "$fx: feed in 7-byte chunks gives the same report");

    # merge: two halves equal the whole (split at a line that is not a
    # logterse continuation, whose meaning depends on the line before)
    my $mid = int(@lines / 2);
    $mid++ while $mid < $#lines && (Qpstat::parse_line($lines[$mid]) // {})->{kind} // '' eq 'continuation';
    my ($a, $b) = (Qpstat::Agg->new(now => NOW), Qpstat::Agg->new(now => NOW));
    $a->add_lines(@lines[0 .. $mid - 1]);
    $b->add_lines(@lines[$mid .. $#lines]);
    $a->merge($b);
    is($a->report(format => 'json'), $json, "$fx: merge of two halves equals the whole");
    my $c = Qpstat::Agg->new(now => NOW);
    $c->merge($b);
    my $d = Qpstat::Agg->new(now => NOW);
    $d->add_lines(@lines[0 .. $mid - 1]);
    $c->merge($d);
    is($c->report(format => 'json'), $json, "$fx: merge in the other order too");
}

# plain-data results on multilog-094 (numbers from its golden JSON)
{
    my $agg = agg_of_file($FIXTURE{'multilog-094'});
    my $c = $agg->counts;
    is($c->{lines_read},   399, 'counts: lines read');
    is($c->{transactions}, 17,  'counts: transactions');
    is($c->{kinds}{terse}, 17,  'counts: kinds');
    is($c->{invalid}{nul}, 0,   'counts: invalid reasons');
    # the span of the logterse records, from their TAI64N labels
    my @t;
    for my $file (glob "$FIXTURE{'multilog-094'}/*") {
        open my $fh, '<', $file or die $!;
        while (<$fh>) {
            push @t, hex($1) - 10 if /^\@4([0-9a-f]{15})[0-9a-f]{8} .*logging::logterse: `/;
        }
    }
    is(scalar @t, 17, 'the fixture holds 17 logterse lines');
    @t = sort { $a <=> $b } @t;
    is($c->{first}, $t[0],  'counts: the first transaction\'s time');
    is($c->{last},  $t[-1], 'counts: the last transaction\'s time');
    my $conn = $agg->conn_stats;
    is_deeply([@$conn{qw(accepted peak limit too_many hosts_allow timed)}], [20, 3, 15, 4, 2, 19], 'conn_stats');
    is(sprintf('%.3f', $conn->{p50}), '1.014', 'conn_stats: p50');
    my $s = $agg->spam_stats;
    is_deeply([@$s{qw(spam ham none)}], [1, 3, 13], 'spam_stats');
    is($agg->total('disposition'), 17, 'total');
    ok(!$agg->approximate('ip'), 'approximate: exact below capacity');
    my $rows = $agg->rows('disposition');
    is_deeply($rows->[0], { key => 'queued', disposition => 'queued', count => 3, error => 0,
        percent => 3 * 100 / 17 }, 'rows: first row');
    $rows->[0]{count} = 99;
    is($agg->rows('disposition')->[0]{count}, 3, 'rows are copies');
    my $pair = $agg->rows('disposition,tld');
    ok(exists $pair->[0]{disposition} && exists $pair->[0]{tld} && !exists $pair->[0]{key}, 'pair rows');
    eval { $agg->rows('connections') };
    like($@, qr/^Qpstat::Agg::rows: 'connections' has no rows/, 'metric dimension has no rows');
    like($agg->report(format => 'mail', mail_date => '2026-11-25'), qr/^Subject: Email Disposition on 2026-11-25\n.*^== Email Disposition on 2026-11-25 ==\n/ms,
        'mail format');
}

# time selection and options, against the CLI
{
    my $path = $FIXTURE{'edge-cases'};
    # 2026-11-25 09:00:00 UTC to 10:30:00 UTC
    my $agg = Qpstat::Agg->new(now => NOW, since => 1795597200, until => 1795602600);
    $agg->add_file($path);
    my ($cli) = run_cli('report', '--format', 'json', '--since', '2026-11-25 09:00Z', '--until',
        '2026-11-25 10:30Z', $path);
    is($agg->report(format => 'json'), $cli, 'since/until equal the CLI\'s --since/--until');
    my $c = $agg->counts;
    ok($c->{out_of_range} > 0 && $c->{transactions} > 0 && $c->{transactions} < 16, 'the selection selects');
    my $utc = Qpstat::Agg->new(utc => 1)->add_file($path);
    my ($cli_utc) = run_cli('report', '--format', 'csv', '--by', 'hour', '--utc', $path);
    is($utc->report(format => 'csv', by => 'hour'), $cli_utc, 'utc equals --utc');
    my ($cli_prefix) = run_cli('report', '--format', 'json', '--prefix', '~', $path);
    is(Qpstat::Agg->new(prefix => '~', now => NOW)->add_file($path)->report(format => 'json'), $cli_prefix,
        'prefix equals --prefix');
    # the CLI's relative time options and the mail report's Subject
    my $ml = $FIXTURE{'multilog-094'};
    for my $case ([['--today'], [today => 1]], [['--yesterday'], [yesterday => 1]], [['--days', 1], [days => 1]],
        [['--since', '2026-11-25 19:38Z'], [since => 1795635480]])
    {
        my ($cli_args, $opts) = @$case;
        my ($want) = run_cli('report', '--format', 'json', @$cli_args, $ml);
        is(Qpstat::Agg->new(now => NOW, @$opts)->add_file($ml)->report(format => 'json'), $want, "@$opts equals @$cli_args");
        my ($mail) = run_cli('report', '--mail', @$cli_args, $ml);
        is(Qpstat::Agg->new(now => NOW, @$opts)->add_file($ml)->report(format => 'mail'), $mail,
            "@$opts: the mail report equals --mail @$cli_args");
    }
    eval { Qpstat::Agg->new(today => 1, days => 2) };
    like($@, qr/^Qpstat::Agg::new: give only one of today, yesterday and days/, 'one relative option only');
    my $capped = Qpstat::Agg->new(capacity => 2)->add_file($path);
    ok($capped->approximate('ip'), 'a small capacity makes estimates');
    ok((grep { $_->{error} } @{ $capped->rows('ip') }), 'estimated rows carry their error bound');
}

done_testing;
