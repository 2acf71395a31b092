#!/usr/bin/perl
# t/374-conn-times.t - connection times as packed rows (schema 6, table
# conn_times): a store of schema 5 (t/data/store-v5.db, written by the
# qpstat of before from the logs below) is read as it is, migrated at its
# first import with nothing doubled or lost; times of a minute to years
# (beyond the rows counted in place) are kept exactly; a live time the
# log corrects is taken back; damaged rows are an error, never a crash.
use strict;
use warnings;
use lib 't/lib', 'blib/lib', 'blib/arch';
use QpstatTest qw(qpstat_bin run_cmd tmpdir);
use File::Copy qw(copy);
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
plan skip_all => 'sqlite3 is not installed (sh scripts/deps.sh test)' unless `sqlite3 -version 2>/dev/null`;

my $tmp = tmpdir();
my @LOGS = ('t/data/multilog-094', 't/data/edge-cases.log', 't/data/long-connections.log', 't/data/syslog-093.log');
my @TABLES = ('connection-time', 'connections', 'disposition', 'hour', 'day', 'score');

sub sql { my ($db, $q) = @_; my $r = `sqlite3 '$db' "$q"`; chomp $r; $r }

sub report {
    my (@args) = @_;
    my ($out, $err, $rc) = run_cmd([$Q, 'report', @args]);
    return $rc ? "exit $rc: $err" : $out;
}

# every table, as CSV, and the whole JSON report (the kinds of lines are
# counted over logs only: the store keeps the kinds it stores)
sub tables {
    my (@src) = @_;
    my $all = report('--format', 'json', @src);
    $all =~ s/"kinds":\{[^}]*\},?//g;
    $all =~ s/"invalid":\{[^}]*\},?//g;
    return join "\n", $all, map { report('--format', 'csv', '--by', $_, @src) } @TABLES;
}

my $logs = tables(@LOGS);
like(report('--format', 'csv', '--by', 'connection-time', 't/data/long-connections.log'),
    qr/^count,13\r?\n.*^max,99999999999\.999\r?$/ms, 'the long connections: 13, up to 3 years');

# ---- schema 5, read as it is, then migrated
{
    my $db = "$tmp/v5.db";
    copy('t/data/store-v5.db', $db) or die "copy: $!";
    is(sql($db, 'PRAGMA user_version'), 5, 'the fixture is a store of schema 5');
    my $ms_rows = sql($db, "SELECT count(*) FROM totals WHERE what = 'ms'");
    cmp_ok($ms_rows, '>', 50, "... keeping its connection times as $ms_rows totals rows");
    is(tables('--db', $db), $logs, 'report --db reads a store of schema 5 as the logs are');
    is(sql($db, 'PRAGMA user_version'), 5, '... and leaves it as it was');

    my ($out, $err, $rc) = run_cmd([$Q, 'import', '-v', '--db', $db, @LOGS]);
    is($rc, 0, 'import into it') or diag $err;
    like($out . $err, qr/\b0 new records in all/, '... adds nothing (every line was imported before)');
    is(sql($db, 'PRAGMA user_version'), 6, '... and migrates it to schema 6');
    is(sql($db, "SELECT count(*) FROM totals WHERE what = 'ms'"), 0, '... whose totals keep no connection times');
    cmp_ok(sql($db, 'SELECT count(*) FROM conn_times'), '>', 0, '... its packed rows do');
    is(tables('--db', $db), $logs, 'the migrated store = report over the logs: nothing doubled, nothing lost');
    # the rows of all time (span 0) hold every time once
    my ($max_bucket) = sql($db, 'SELECT max(bucket) FROM conn_times');
    is($max_bucket, int(99_999_999_999_999 / 1024), 'a time of three years is in its bucket of 1,024 ms');
}

