#!/usr/bin/perl
# t/370-journal.t - the systemd journal as a log source (issue 11), reading
# side: journal files made from the fixtures by systemd-journal-remote (no
# journald needed) give the same report as the log file of the same lines,
# for every table; the unit becomes the service table and key; tail, grep,
# list and summary read it too; `journalctl -o short-iso` text (the
# reference tool's own export) reports the same; without PATHs, empty log
# directories make the commands read the journal, saying so; bad journals
# give a clear message, never a crash or a hang.
use strict;
use warnings;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp spew file_lines tmpdir);
use QpstatJournal qw(journal_remote journal_support label_lines export_stream make_journal);
use JSON::PP ();
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
plan skip_all => 'systemd-journal-remote is not installed (sh scripts/deps.sh test)' unless journal_remote();
if (!journal_support($Q)) {
    # the one thing a build without libsystemd must do: say so
    my ($out, $err, $rc) = run_cmd([$Q, 'report', '--journal']);
    like($err, qr/built without journal support/, 'without libsystemd: a clear message');
    is($rc, 1, '... exit 1');
    done_testing;
    exit 0;
}

my $tmp = tmpdir();
my @TABLES = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam', 'connections', 'connection-time');
my $json = JSON::PP->new->canonical;

sub q_json {
    my (@args) = @_;
    my ($out, $err, $rc, undef, $sig) = run_cmd([$Q, 'report', '--format', 'json', @args]);
    is($sig, 0, "report @args: no signal") or diag $err;
    my $r = eval { $json->decode($out) } or do { fail("report @args: JSON") ; diag $err; return {} };
    return $r;
}

# what a table report says: lines by kind, invalid reasons, the table
sub table_view {
    my ($r) = @_;
    return $json->encode({ lines => $r->{lines}, kinds => $r->{kinds}, transactions => $r->{transactions},
        invalid => $r->{invalid}, dimensions => $r->{dimensions} });
}

# ---- report --journal-file = report over the same lines, every table ----
my %sources = (
    'multilog-094' => [map { file_lines($_) } sort(glob 't/data/multilog-094/@*.s'), 't/data/multilog-094/current'],
    map { ($_ => [file_lines("t/data/$_.log")]) } qw(edge-cases dialect-04x dialect-08x),
);
my %journal;
for my $name (sort keys %sources) {
    my @lines = @{ $sources{$name} };
    my @entries = label_lines(@lines);
    ok(@entries > 50, "$name: " . scalar(@entries) . ' entries');
    # the log file of the same lines: those with a label and text
    my %keep = map { $_->[1] => 1 } @entries;
    my $log = "$tmp/$name.log";
    spew($log, join '', map {"$_\n"} grep { /^\@[0-9a-f]{24} (.*)\z/s && $keep{$1} } @lines);
    $journal{$name} = make_journal("$tmp/$name.journal", export_stream(\@entries));
    for my $by (@TABLES) {
        my $want = table_view(q_json('--by', $by, $log));
        my $got  = table_view(q_json('--by', $by, '--journal-file', $journal{$name}));
        is($got, $want, "$name --by $by: the journal reports as the log file");
    }
    my ($jtext) = run_cmd([$Q, 'report', '--journal-file', $journal{$name}]);
    my ($ftext) = run_cmd([$Q, 'report', $log]);
    like($jtext, qr/^== service ==\n.*\n.*Total.*\n +\d+  qpsmtpd +100\.00%$/m,
        "$name: the default report adds the service table (one unit)");
    (my $jcut = $jtext) =~ s/\n== service ==\n.*//s;
    my ($jlines) = $jtext =~ /^(Lines: .*)$/m;
    my ($flines) = $ftext =~ /^(Lines: .*)$/m;
    is($jlines, $flines, "$name: the same line counts");

    # the reference tool's own text export reads the same
    my ($short, $jerr) = run_cmd(['journalctl', '--file', $journal{$name}, '-a', '-o', 'short-iso']);
    spew("$tmp/$name.short", $short);
    for my $by ('disposition', 'day', 'ip', 'connections') {
        # (its lines name the program, not the unit: a pid-less line is no continuation there)
        my ($got, $want) = map { my $r = $_; delete $r->{kinds}; table_view($r) }
            q_json('--by', $by, "$tmp/$name.short"), q_json('--by', $by, $log);
        is($got, $want,
            "$name --by $by: journalctl -o short-iso | qpstat report - reads the same");
    }

    # tail and grep: the same events (grep's stamp column is the journal's)
    my ($tj) = run_cmd([$Q, 'tail', '-n', 'all', '--journal-file', $journal{$name}]);
    my ($tf) = run_cmd([$Q, 'tail', '-n', 'all', $log]);
    ok(length $tf, "$name: tail shows events");
    is($tj, $tf, "$name: tail --journal-file = tail of the log file");
    my ($gj, undef, $gjrc) = run_cmd([$Q, 'grep', 'queued', '--journal-file', $journal{$name}]);
    my ($gf, undef, $gfrc) = run_cmd([$Q, 'grep', 'queued', $log]);
    s/^[^\t\n]*\t//mg for $gj, $gf;
    is($gj, $gf, "$name: grep --journal-file = grep of the log file (stamps aside)");
    is($gjrc, $gfrc, "$name: grep's exit status too");
    my ($lj) = run_cmd([$Q, 'list', '--limit', '0', '--format', 'csv', '--journal-file', $journal{$name}]);
    my ($lf) = run_cmd([$Q, 'list', '--limit', '0', '--format', 'csv', $log]);
    # the server column: the journal's _HOSTNAME, none in a multilog file
    s/^([^,\r\n]*),[^,\r\n]*,/$1,,/mg for $lj, $lf;
    is($lj, $lf, "$name: list --journal-file = list of the log file (server aside)");
}

