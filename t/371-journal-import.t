#!/usr/bin/perl
# t/371-journal-import.t - import, collect and check --journal (issue 11):
# the journal's cursor is the source's position, stored with the records
# in every batch. Killed at random points and run again: store = journal;
# a second journal file with later entries follows on; entries vacuumed
# before they were imported are a gap that import and check report, with
# nothing doubled; importers at once store every entry once; the plugin's
# live records and the journal's pair as twins; collect --journal stores
# entries appended while it waits. Journals are made by
# systemd-journal-remote (t/lib/QpstatJournal.pm).
use strict;
use warnings;
use lib 't/lib', 'blib/lib', 'blib/arch';
use QpstatTest qw(qpstat_bin run_cmd slurp spew file_lines tmpdir);
use QpstatJournal qw(journal_remote journal_support label_lines export_stream make_journal);
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
plan skip_all => 'systemd-journal-remote is not installed (sh scripts/deps.sh test)' unless journal_remote();
plan skip_all => 'built without journal support (t/370 checks the message)' unless journal_support($Q);

my $tmp = tmpdir();
my @TABLES = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam', 'connections', 'connection-time', 'service');
my $json = JSON::PP->new->canonical;
my @base = label_lines(file_lines('t/data/edge-cases.log'));

sub tables {
    my (@args) = @_;
    my %t;
    for my $by (@TABLES) {
        my ($out, $err, $rc) = run_cmd([$Q, 'report', '--format', 'json', '--by', $by, @args]);
        my $r = eval { $json->decode($out) } or return "bad JSON: $err";
        $t{$by} = $r->{dimensions}{$by};
        $t{transactions} = $r->{transactions};
    }
    return $json->encode(\%t);
}

# ---- a journal of many batches, imports killed at random points ----
my @big = map { my $k = $_; map { [$_->[0] + $k * 259_200_000_000, $_->[1]] } @base } 0 .. 799;
my $J = make_journal("$tmp/big.journal", export_stream(\@big));
my $want = tables('--journal-file', $J);
my $db = "$tmp/kill.db";
srand(11);
my $kills = 0;
for my $round (1 .. 6) {
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec $Q, 'import', '--db', $db, '--journal-file', $J or POSIX::_exit(127);
    }
    Time::HiRes::sleep(0.05 + rand(1.5));
    $kills += kill 'KILL', $pid;
    waitpid $pid, 0;
}
note("$kills imports killed");
my ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--journal-file', $J], timeout => 300);
is($rc, 0, 'import after the kills: exit 0') or diag $err;
is(tables('--db', $db), $want, 'store = journal for every table after imports killed at random points');
($out, $err, $rc) = run_cmd([$Q, 'import', '-v', '--db', $db, '--journal-file', $J]);
like($err, qr/the journal: 0 new records/, 'again: nothing new');
($out, $err, $rc) = run_cmd([$Q, 'check', '--db', $db, '--journal-file', $J]);
is($rc, 0, 'check --journal: in step') or diag $out;
like($out, qr/^OK: no problem found$/m, '... OK');

