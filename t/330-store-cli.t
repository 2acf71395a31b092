# qpstat import / report --db / --keep / summary / check through the CLI:
# idempotent, resumable, rotation-proof, and the same numbers as the logs.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use JSON::PP ();
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cli_merged);

qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
$ENV{TZ} = 'UTC';
$ENV{QPSTAT_NOW} = 1795640000;    # 2026-11-25 20:53 UTC, after the sample's records
delete $ENV{QPSTAT_DB};

sub rows_csv {
    my ($db, $by) = @_;
    my ($rc, $out) = run_cli_merged('report', '--db', $db, '--format', 'csv', '--by', $by);
    return $out;
}

my $tmp = tempdir(CLEANUP => 1);
my $sample = 't/data/multilog-094';

# ---- report --db equals the report over the same logs
for my $fixture ($sample, 't/data/dialect-08x.log', 't/data/dialect-04x.log', 't/data/syslog-093.log',
    't/data/tai64nlocal-093.log', 't/data/logfile-094.log', 't/data/edge-cases.log') {
    my $db = "$tmp/eq-" . ($fixture =~ s{\W}{_}gr) . '.db';
    my ($rc, $out) = run_cli_merged('import', '--db', $db, $fixture);
    is($rc, 0, "import $fixture") or diag $out;
    for my $fmt (qw(text csv)) {
        my @by = $fmt eq 'csv' ? ('--by', 'disposition') : ();
        my (undef, $logs) = run_cli_merged('report', '--format', $fmt, @by, $fixture);
        my (undef, $store) = run_cli_merged('report', '--format', $fmt, @by, '--db', $db);
        is($store, $logs, "$fixture: report --db --format $fmt = report over the logs");
    }
    my (undef, $logs) = run_cli_merged('report', '--by', 'disposition,tld', '--format', 'csv', '--since', '2026-11-25 19:38',
        '--until', '2026-11-25 19:39', $fixture);
    my (undef, $store) = run_cli_merged('report', '--by', 'disposition,tld', '--format', 'csv', '--since',
        '2026-11-25 19:38', '--until', '2026-11-25 19:39', '--db', $db);
    is($store, $logs, "$fixture: a time selection gives the same table from the store");
}

# ---- every window of seconds: a connection's accept and its connection
# time share a row in the store, yet each counts at its own time
{
    my $db = "$tmp/windows.db";
    run_cli_merged('import', '--db', $db, $sample);
    my @edges = ('2026-11-25 19:37:00', (map { sprintf '2026-11-25 19:37:%02d', $_ } 20 .. 59),
        (map { sprintf '2026-11-25 19:%02d:00', $_ } 38 .. 41));
    my $same = 0;
    my @differ;
    for my $i (0 .. $#edges - 1) {
        for my $by (qw(connections connection-time disposition)) {
            my @w = ('--since', $edges[$i], '--until', $edges[$i + 1]);
            my (undef, $logs) = run_cli_merged('report', '--format', 'csv', '--by', $by, @w, $sample);
            my (undef, $store) = run_cli_merged('report', '--format', 'csv', '--by', $by, @w, '--db', $db);
            $store eq $logs ? $same++ : push @differ, "$by @w";
        }
    }
    is_deeply(\@differ, [], "$same windows of one to sixty seconds: store = logs for connections, "
        . 'connection times and dispositions');
}

# ---- a store of schema 1 (qpstat before its import was made fast) is
# migrated when opened for writing: its rows and its live records' twins
# survive. t/data/store-v1.db holds the rotated file of the 0.94 sample,
# imported, and the records of `current` as the plugin wrote them.
{
    my $db = "$tmp/v1.db";
    copy('t/data/store-v1.db', $db) or die "copy: $!";
    my ($rc, $out) = run_cli_merged('report', '--db', $db);
    is($rc, 1, 'a report does not migrate a schema 1 store (it opens it read-only)');
    like($out, qr/old schema: import into it first/, '... and says what to do');
    ($rc, $out) = run_cli_merged('import', '--db', $db, $sample);
    is($rc, 0, 'import into a schema 1 store') or diag $out;
    my ($v) = `sqlite3 '$db' 'PRAGMA user_version'` =~ /(\d+)/;
    is($v, 6, 'the store is at schema 6 now');
    my $cols = `sqlite3 '$db' 'SELECT group_concat(name) FROM pragma_table_info("transactions")'`;
    unlike($cols, qr/\bline\b/, 'no raw lines are kept');
    for my $fmt (qw(text json)) {
        my (undef, $logs) = run_cli_merged('report', '--format', $fmt, $sample);
        my (undef, $store) = run_cli_merged('report', '--format', $fmt, '--db', $db);
        $_ =~ s/"kinds":\{[^}]*\},?//g for $logs, $store;    # the store keeps no other kinds
        is($store, $logs, "migrated store: report --format $fmt = report over the logs (the plugin's records paired)");
    }
}