# ---- two units: the service table and key ----
{
    my @e25  = label_lines(file_lines('t/data/edge-cases.log'));
    my @e587 = label_lines(file_lines('t/data/dialect-08x.log'));
    my $dir = "$tmp/two";
    mkdir $dir or die;
    make_journal("$dir/smtp.journal", export_stream(\@e25, unit => 'qpsmtpd.service'));
    make_journal("$dir/submission.journal",
        export_stream(\@e587, unit => 'uqpsmtpd.service', seq => 100000, boot => 'fedcba9876543210fedcba9876543210'));
    my $r = q_json('--by', 'service', '--journal-dir', $dir);
    my %svc = map { $_->{service} => $_->{count} } @{ $r->{dimensions}{service}{rows} };
    my $t25  = q_json('--by', 'disposition', '--journal-file', $journal{'edge-cases'})->{transactions};
    my $t587 = q_json('--by', 'disposition', '--journal-file', $journal{'dialect-08x'})->{transactions};
    is_deeply(\%svc, { qpsmtpd => $t25, uqpsmtpd => $t587 }, 'the service table counts each unit\'s transactions');
    for my $by ('disposition', 'tld', 'ip') {
        my $where = q_json('--by', $by, '--where', 'service=uqpsmtpd', '--journal-dir', $dir);
        my $alone = q_json('--by', $by, '--journal-file', $journal{'dialect-08x'});
        is($json->encode($where->{dimensions}), $json->encode($alone->{dimensions}),
            "--where service=uqpsmtpd --by $by: the submission unit's mail alone");
    }
    my $only = q_json('--by', 'disposition', '--journal-dir', $dir, '--unit', 'uqpsmtpd');
    is($only->{transactions}, $t587, '--unit uqpsmtpd reads that unit only');
    my $both = q_json('--by', 'disposition', '--journal-dir', $dir, '--unit', 'uqpsmtpd', '--unit', 'qpsmtpd.service');
    is($both->{transactions}, $t25 + $t587, '--unit is repeatable');
    my ($list) = run_cmd([$Q, 'list', '--limit', '0', '--format', 'csv', '--where', 'service=qpsmtpd', '--journal-dir', $dir]);
    my @rows = grep { length } split /\r\n/, $list;
    is(@rows - 1, $t25, 'list --where service=qpsmtpd lists the port 25 transactions');
    like($rows[1], qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,mx,/, 'list: time and server (the journal\'s _HOSTNAME)');

    # the realtime timestamp is the time: the hour table in UTC
    my $hours = q_json('--by', 'hour', '--utc', '--journal-file', $journal{'edge-cases'});
    my $fhours = q_json('--by', 'hour', '--utc', 't/data/edge-cases.log');
    is($json->encode($hours->{dimensions}), $json->encode($fhours->{dimensions}), 'hours: the entries\' realtime');
    my $since = q_json('--by', 'disposition', '--since', '2026-11-24 12:00Z', '--journal-file', $journal{'edge-cases'});
    my $fsince = q_json('--by', 'disposition', '--since', '2026-11-24 12:00Z', 't/data/edge-cases.log');
    is($since->{transactions}, $fsince->{transactions}, '--since selects by the realtime timestamp');

    # summary reads it too
    my ($sj, $sjerr, $sjrc) = run_cmd([$Q, 'summary', '--journal-file', $journal{'edge-cases'}]);
    my ($sf) = run_cmd([$Q, 'summary', "$tmp/edge-cases.log"]);
    is($sjrc, 0, 'summary --journal-file: exit 0') or diag $sjerr;
    my @tot_j = $sj =~ /^(#.*%.*|#.*transactions.*)$/mg;
    my @tot_f = $sf =~ /^(#.*%.*|#.*transactions.*)$/mg;
    ok(@tot_f, 'summary of the log file has totals');
    is("@tot_j", "@tot_f", 'summary --journal-file: the same totals');
}

# ---- a message without qpsmtpd's pid: the entry's _PID; syslog datagrams ----
{
    my $f = make_journal("$tmp/syslog.journal", export_stream(
        [[1795600000_000000, '(deny) logging::logterse: ` 192.0.2.9	h	h	<a@b.example>	<c@d.example>	queued	250	Queued!'],
         [1795600001_000000, '250 Queued!']],
        transport => 'syslog', pid => 4242));
    my ($out) = run_cmd([$Q, 'list', '--format', 'csv', '--journal-file', $f]);
    like($out, qr/192\.0\.2\.9,h,<a\@b\.example>/, 'a logging/syslog record (no pid in the text) is read');
    my $r = q_json('--by', 'connections', '--journal-file', $f);
    is($r->{kinds}{reply}, 1, '"250 Queued!" from syslog is a reply, not pid 250');
    is($r->{dimensions}{connections}{queue_accepted}, 1, '... the queue plugin accepted the message');
}

# ---- without PATHs: empty log directories, the journal is read, saying so ----
{
    my $empty = "$tmp/varlog";
    mkdir $empty or die;
    mkdir "$empty/qpsmtpd" or die;
    my $jdir = "$tmp/jdir";
    mkdir $jdir or die;
    make_journal("$jdir/system.journal", export_stream([label_lines(file_lines('t/data/edge-cases.log'))]));
    my %env = (QPSTAT_LOG_DIRS => "$empty/qpsmtpd:$empty/sqpsmtpd", QPSTAT_JOURNAL_DIR => $jdir);
    my ($out, $err, $rc) = run_cmd([$Q, 'report', '--by', 'disposition'], env => \%env);
    is($rc, 0, 'report without PATHs, logs empty, journal full: exit 0') or diag $err;
    my @said = split /\n/, $err;
    is(scalar @said, 1, 'one line says so') or diag $err;
    like($err, qr/^qpstat report: no logs in the log directories: reading the journal \(units qpsmtpd\.service, uqpsmtpd\.service, sqpsmtpd\.service\)$/,
        '... naming the units');
    my ($want) = run_cmd([$Q, 'report', '--by', 'disposition', '--journal-file', "$jdir/system.journal"]);
    is($out, $want, '... and reports the journal');
    for my $cmd (['summary'], ['grep', 'queued'], ['list']) {
        my (undef, $e2, $rc2) = run_cmd([$Q, @$cmd], env => \%env);
        like($e2, qr/^qpstat $cmd->[0]: no logs in the log directories: reading the journal/, "$cmd->[0] too");
        is($rc2, 0, "$cmd->[0]: exit 0") or diag $e2;
    }
    # logs present: they are read, the journal is not
    spew("$empty/qpsmtpd/current", join '', map {"$_\n"} file_lines('t/data/dialect-04x.log'));
    ($out, $err, $rc) = run_cmd([$Q, 'report', '--by', 'disposition'], env => \%env);
    unlike($err, qr/journal/, 'logs in the directories: no word of the journal');
    my ($logs) = run_cmd([$Q, 'report', '--by', 'disposition', "$empty/qpsmtpd"]);
    is($out, $logs, '... the logs are reported');
    unlink "$empty/qpsmtpd/current";
    # neither: the message it always gave
    ($out, $err, $rc) = run_cmd([$Q, 'report'], env => { %env, QPSTAT_JOURNAL_DIR => "$tmp/nojournal",
        QPSTAT_LOG_DIRS => "$tmp/none1:$tmp/none2" });
    like($err, qr/no log directory found/, 'no logs, no journal: the old message');
    is($rc, 1, '... exit 1');
}

# ---- bad input: a clear message, no crash, no hang ----
{
    my $real = $journal{'edge-cases'};
    my $size = -s $real;
    my $data = slurp($real);
    spew("$tmp/trunc.journal", substr($data, 0, 4096));
    spew("$tmp/half.journal", substr($data, 0, int($size / 3)));
    spew("$tmp/junk.journal", join '', map { chr(($_ * 7919) % 256) } 1 .. 20000);
    # damaged where the entries are: what can be read is, the rest is said
    my $flipped = $data;
    my $at = index($data, 'Accepted connection') + 3000;
    substr($flipped, $at, 512) = "\xff" x 512;
    spew("$tmp/flipped.journal", $flipped);
    spew("$tmp/zero.journal", '');
    mkdir "$tmp/nodir";
    for my $case (
        [['--journal-file', "$tmp/trunc.journal"], qr/cannot open journal file \S+trunc\.journal: .+/, 'a file cut to 4 KiB'],
        [['--journal-file', "$tmp/junk.journal"], qr/cannot open journal file \S+junk\.journal: not a journal file/, 'junk'],
        [['--journal-file', "$tmp/zero.journal"], qr/cannot open journal file \S+zero\.journal: .+/, 'an empty file'],
        [['--journal-file', "$tmp/missing.journal"], qr/No such file or directory/, 'a missing file'],
        [['--journal-dir', "$tmp/nodir"], qr/cannot open journal directory \S+nodir: no journal files in it/, 'a directory with no journal'],
        [['--journal-dir', "$tmp/missing-dir"], qr/cannot open journal directory \S+missing-dir: /, 'a missing directory'],
        ) {
        my ($args, $re, $what) = @$case;
        my ($out, $err, $rc, undef, $sig) = run_cmd([$Q, 'report', '--by', 'disposition', @$args], timeout => 60);
        is($sig, 0, "$what: no crash");
        isnt($rc, -1, "$what: no hang");
        is($rc, 1, "$what: exit 1");
        like($err, $re, "$what: a clear message") or diag $err;
        unlike($err, qr/Assertion|Aborted|\bat [\w\/]+\.c:/i, "$what: no assertion");
    }
    # damaged in the middle or cut short: what can be read is, never a crash or a hang
    for my $f ("$tmp/half.journal", "$tmp/flipped.journal") {
        my ($out, $err, $rc, undef, $sig) = run_cmd([$Q, 'report', '--format', 'json', '--by', 'disposition',
            '--journal-file', $f], timeout => 60);
        is($sig, 0, "$f: no crash");
        isnt($rc, -1, "$f: no hang");
        ok($rc == 0 || ($rc == 1 && $err =~ /journal/), "$f: read, or a message naming the journal") or diag $err;
        like($err, qr/the journal is damaged: the entries after the first \d+ cannot be read/, "$f: said to be damaged")
            if $f =~ /flipped/;
        ok(eval { JSON::PP->new->decode($out) }, "$f: the report is still written") or diag $out;
        my ($t, $terr, $trc, undef, $tsig) = run_cmd([$Q, 'tail', '-n', 'all', '--journal-file', $f], timeout => 60);
        is($tsig, 0, "$f: tail, no crash");
    }
    # a unit with no entries: a warning, an empty report
    my ($out, $err, $rc) = run_cmd([$Q, 'report', '--by', 'disposition', '--journal-file', $real, '--unit', 'nosuch']);
    is($rc, 0, 'a unit with no entries: exit 0');
    like($err, qr/warning: journal file \S+: no entries of unit nosuch\.service in the journal/, '... a warning naming it');
    like($out, qr/Transactions: 0\./, '... no transactions');
    ($out, $err, $rc) = run_cmd([$Q, 'report', '--by', 'disposition', '--journal-file', $real, '--unit', 'nosuch',
        '--unit', 'qpsmtpd']);
    like($err, qr/no entries of unit nosuch\.service/, 'one of two units empty: named');
    ($out, $err, $rc) = run_cmd([$Q, 'tail', '-f', '-n', '0', '--journal-file', $real, '--unit', 'nosuch'], timeout => 3);
    like($err, qr/no entries of unit nosuch\.service/, 'tail -f on a unit with no entries: the warning, then it waits');
    # usage errors
    for my $case ([['--journal-file', $real, '--journal-dir', $tmp], qr/give one of them/],
                  [['--unit', ''], qr/--unit needs a unit name/],
                  [['--journal', '--db', "$tmp/x.db"], qr/--db reads the store, not the journal/]) {
        my ($o, $e, $r) = run_cmd([$Q, 'report', @{ $case->[0] }]);
        is($r, 2, "report @{ $case->[0] }: usage error");
        like($e, $case->[1], '... saying why');
    }
}

# ---- tail -f: entries appended, a journal file added, shown as they come ----
{
    my $dir = "$tmp/follow";
    mkdir $dir or die;
    my @entries = label_lines(file_lines('t/data/edge-cases.log'));
    my @first = @entries[0 .. 39];
    make_journal("$dir/a.journal", export_stream(\@first));
    my $out = "$tmp/follow.out";
    my $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', "$out.err" or die;
        exec $Q, 'tail', '-f', '-n', 'all', '--journal-dir', $dir or exit 127;
    }
    my $wait_for = sub {
        my ($re) = @_;
        for (1 .. 200) {
            return 1 if -e $out && slurp($out) =~ $re;
            select undef, undef, undef, 0.05;
        }
        return 0;
    };
    ok($wait_for->(qr/192\.0\.2\.1\t0\/15/), 'tail -f: the entries there at the start');
    # a writer adds a journal file to the directory (what journald does at rotation)
    make_journal("$dir/b.journal", export_stream(
        [[1795640000_000000, '31999 Accepted connection 3/15 from 198.51.100.77 / new.example']], seq => 9000,
        boot => 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'));
    ok($wait_for->(qr/31999\t198\.51\.100\.77\t3\/15/), 'tail -f: an entry in a new journal file is shown');
    # and entries appended to a file it reads
    make_journal("$dir/a.journal", export_stream(
        [[1795640001_000000, '31998 Accepted connection 4/15 from 198.51.100.78 / more.example']], seq => 9500));
    ok($wait_for->(qr/31998\t198\.51\.100\.78\t4\/15/), 'tail -f: an entry appended to a journal file is shown');
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is(slurp("$out.err"), '', 'tail -f: nothing on stderr');

    # --journal-file: entries appended to that file
    unlink $out;
    $pid = fork // die;
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', "$out.err" or die;
        exec $Q, 'tail', '-f', '-n', '1', '--journal-file', "$dir/a.journal" or exit 127;
    }
    ok($wait_for->(qr/31998\t198\.51\.100\.78\t4\/15/), 'tail -f --journal-file: the last entry there');
    make_journal("$dir/a.journal", export_stream(
        [[1795640002_000000, '31997 Accepted connection 5/15 from 198.51.100.79 / last.example']], seq => 9600));
    ok($wait_for->(qr/31997\t198\.51\.100\.79\t5\/15/), 'tail -f --journal-file: an entry appended is shown');
    kill 'TERM', $pid;
    waitpid $pid, 0;
    unlike(slurp($out), qr/31999/, '... the other file of the directory is not read');
}

done_testing;