# a second journal file with later entries (another journal: another seqnum id)
my $last = $big[-1][0];
my @later = map { [$_->[0] - $base[0][0] + $last + 86_400_000_000, $_->[1]] } @base;
my $J2 = make_journal("$tmp/later.journal", export_stream(\@later, boot => 'fedcba9876543210fedcba9876543210'));
($out, $err, $rc) = run_cmd([$Q, 'check', '--db', $db, '--journal-file', $J2]);
is($rc, 1, 'check: the store is behind the new file');
like($out, qr/the store is behind: \d+ lines of the units' entries are not imported/, '... saying so');
($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--journal-file', $J2]);
is($rc, 0, 'import of the later file: exit 0') or diag $err;
unlike($err, qr/no longer in the journal/, '... no gap: another journal follows on');
is(tables('--db', $db), tables('--journal-file', $J, '--journal-file', $J2), 'store = both journals');

# ---- entries vacuumed before they were imported: a gap, nothing doubled ----
{
    # A: the first 60 entries, imported. B: the same journal (seqnum id)
    # after its entries 61..79 were removed: its next entry has seqnum 80.
    my $A = make_journal("$tmp/A.journal", export_stream([@base[0 .. 59]]));
    my $B = make_journal("$tmp/B.journal", export_stream([[$base[0][0] - 1000, '1 another unit']],
        unit => 'other.service'));
    open my $fa, '<:raw', $A or die;
    seek $fa, 72, 0;    # the header's seqnum_id
    read $fa, my $sid, 16;
    close $fa;
    open my $fb, '+<:raw', $B or die;
    seek $fb, 160, 0;    # tail_entry_seqnum: the next entry is 80
    print $fb pack('Q<', 79);
    seek $fb, 72, 0;
    print $fb $sid;
    close $fb;
    make_journal($B, export_stream([@base[79 .. $#base]], seq => 1000));
    my $gdb = "$tmp/gap.db";
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $gdb, '--journal-file', $A]);
    is($rc, 0, 'gap: the first part imported') or diag $err;
    ($out, $err, $rc) = run_cmd([$Q, 'check', '--db', $gdb, '--journal-file', $B]);
    is($rc, 1, 'check --journal: exit 1');
    like($out, qr/PROBLEM the journal: 19 entries after the last one imported are no longer in the journal/,
        'check reports the gap (19 entries)');
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $gdb, '--journal-file', $B]);
    is($rc, 1, 'import: exit 1 for the gap');
    like($err, qr/^qpstat import: 19 entries after the last one imported are no longer in the journal/m,
        'import reports the gap');
    my $parts = make_journal("$tmp/parts.journal", export_stream([@base[0 .. 59], @base[79 .. $#base]]));
    is(tables('--db', $gdb), tables('--journal-file', $parts), 'the store has both parts, nothing doubled');
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $gdb, '--journal-file', $B]);
    is($rc, 0, 'the next import: no gap any more') or diag $err;
    is(tables('--db', $gdb), tables('--journal-file', $parts), '... and nothing new');
}

# ---- importers at once: every entry once ----
{
    my $cdb = "$tmp/concurrent.db";
    my @pids;
    for (1 .. 3) {
        my $pid = fork // die;
        if (!$pid) {
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', "$cdb.$$.err";
            exec $Q, 'import', '--db', $cdb, '--journal-file', $J or POSIX::_exit(127);
        }
        push @pids, $pid;
    }
    my @rcs = map { waitpid($_, 0); $? >> 8 } @pids;
    is("@rcs", '0 0 0', 'three imports at once: exit 0') or diag join '', map { slurp($_) } glob "$cdb.*.err";
    is(tables('--db', $cdb), $want, '... store = journal: nothing doubled');
}

# ---- twins: the plugin's live records and the journal's ----
{
    require Qpstat::Store;
    my $tdb = "$tmp/twins.db";
    my $store = Qpstat::Store->open($tdb, create => 1);
    my $live = 0;
    for my $e (@base) {
        # what the plugin records: qpsmtpd's own lines, at their time
        next unless $e->[1] =~ /logterse: ` |Accepted connection /;
        $live += $store->record_line($e->[1], time => $e->[0] / 1e6, source => 'plugin');
    }
    undef $store;
    ok($live > 10, "$live records from the plugin");
    my $E = make_journal("$tmp/edge.journal", export_stream(\@base));
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $tdb, '--journal-file', $E]);
    is($rc, 0, 'the journal imported after the plugin stored its copies') or diag $err;
    my ($st) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'disposition', '--db', $tdb]);
    my ($lg) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'disposition', '--journal-file', $E]);
    is($json->decode($st)->{transactions}, $json->decode($lg)->{transactions}, 'each record once: twins paired');
    is(tables('--db', $tdb), tables('--journal-file', $E), 'store = journal for every table');
}

# ---- collect --journal: entries appended while it waits ----
{
    my $dir = "$tmp/live";
    mkdir $dir or die;
    my $L = make_journal("$dir/system.journal", export_stream([@base[0 .. 49]]));
    my $ldb = "$tmp/live.db";
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$tmp/collect.err";
        exec $Q, 'collect', '--db', $ldb, '--journal-dir', $dir or POSIX::_exit(127);
    }
    my $count = sub {
        my ($o) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'disposition', '--db', $ldb]);
        my $r = eval { $json->decode($o) };
        return $r ? $r->{transactions} : -1;
    };
    my $wait = sub {
        my ($n) = @_;
        for (1 .. 200) { return 1 if -e $ldb && $count->() == $n; Time::HiRes::sleep(0.05) }
        return 0;
    };
    my $first = () = grep { $_->[1] =~ /logterse: ` / } @base[0 .. 49];
    ok($wait->($first), "collect --journal stored the $first records there at the start");
    make_journal($L, export_stream([@base[50 .. $#base]], seq => 5000));
    my $all = () = grep { $_->[1] =~ /logterse: ` / } @base;
    ok($wait->($all), "... and the $all after entries were appended");
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is($? >> 8, 0, 'collect --journal stops on SIGTERM, exit 0');
    is(slurp("$tmp/collect.err"), '', '... nothing on stderr');
    is(tables('--db', $ldb), tables('--journal-dir', $dir), 'store = journal');
}

# ---- the service: the store counts each unit as the journal does ----
# Three units in one journal directory (SME Server 11's three services),
# imported: report --db --by service, --where service=U and list --where
# service=U give what report and list over the journal give; pruned days
# keep their services; a log file whose syslog idents name units
# (journalctl -o with-unit) fills the column too; a store of schema 3 is
# read as it is (no service) and migrated by the next import.
{
    my $dir = "$tmp/units";
    mkdir $dir or die;
    my %units = (qpsmtpd => 't/data/edge-cases.log', uqpsmtpd => 't/data/dialect-08x.log',
        sqpsmtpd => 't/data/dialect-04x.log');
    my $seq = 1;
    my @boots = ('0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210',
        '00112233445566778899aabbccddeeff');
    for my $u (sort keys %units) {
        make_journal("$dir/$u.journal", export_stream([label_lines(file_lines($units{$u}))], unit => "$u.service",
            seq => $seq, boot => shift @boots));
        $seq += 100_000;
    }
    my $sdb = "$tmp/units.db";
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $sdb, '--journal-dir', $dir]);
    is($rc, 0, 'service: three units imported') or diag $err;
    my ($jsvc) = run_cmd([$Q, 'report', '--by', 'service', '--journal-dir', $dir]);
    my ($dsvc, $derr, $drc) = run_cmd([$Q, 'report', '--by', 'service', '--db', $sdb]);
    is($drc, 0, 'report --db --by service: exit 0') or diag $derr;
    like($jsvc, qr/^\s+\d+\s+uqpsmtpd\s/m, 'the journal\'s service table names uqpsmtpd');
    # (the store counts the lines of records it kept, not every line read)
    s/\ALines: [^\n]*\. (Transactions: \d+)/$1/ for $jsvc, $dsvc;
    is($dsvc, $jsvc, 'report --db --by service = report --journal-dir --by service (text)');
    for my $fmt ('csv', 'json') {
        my ($j) = run_cmd([$Q, 'report', '--format', $fmt, '--by', 'service', '--journal-dir', $dir]);
        my ($d) = run_cmd([$Q, 'report', '--format', $fmt, '--by', 'service', '--db', $sdb]);
        $_ =~ s/"kinds":\{[^}]*\},?//g for $j, $d;    # the store keeps no other kinds
        $_ =~ s/"lines":\{[^}]*\},?//g for $j, $d;
        is($d, $j, "report --db --by service = the journal's, --format $fmt");
    }
    my ($f) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--journal-file', "$dir/uqpsmtpd.journal"]);
    my ($g) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--db', $sdb, '--where',
        'service=uqpsmtpd']);
    is($g, $f, 'report --db --where service=uqpsmtpd --by service = report --journal-file of that unit');
    for my $u (sort keys %units) {
        is(tables('--db', $sdb, '--where', "service=$u"), tables('--journal-dir', $dir, '--where', "service=$u"),
            "--where service=$u: store = journal for every table");
        my ($lj) = run_cmd([$Q, 'list', '--limit', '0', '--format', 'csv', '--where', "service=$u",
            '--journal-dir', $dir]);
        my ($ld) = run_cmd([$Q, 'list', '--limit', '0', '--format', 'csv', '--where', "service=$u", '--db', $sdb]);
        is(scalar(() = $ld =~ /\n/g), scalar(() = $lj =~ /\n/g), "list --db --where service=$u: the journal's rows");
    }
    my ($all_j) = run_cmd([$Q, 'report', '--journal-dir', $dir]);
    my ($all_d) = run_cmd([$Q, 'report', '--db', $sdb]);
    my ($tj) = $all_j =~ /^(== service ==\n(?:.+\n)+)/m;
    my ($td) = $all_d =~ /^(== service ==\n(?:.+\n)+)/m;
    ok(defined $td, 'report --db without --by: a service table (the records name units)') or diag $all_d;
    is($td, $tj, '... the one report --journal-dir prints');

    # pruned days keep their services (daily facts)
    my $pdb = "$tmp/units-pruned.db";
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $pdb, '--keep', '1', '--journal-dir', $dir],
        env => { QPSTAT_NOW => 4102444800 });    # 2100: every fixture's day is older
    is($rc, 0, 'import --keep 1: every record pruned') or diag $err;
    my ($cnt) = `sqlite3 '$pdb' 'SELECT count(*) FROM transactions'` =~ /(\d+)/;
    is($cnt, 0, '... the transactions table is empty');
    my ($pj) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--journal-dir', $dir]);
    my ($pd) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--db', $pdb]);
    is($pd, $pj, 'pruned: report --db --by service = the journal\'s');

    # syslog idents that name units: a log file, not the journal
    my $syslog = "$tmp/with-unit.log";
    open my $fh, '>', $syslog or die;
    for my $u (sort keys %units) {
        for my $e (label_lines(file_lines($units{$u}))) {
            my ($pid) = $e->[1] =~ /^(\d+) / or next;
            my @t = gmtime int($e->[0] / 1e6);
            printf $fh "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ mx %s.service[%s]: %s\n", $t[5] + 1900, $t[4] + 1,
                @t[3, 2, 1, 0], $e->[0] % 1_000_000, $u, $pid, $e->[1];
        }
    }
    close $fh;
    my $ldb = "$tmp/with-unit.db";
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $ldb, $syslog]);
    is($rc, 0, 'a syslog file with unit idents imported') or diag $err;
    my ($sf) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', $syslog]);
    my ($sd) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--db', $ldb]);
    like($sf, qr/^sqpsmtpd,/m, 'the file\'s idents name the units');
    is($sd, $sf, 'report --db --by service = report over the file');
    is($sd, $pj, '... = the journal\'s');

    # a store of schema 4 (before the column): read as it is, then migrated
    my $old = "$tmp/v4.db";
    run_cmd([$Q, 'import', '--db', $old, '--journal-dir', $dir]);
    is(system('sqlite3', $old, 'ALTER TABLE transactions DROP COLUMN service; DROP TABLE conn_times; '
        . "DELETE FROM totals WHERE what = 'service'; PRAGMA user_version = 4; "
        . "UPDATE meta SET value = '4' WHERE key = 'schema_version'"), 0, 'a store made schema 4 again');
    my ($v4, $v4err, $v4rc) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'disposition', '--db', $old]);
    is($v4rc, 0, 'report --db reads a store of schema 4') or diag $v4err;
    my ($jd) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'disposition', '--journal-dir', $dir]);
    is($v4, $jd, '... its records, as the journal has them');
    my ($v4s) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'service', '--db', $old]);
    unlike($v4s, qr/qpsmtpd/, '... with no service (the column came with schema 5)');
    my ($ver) = `sqlite3 '$old' 'PRAGMA user_version'` =~ /(\d+)/;
    is($ver, 4, 'reading it did not migrate it');
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $old, '--journal-dir', $dir]);
    is($rc, 0, 'import into the schema 4 store') or diag $err;
    ($ver) = `sqlite3 '$old' 'PRAGMA user_version'` =~ /(\d+)/;
    is($ver, 6, '... migrates it to schema 6');
    my ($v5) = run_cmd([$Q, 'report', '--format', 'csv', '--by', 'disposition', '--db', $old]);
    is($v5, $jd, '... nothing doubled, nothing lost');
    my ($jj) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'disposition', '--journal-dir', $dir]);
    my $tx = $json->decode($jj)->{transactions};
    my ($none) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'service', '--db', $old]);
    my $rows = $json->decode($none)->{dimensions}{service}{rows};
    is_deeply([map { [$_->{service}, $_->{count}] } @$rows], [['', $tx]],
        '... its transactions of before count under no service (the totals as the records say)');
}

# ---- two units logging in the same microsecond: a resume reads each once ----
# sd-journal seeks the stored cursor in its file and the other files by its
# realtime: their entries of that time, read before it, came again (3
# transactions doubled). The position keeps the entries of its realtime.
{
    my @e = label_lines(file_lines('t/data/edge-cases.log'));
    my @terse = grep { $e[$_][1] =~ /logterse: ` / } 0 .. $#e;
    for my $cut (@terse[1, 3]) {
        my $dir = "$tmp/ties$cut";
        mkdir $dir or die;
        my @boots = ('0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210');
        my $write = sub {
            my ($from, $to) = @_;
            my $seq = 1 + $from;
            for my $u ('qpsmtpd', 'uqpsmtpd') {
                make_journal("$dir/$u.journal", export_stream([@e[$from .. $to]], unit => "$u.service",
                    boot => $boots[$u eq 'qpsmtpd' ? 0 : 1], seq => $seq));
                $seq += 100_000;
            }
        };
        $write->(0, $cut);    # the last entries: a transaction of each unit, at one time
        my $tdb = "$tmp/ties$cut.db";
        ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $tdb, '--journal-dir', $dir]);
        is($rc, 0, "ties at entry $cut: imported") or diag $err;
        ($out, $err, $rc) = run_cmd([$Q, 'check', '--db', $tdb, '--journal-dir', $dir]);
        like($out, qr/^OK: no problem found$/m, '... check: in step (nothing after the position)');
        $write->($cut + 1, $#e);
        ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $tdb, '--journal-dir', $dir]);
        is($rc, 0, '... the rest appended and imported') or diag $err;
        is(tables('--db', $tdb), tables('--journal-dir', $dir), '... store = journal: nothing doubled');
    }
}

# ---- usage ----
for my $case ([['import', '--journal', 't/data/edge-cases.log'], qr/--journal imports the journal, not log files/],
              [['collect', '--journal', $tmp], qr/--journal follows the journal, not log directories/]) {
    my ($o, $e, $r) = run_cmd([$Q, @{ $case->[0] }, '--db', "$tmp/u.db"]);
    is($r, 2, "@{ $case->[0] }: usage error");
    like($e, $case->[1], '... saying why');
}

done_testing;