# ---- a log without timestamps (qpsmtpd's stderr kept without multilog's
# labels): its records have no time; the store keeps them so, and a time
# selection leaves them out (untimed) as the log report does
{
    my $bare = "$tmp/bare.log";
    open my $out, '>', $bare or die;
    for my $f (sort glob("$sample/\@*"), "$sample/current") {
        open my $in, '<', $f or die;
        while (<$in>) { s/\A\@[0-9a-f]{24} //; print $out $_ }
    }
    close $out;
    my $db = "$tmp/bare.db";
    my ($rc, $out_text) = run_cli_merged('import', '--db', $db, $bare);
    is($rc, 0, 'import a log without timestamps') or diag $out_text;
    for my $sel ([], ['--since', '2026-11-25 19:38'], ['--until', '2026-11-25 19:38']) {
        for my $fmt (qw(text json)) {
            my (undef, $logs) = run_cli_merged('report', '--format', $fmt, @$sel, $bare);
            my (undef, $store) = run_cli_merged('report', '--format', $fmt, @$sel, '--db', $db);
            if ($fmt eq 'json') {
                # the store counts the lines read and invalid, not their kinds
                # and reasons; out of range and untimed, only among the lines
                # it keeps
                my $js = JSON::PP->new->canonical;
                ($logs, $store) = map {
                    my $d = $js->decode($_);
                    delete @$d{qw(kinds invalid)};
                    delete @{ $d->{lines} }{qw(out_of_range untimed)};
                    $js->encode($d)
                } $logs, $store;
            }
            is($store, $logs, "no timestamps, @$sel --format $fmt: store = logs");
        }
    }
    my (undef, $logs) = run_cli_merged('report', '--by', 'day', '--format', 'csv', $bare);
    unlike($logs, qr/1970/, '(no day 1970-01-01 for records without a time)');
}

# ---- a schema 1 store of an early build, without the indexes of live rows
{
    my $db = "$tmp/v1-early.db";
    copy('t/data/store-v1.db', $db) or die "copy: $!";
    system('sqlite3', $db, 'DROP INDEX transactions_live; DROP INDEX connections_live;') == 0 or die 'sqlite3';
    my ($rc, $out) = run_cli_merged('import', '--db', $db, $sample);
    is($rc, 0, 'an early schema 1 store (fewer indexes) is migrated too') or diag $out;
    my (undef, $logs) = run_cli_merged('report', '--format', 'csv', '--by', 'disposition', $sample);
    my (undef, $store) = run_cli_merged('report', '--format', 'csv', '--by', 'disposition', '--db', $db);
    is($store, $logs, '... and reports what the logs report');
}

# ---- idempotent: a second import adds nothing
my $db = "$tmp/q.db";
my ($rc, $out) = run_cli_merged('import', '-v', '--db', $db, $sample);
like($out, qr/\b64 new records in all/, 'first import: 17 records and 47 connection facts (3 queue acceptances)');
($rc, $out) = run_cli_merged('import', '-v', '--db', $db, $sample);
like($out, qr/\b0 new records in all/, 'second import adds nothing');
is(rows_csv($db, 'disposition'), run_logs('disposition', $sample), 'counts unchanged after a second import');
is((stat $db)[2] & 07777, 0640, 'the store is created with mode 0640');

sub run_logs { my ($by, @p) = @_; my (undef, $o) = run_cli_merged('report', '--format', 'csv', '--by', $by, @p); $o }

# ---- resumable: a file imported while growing, cut in the middle of a line
my $dir = "$tmp/ml";
mkdir $dir;
open my $in, '<', "$sample/\@400000006b07398735c119cc.s" or die;
my @lines = <$in>;
close $in;
my $half = int(@lines / 2);
open my $cur, '>', "$dir/current" or die;
print $cur @lines[0 .. $half - 1];
my $cut = $lines[$half];
print $cur substr($cut, 0, 30);    # a line still being written
close $cur;
my $db2 = "$tmp/grow.db";
($rc, $out) = run_cli_merged('import', '--db', $db2, $dir);
is($rc, 0, 'import of a growing file');
open $cur, '>>', "$dir/current" or die;
print $cur substr($cut, 30), @lines[$half + 1 .. $#lines];
close $cur;
($rc, $out) = run_cli_merged('import', '--db', $db2, $dir);
# multilog rotates: current becomes @label.s (same inode, same first line)
rename "$dir/current", "$dir/\@400000006b07398735c119cc.s" or die;
open $cur, '>', "$dir/current" or die;
close $cur;
($rc, $out) = run_cli_merged('import', '-v', '--db', $db2, $dir);
like($out, qr/\b0 new records in all/, 'the rotated file is not read again');
is(rows_csv($db2, 'disposition'), run_logs('disposition', "$sample/\@400000006b07398735c119cc.s"),
    'growing file + cut line + rotation: same counts as one import of the whole file');

# ---- .gz and .u files
my $gzdir = "$tmp/gz";
mkdir $gzdir;
copy("$sample/\@400000006b07398735c119cc.s", "$gzdir/\@400000006b07398735c119cc.u") or die;
system("gzip -c '$sample/current' > '$gzdir/old.log.1.gz'") == 0 or die;
my $db3 = "$tmp/gz.db";
($rc, $out) = run_cli_merged('import', '-v', '--db', $db3, $gzdir);
like($out, qr/\.u: 61 new records/, '.u file imported');
like($out, qr/old\.log\.1\.gz: 3 new records/, '.gz file imported');
($rc, $out) = run_cli_merged('import', '-v', '--db', $db3, $gzdir);
like($out, qr/\b0 new records in all/, '.u and .gz are imported once');

# ---- --keep prunes records but keeps daily totals
my $db4 = "$tmp/keep.db";
run_cli_merged('import', '--db', $db4, $sample);
my $before = rows_csv($db4, 'disposition');
{
    local $ENV{QPSTAT_NOW} = 1795640000 + 3 * 86400;
    ($rc, $out) = run_cli_merged('import', '-v', '--keep', '2', '--db', $db4);
    like($out, qr/pruned 17 records/, '--keep 2 prunes the records older than two days');
}
is(rows_csv($db4, 'disposition'), $before, 'disposition totals survive pruning (daily totals)');
is(rows_csv($db4, 'day'), run_logs('day', $sample), 'day totals survive pruning');
like(rows_csv($db4, 'ip'), qr/^ip,count,percent\r\n\z/, 'per-record detail (ip) is gone after pruning');

# ---- summary over logs and store
($rc, $out) = run_cli_merged('summary', $sample);
is($rc, 0, 'summary over the logs');
like($out, qr/^# TOTALS\s+1 100%\s+\d+\s+17 100%/m, 'summary: current file 1 record, cumulative 17');
like($out, qr/^# naughty\s+1 100%\s+1\s+1\s+5%\s+1$/m, 'summary: naughty is the one record of current');
like($out, qr/^# queued\s+0\s+0%\s+0\s+3\s+17%\s+3$/m, 'summary: queued 0 in current, 3 in all');
($rc, $out) = run_cli_merged('summary', '--db', $db);
like($out, qr/^# TOTALS\s+\d+ 100%\s+\d+\s+17 100%/m, 'summary from the store: 17 in all');

# ---- bad stores: a clear error, exit 1, the file untouched
my $junk = "$tmp/junk.db";
open my $j, '>', $junk or die;
print $j "this is not sqlite\n" x 100;
close $j;
my $size = -s $junk;
($rc, $out) = run_cli_merged('report', '--db', $junk);
is($rc, 1, 'non-SQLite file: exit 1');
like($out, qr/not a qpstat store/, 'non-SQLite file: clear message');
($rc, $out) = run_cli_merged('import', '--db', $junk, $sample);
is($rc, 1, 'import into a non-SQLite file: exit 1');
is(-s $junk, $size, 'the non-SQLite file is untouched');

my $newer = "$tmp/newer.db";
run_cli_merged('import', '--db', $newer, $sample);
if (system('sqlite3', $newer, 'PRAGMA user_version = 99;') == 0) {
    ($rc, $out) = run_cli_merged('import', '--db', $newer, $sample);
    is($rc, 1, 'newer schema: exit 1');
    like($out, qr/schema version 99, newer than this qpstat/, 'newer schema: clear message');
    ($rc, $out) = run_cli_merged('report', '--db', $newer);
    is($rc, 1, 'newer schema: report refuses too');
}

my $other = "$tmp/other.db";
if (system('sqlite3', $other, 'CREATE TABLE t(x); INSERT INTO t VALUES (1);') == 0) {
    ($rc, $out) = run_cli_merged('import', '--db', $other, $sample);
    is($rc, 1, 'someone else\'s SQLite database: exit 1');
    like($out, qr/not a qpstat store/, 'someone else\'s database: clear message');
}

# a store truncated in its middle: corrupt
my $corrupt = "$tmp/corrupt.db";
copy($db, $corrupt) or die;
{
    open my $c, '+<', $corrupt or die;
    binmode $c;
    seek $c, 4096, 0;
    print $c "\xff" x 4096;
    close $c;
}
($rc, $out) = run_cli_merged('report', '--db', $corrupt);
ok($rc == 1 || $rc == 0, 'corrupt store: no crash (exit ' . $rc . ')');
unlike($out, qr/Segmentation|Aborted/, 'corrupt store: no crash message');
like($out, qr/qpstat report: .*(malformed|not a qpstat store|cannot)/, 'corrupt store: a clear message') if $rc;

SKIP: {
    skip 'root ignores file modes', 3 if $> == 0;
    my $ro = "$tmp/ro.db";
    copy($db, $ro) or die;
    chmod 0444, $ro;
    ($rc, $out) = run_cli_merged('import', '--db', $ro, $sample);
    is($rc, 1, 'read-only store: import exits 1');
    like($out, qr/read-only|readonly|cannot/, 'read-only store: clear message');
    ($rc, $out) = run_cli_merged('report', '--db', $ro, '--by', 'disposition', '--format', 'csv');
    is($rc, 0, 'read-only store: reports still work');
}

# ---- usage errors
($rc, $out) = run_cli_merged('import', '--keep', 'x');
is($rc, 2, 'import --keep x: usage error');
($rc, $out) = run_cli_merged('import', '--db', "$tmp/x.db", '-');
is($rc, 2, 'import - : usage error (stdin cannot be resumed)');
($rc, $out) = run_cli_merged('report', '--db', $db, $sample);
is($rc, 2, 'report --db with paths: usage error');

# ---- check
my $cdir = "$tmp/check";
mkdir $cdir;
copy("$sample/current", "$cdir/current") or die;
copy("$sample/\@400000006b07398735c119cc.s", "$cdir/\@400000006b07398735c119cc.u") or die;
($rc, $out) = run_cli_merged('check', '--db', "$tmp/check.db", $cdir);
is($rc, 1, 'check: problems found -> exit 1');
like($out, qr/state is missing/, 'check: the missing state file (bug 3393)');
like($out, qr/\.u is unprocessed/, 'check: the .u file');
($rc, $out) = run_cli_merged('check', '--fix', '--db', "$tmp/check.db", $cdir);
is($rc, 0, 'check --fix: everything fixed');
ok(-e "$cdir/state", 'check --fix recreated the state file');
like($out, qr/imported .*\.u \(61 new records\)/, 'check --fix imported the .u file');
($rc, $out) = run_cli_merged('check', '--db', "$tmp/check.db", $cdir);
is($rc, 0, 'check after --fix: no problem');

done_testing;