# ---- a new store: the same, and an import again doubles nothing
{
    my $db = "$tmp/new.db";
    my ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, @LOGS]);
    is($rc, 0, 'import into a new store') or diag $err;
    is(tables('--db', $db), $logs, 'a new store = report over the logs');
    run_cmd([$Q, 'import', '--db', $db, @LOGS]);
    is(tables('--db', $db), $logs, '... after a second import too');
    my $per_day = sql($db, 'SELECT count(DISTINCT span) FROM conn_times');
    cmp_ok($per_day, '>', 1, "the times are kept by day and of all time ($per_day spans)");

    # the day tables of a range that covers whole days read the rows by day
    my @day = ('--since', '2026-11-25', '--until', '2026-11-25');
    is(report('--format', 'csv', '--by', 'connection-time', @day, '--db', $db),
        report('--format', 'csv', '--by', 'connection-time', @day, @LOGS), 'one whole day: store = logs');
}

# ---- a live time the log corrects: the plugin's is taken back
{
    require Qpstat::Store;
    my $db = "$tmp/live.db";
    my $store = Qpstat::Store->open($db, create => 1);
    # pid 40008 of the log took 65.536 s; the plugin saw (say) 3.001 s,
    # another pid's 70 s is in no log
    my $t = 0x6b10001c - 10;    # that line's time (TAI64 label minus 10 s)
    ok($store->record_line('40008 (post-connection) connection_time: 3.001 s.', time => $t, source => 'plugin'),
        'the plugin records a connection time');
    ok($store->record_line('49998 (post-connection) connection_time: 70.000 s.', time => $t, source => 'plugin'),
        '... and one the log does not have');
    undef $store;
    like(report('--format', 'csv', '--by', 'connection-time', '--db', $db), qr/^count,2\r?$/m, 'two live times');
    my ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, 't/data/long-connections.log']);
    is($rc, 0, 'import the log') or diag $err;
    my $got = report('--format', 'csv', '--by', 'connection-time', '--db', $db);
    like($got, qr/^count,14\r?$/m, 'the live time of 40008 is the log\'s now (13 + the one only live)');
    is(sql($db, "SELECT count(*) FROM connections WHERE kind = 'connection_time' AND pid = 40008"), 1,
        '... stored once');
    my $log_sum = 0;
    $log_sum += $_ for (0.000, 0.001, 65.535, 65.536, 65.537, 120.5, 120.5, 3600, 86399.999, 86400, 1000000.5,
        4294967.295, 99999999999.999);
    my ($mean) = $got =~ /^mean,([0-9.]+)/m;
    is(sprintf('%.3f', $mean), sprintf('%.3f', ($log_sum + 70) / 14), '... and the mean counts its time, not 3.001');
}

# ---- damaged rows: a clear error, nothing read past a row's end
{
    my $good = "$tmp/good.db";
    run_cmd([$Q, 'import', '--db', $good, 't/data/long-connections.log']);
    my %damage = (
        'a varint that runs off the end' => "UPDATE conn_times SET counts = x'ff'",
        'a gap past its bucket'          => "UPDATE conn_times SET counts = x'8010' || counts",
        'a bucket out of range'          => "UPDATE conn_times SET bucket = -1 WHERE bucket = (SELECT max(bucket) FROM conn_times)",
        'a text for counts'              => "UPDATE conn_times SET counts = 'zzzzzzzz'",
    );
    for my $what (sort keys %damage) {
        my $db = "$tmp/damaged.db";
        unlink $db;
        run_cmd(['sqlite3', $good, "VACUUM INTO '$db'"]);
        is(system('sqlite3', $db, $damage{$what}), 0, "$what: made");
        my ($out, $err, $rc) = run_cmd([$Q, 'report', '--by', 'connection-time', '--db', $db]);
        is($rc, 1, "$what: report --db exits 1");
        like($err, qr/the store's connection times are damaged \(conn_times row span -?\d+, bucket -?\d+\)/,
            "$what: ... and says which row");
        ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, 't/data/edge-cases.log']);
        isnt($rc, 0, "$what: an import that would add to it fails") if $what ne 'a bucket out of range';
        like($err, qr/damaged|^$/, "$what: ... clearly");
    }
}

done_testing();
