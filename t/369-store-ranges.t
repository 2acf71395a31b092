#!/usr/bin/perl
# t/369-store-ranges.t - report --db reads the totals the store keeps as it
# is written (tables spans and totals) for the days a range covers whole,
# and the records for the rest: it must give exactly what report gives over
# the same logs, for every table, over ranges of whole days, of parts of
# days and across midnight, in zones other than UTC (one with a DST change
# inside the log, one half an hour off, whose hours the store's spans do
# not start on), for a store written in one zone and read in another, and
# after --keep pruned the first days (their totals stay).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd tmpdir);
use ImportCheck qw(genlog);
use JSON::PP;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();

# 3.5 days from 2026-10-23 00:00 UTC: Europe/Berlin leaves summer time on the 25th
mkdir "$tmp/log";
genlog("$tmp", "$tmp/log/current", '--start', 1792713600, '--rate', '0.0135', '--connections', 4000, '--seed', 369);

our @BY = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip', 'helo',
    'score', 'spam', 'connections', 'connection-time', 'category', 'hour,category', 'hour,disposition',
    'day,disposition', 'code');

# The report's tables and transactions (the lines and kinds a store does
# not keep apart; the server table, where a store names its host and the
# log does not, is t/542's), as JSON text to compare.
my $json = JSON::PP->new->canonical;
sub tables {
    my ($tz, @args) = @_;
    my ($out, $err, $rc) = run_cmd([$Q, 'report', '--format', 'json', '--top', '0', (map { ('--by', $_) } @BY), @args],
        env => { TZ => $tz }, timeout => 120);
    return "exit $rc: $err" if $rc;
    my $r = decode_json($out);
    return $json->encode({ transactions => $r->{transactions}, dimensions => $r->{dimensions} });
}

my @RANGES = (
    ['everything'],
    ['two whole days', '--since', '2026-10-23', '--until', '2026-10-24'],
    ['the day summer time ends', '--since', '2026-10-25', '--until', '2026-10-25'],
    ['parts of two days', '--since', '2026-10-23 13:17:05', '--until', '2026-10-24 05:43'],
    ['across midnight', '--since', '2026-10-24 23:00', '--until', '2026-10-25 01:00'],
    ['a whole day and the next one\'s start', '--since', '2026-10-24', '--until', '2026-10-26 09:30'],
    ['from a time on', '--since', '2026-10-25 02:30'],
    ['until a time', '--until', '2026-10-24 12:00'],
);

my %want; # the logs' reports, by zone and range
for my $writer ('Europe/Berlin', 'America/New_York') {
    my $db = "$tmp/" . ($writer =~ s{/}{-}r) . '.db';
    my (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, "$tmp/log"], env => { TZ => $writer }, timeout => 120);
    is($rc, 0, "imported under TZ=$writer") or diag($err);
    my ($spans) = run_cmd(['sqlite3', $db, 'SELECT count(*) FROM spans']);
    cmp_ok($spans, '>=', 4, "the store keeps its totals by day: $spans spans of $writer");
    for my $reader ($writer, 'UTC', 'Asia/Kolkata') {
        for my $r (@RANGES) {
            my ($what, @args) = @$r;
            for my $utc ([], ['--utc']) {
                my $want = $want{"$reader @args @$utc"} //= tables($reader, @args, @$utc, "$tmp/log");
                is(tables($reader, @args, @$utc, '--db', $db), $want,
                    "written in $writer, read in $reader@$utc: $what: report --db = report over the logs");
            }
        }
    }
}

# Pruned days keep their totals: a report over them still counts by
# disposition, hour, category, code, spam, score and connection time as the
# logs do (the remote parties, as many as the records, go with them).
{
    my $db = "$tmp/pruned.db";
    run_cmd([$Q, 'import', '--db', $db, "$tmp/log"], env => { TZ => 'Europe/Berlin' }, timeout => 120);
    my (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--keep', '2', "$tmp/log"],
        env => { TZ => 'Europe/Berlin', QPSTAT_NOW => 1792713600 + 3 * 86400 + 7200 }, timeout => 120);
    is($rc, 0, 'import --keep 2 pruned the first days') or diag($err);
    my ($left) = run_cmd(['sqlite3', $db, "SELECT count(*) FROM transactions WHERE time < 1792713600 + 86400"]);
    is($left + 0, 0, 'the records of 2026-10-23 are gone');
    local @BY = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'score', 'spam', 'connections',
        'connection-time', 'category', 'hour,category', 'hour,disposition', 'day,disposition', 'code');
    my @whole = ('--since', '2026-10-23', '--until', '2026-10-23');
    is(tables('Europe/Berlin', @whole, '--db', $db), tables('Europe/Berlin', @whole, "$tmp/log"),
        'pruned whole days: every table but the remote parties = report over the logs');
    my ($ips) = run_cmd([$Q, 'report', '--db', $db, '--by', 'ip', '--format', 'csv', @whole], env => { TZ => 'Europe/Berlin' });
    is($ips, "ip,count,percent\r\n", 'the IPs of the pruned days are gone');

    # the same store as schema 3 left it (pruned days in daily and
    # daily_facts, no totals): migrated, the pruned days count as they did
    my $v3 = "$tmp/v3.db";
    run_cmd(['sqlite3', $db, "VACUUM INTO '$v3'"]);
    run_cmd(['sqlite3', $v3, 'DROP TABLE spans; DROP TABLE totals; DROP TABLE daily_v3; DROP TABLE daily_facts_v3; DROP TABLE conn_times; ALTER TABLE transactions DROP COLUMN service; PRAGMA user_version = 3']);
    (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $v3, "$tmp/log"], env => { TZ => 'Europe/Berlin' }, timeout => 120);
    is($rc, 0, 'a pruned store of schema 3 migrated') or diag($err);
    local @BY = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'day', 'category', 'code');
    for my $range ([], [@whole]) {
        is(tables('Europe/Berlin', @$range, '--db', $v3), tables('Europe/Berlin', @$range, "$tmp/log"),
            "... its pruned days and the rest (@$range) = report over the logs");
    }
    # a prune after the migration adds to the daily totals what the totals hold already: no day twice
    (undef, $err, $rc) = run_cmd([$Q, 'import', '--db', $v3, '--keep', '1', "$tmp/log"],
        env => { TZ => 'Europe/Berlin', QPSTAT_NOW => 1792713600 + 3 * 86400 + 7200 }, timeout => 120);
    is(tables('Europe/Berlin', '--db', $v3), tables('Europe/Berlin', "$tmp/log"), '... and after pruning it again');
}

done_testing;
