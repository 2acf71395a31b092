#!/usr/bin/perl
# t/600-qpsmtpd.t - Debian's qpsmtpd 0.94 on loopback, every offline
# disposition of formats.md section 9, checked end to end.
#
# For each run: a fresh temporary QPSMTPD_CONFIG (t/data/qpsmtpd/plugins-600),
# qpsmtpd-forkserver on 127.0.0.1 (-c 15 -m 2) under `multilog t <tmp>/log`,
# a fake spamd (t/fake-spamd.pl), and a list of SMTP sessions (swaks, and raw
# sockets for what swaks cannot do) that trigger queued, earlytalker, helo,
# count_unrecognized_commands, noop_counter, badmailfrom, naughty, badrcptto,
# rcpt_ok, loop, spamassassin and hosts_allow (901 from 127.0.0.3, 902 as the
# third simultaneous connection with -m 2). Every SMTP answer is recorded.
# After qpsmtpd is stopped:
#
#  (1) the terse lines of the multilog directory, counted by
#      `qpstat report --format csv --by disposition <logdir>`, are exactly the
#      planned dispositions and counts, and they agree with what the clients
#      were answered: every 4xx/5xx at a stage <=> one deny record of the
#      plugin of that stage (4xx <=> 902/904), every 250 after DATA <=> one
#      queued record; codes (901/902/903), queued Message-Ids and the
#      SpamAssassin field are checked on the lines themselves.
#  (2) when plugins/qpstat and Qpstat::Store are available, a second run uses
#      `qpstat db <tmp>/qpstat.db` in place of logging/logterse: (1) again on
#      its terse lines, which must also equal the reference logterse lines
#      field for field; `qpstat report --db` shows the same counts at once
#      (while qpsmtpd still runs, and after it stopped), and after
#      `qpstat import --db <tmp>/qpstat.db <logdir>` (twice) nothing changes.
#
# The reference run uses t/data/qpsmtpd/plugins/logging/logterse (Debian's
# package has no logterse). QPSTAT_KEEP_TMP=1 keeps the temporary files,
# QPSTAT_HARNESS_VERBOSE=1 narrates.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use QpsmtpdHarness;

$ENV{LC_ALL} = 'C';
my $T0 = time;
my $DATA = "$QpsmtpdHarness::REPO/t/data/qpsmtpd";

if (my @p = QpsmtpdHarness::prereq_problems()) {
    fail("prerequisites for running qpsmtpd (run sh scripts/deps.sh, then perl Makefile.PL && make)");
    diag($_) for @p;
    done_testing;
    exit;
}

# The plan: disposition => count, and disposition => code => count.
my %PLAN = (
    queued                      => 5,
    badrcptto                   => 1,
    rcpt_ok                     => 1,
    badmailfrom                 => 3,
    helo                        => 2,
    earlytalker                 => 1,
    count_unrecognized_commands => 1,
    noop_counter                => 1,
    loop                        => 1,
    naughty                     => 1,
    spamassassin                => 1,
    hosts_allow                 => 2,
);
my %PLAN_CODES = (
    badrcptto => { 901 => 1 }, rcpt_ok => { 901 => 1 }, badmailfrom => { 901 => 3 }, helo => { 903 => 2 },
    earlytalker => { 901 => 1 }, count_unrecognized_commands => { 903 => 1 }, noop_counter => { 903 => 1 },
    loop => { 901 => 1 }, naughty => { 903 => 1 }, spamassassin => { 901 => 1 },
    hosts_allow => { 901 => 1, 902 => 1 }, queued => { '' => 5 },
);

QpsmtpdHarness::diag_slow_dns();
my ($have_plugin, $why) = QpsmtpdHarness::qpstat_plugin_status();
diag("store run: " . ($have_plugin ? 'yes' : "skipped: $why"));

my %REF;    # terse lines of the logterse run, normalised
subtest 'reference run: logging/logterse' => sub { guarded('logterse') };
if ($have_plugin) {
    subtest 'store run: qpstat db <tmp>/qpstat.db' => sub { guarded('qpstat') };
}
else {
    SKIP: { skip "(2) store checks: $why", 1 }
}
diag(sprintf "t/600 took %.1f s", time - $T0);
done_testing;

# ---------------------------------------------------------------------------

sub guarded {
    my ($mode) = @_;
    eval { run_once($mode); 1 } or do { fail("$mode run died: $@"); QpsmtpdHarness::stop_all() };
}

sub run_once {
    my ($mode) = @_;
    my $t0 = time;
    my $h = QpsmtpdHarness->new(name => "600-$mode", lifetime => 300);
    my $db = $h->tmp . '/qpstat.db';
    my $logger = $mode eq 'qpstat' ? "qpstat db $db" : 'logging/logterse';
    my $spamd = $h->start_spamd;
    $h->write_config(
        plugins => [split /\n/, QpsmtpdHarness::template('plugins-600',
            SPAMD_PORT => $spamd, LOGGER => $logger, MAILDIR => $h->maildir)],
        files => { map { $_ => QpstatTest::slurp("$DATA/$_") } qw(badmailfrom badrcptto badhelo hosts_allow) },
    );
    $h->start(max_conn => 15, max_per_ip => 2);
    note("qpsmtpd: " . $h->{qp_cmd});

    my @sessions = run_sessions($h);

    # every session must have been answered as planned
    for my $s (@sessions) {
        my $got = join ' ', map {"$_->[0]:$_->[1]"} @{ $s->{answers} };
        like($got, $s->{want}, "$mode: session $s->{name} answered as planned")
            or diag("answers: $got\n" . ($s->{transcript} // ''));
        if ($s->{want_text}) {
            my ($deny) = grep { $_->[1] =~ /^[45]/ } @{ $s->{answers} };
            like($deny ? $deny->[2] : '(no deny)', $s->{want_text}, "$mode: session $s->{name}: reply text");
        }
    }
    # what the answers imply for the log
    my (%from_clients, %codes_from_clients);
    for my $s (@sessions) {
        for my $a (@{ $s->{answers} }) {
            my ($stage, $code) = @$a;
            if ($stage eq 'dot' && $code =~ /^2/) { $from_clients{queued}++; $codes_from_clients{queued}{''}++; next }
            next unless $code =~ /^[45]/ && $stage ne 'quit' && !$s->{not_deny}{$stage};
            my $d = $s->{deny}{$stage} || ["UNEXPECTED($s->{name}:$stage:$code)", '?'];
            my ($disp, $rc) = @$d;
            if (($rc =~ /^90[24]$/) != ($code =~ /^4/)) { $disp = "WRONGCLASS($disp:$rc:$code)" }
            $from_clients{$disp}++;
            $codes_from_clients{$disp}{$rc}++;
        }
    }
    is_deeply(\%from_clients, \%PLAN, "$mode: the clients' answers imply the planned dispositions");

    ok($h->wait_idle(10), "$mode: every qpsmtpd child finished");
    my %live;
    if ($mode eq 'qpstat') {    # (2) live: no rotation, no import, qpsmtpd still running
        my $r = $h->qpstat('report', '--db', $db, '--by', 'disposition', '--format', 'csv');
        is($r->{exit}, 0, "$mode: qpstat report --db while qpsmtpd runs exits 0") or diag($r->{stderr});
        my $c = eval { QpsmtpdHarness::csv_counts($r->{stdout}, 'disposition') };
        %live = %{ $c || {} };
        is_deeply(\%live, \%PLAN, "$mode: the store shows every transaction immediately (qpsmtpd still running)")
            or diag("report --db:\n$r->{stdout}$r->{stderr}");
        # case 9: the connection facts the plugin sees, live, as the log has them
        my $cd = $h->qpstat('report', '--db', $db, '--by', 'connections', '--format', 'csv');
        my $cl = $h->qpstat('report', '--by', 'connections', '--format', 'csv', $h->logdir);
        is($cd->{stdout}, $cl->{stdout}, "$mode: --by connections of the store = of the log, before any import")
            or diag("store:\n$cd->{stdout}$cd->{stderr}log:\n$cl->{stdout}");
        # connection_time is loaded: the plugin's own measurements, one per logged line
        my ($nd) = $h->qpstat('report', '--db', $db, '--by', 'connection-time', '--format', 'csv')->{stdout} =~ /^count,(\d+)/m;
        my ($nl) = $h->qpstat('report', '--by', 'connection-time', '--format', 'csv', $h->logdir)->{stdout} =~ /^count,(\d+)/m;
        ok(defined $nl && $nl > 0 && ($nd // -1) == $nl, "$mode: one connection time in the store per logged line, before any import (" . ($nd // 'none') . ' / ' . ($nl // 'none') . ')');
    }
    my $stop = $h->stop;
    note(sprintf "stopped in %.1f s", $stop);

    my @pp = $h->perl_problems;
    is(scalar @pp, 0, "$mode: no Perl warning or plugin error in the log") or diag(join "\n", @pp[0 .. ($#pp < 9 ? $#pp : 9)]);

    # (1) the log, through qpstat report
    my $logdir = $h->logdir;
    my $r = $h->qpstat('report', '--format', 'csv', '--by', 'disposition', $logdir);
    is($r->{exit}, 0, "$mode: qpstat report on the multilog dir exits 0") or diag($r->{stderr});
    my $log_counts = eval { QpsmtpdHarness::csv_counts($r->{stdout}, 'disposition') } || {};
    is_deeply($log_counts, \%PLAN, "$mode: qpstat report --by disposition on the log = the plan")
        or diag("report:\n$r->{stdout}");
    is_deeply($log_counts, \%from_clients, "$mode: ... = what the clients were answered");

    # (1) the log, read here: codes, fields, Message-Ids
    my @rec = $h->terse_records;
    my (%codes, %nf);
    $codes{ $_->{disposition} }{ $_->{code} }++ for @rec;
    $nf{ $_->{nfields} }++ for @rec;
    is_deeply(\%codes, \%PLAN_CODES, "$mode: terse lines: dispositions with their codes (901/902/903)");
    is_deeply(\%codes, \%codes_from_clients, "$mode: terse codes agree with the reply classes (4xx <=> 902)");
    is_deeply(\%nf, { 9 => scalar @rec }, "$mode: every terse line has the 9 fields of logterse 1.1");
    my @queued_ids = sort map { $_->{text} } grep { $_->{disposition} eq 'queued' } @rec;
    my @sent_ids = sort map { "<$_>" } map { @{ $_->{queued_ids} || [] } } @sessions;
    is_deeply(\@queued_ids, \@sent_ids, "$mode: queued records carry the Message-Ids of the accepted mail");
    my ($spam) = grep { $_->{disposition} eq 'spamassassin' } @rec;
    is($spam && $spam->{spam}, 'Yes, score=1000.0 required=5.0', "$mode: spamassassin record has the SA verdict");
    is_deeply([sort map { $_->{spam} } grep { $_->{disposition} eq 'queued' } @rec],
        [('No, score=-1.0 required=5.0') x 5], "$mode: queued records have the SA verdict");
    my @ha = grep { $_->{disposition} eq 'hosts_allow' } @rec;
    is_deeply([map { join '|', @{$_}{qw(ip host helo sender rcpts)} } @ha], ['||||', '||||'],
        "$mode: hosts_allow records (forkserver parent) have empty connection fields");
    my ($bmf) = grep { $_->{disposition} eq 'badmailfrom' && $_->{text} =~ /evil/ } @rec;
    is($bmf && $bmf->{text}, 'Go away, evil sender', "$mode: badmailfrom record keeps the configured reason");
    my ($nrec) = grep { $_->{disposition} eq 'naughty' } @rec;
    is($nrec && "$nrec->{rcpts} $nrec->{text}", '<bob@example.com>,<carol@example.com> We require a valid From header',
        "$mode: naughty record lists both recipients and the deferred reason");

    # the terse lines without multilog label and pid, e.g.
    # "(deny) logging::logterse: ` 127.0.1.12\tUnknown\t...": the plugin must
    # write what logterse writes, byte for byte, prefix and plugin name included
    my @norm = map { $_->{line} =~ s/^@[0-9a-f]{24} \d+ //r } @rec;
    if ($mode eq 'logterse') {
        %REF = (lines => \@norm);
    }
    elsif ($REF{lines}) {
        is_deeply(\@norm, $REF{lines}, "$mode: terse lines equal logging/logterse's byte for byte (but label and pid)");
    }

    if ($mode eq 'qpstat') {
        my $rep = sub {
            my $r = $h->qpstat('report', '--db', $db, '--by', 'disposition', '--format', 'csv');
            is($r->{exit}, 0, "$mode: qpstat report --db exits 0") or diag($r->{stderr});
            return eval { QpsmtpdHarness::csv_counts($r->{stdout}, 'disposition') } || { error => "$@ $r->{stdout}" };
        };
        is_deeply($rep->(), \%PLAN, "$mode: the store after qpsmtpd stopped = the plan (no import)");
        for my $n (1, 2) {
            my $i = $h->qpstat('import', '--db', $db, $logdir);
            is($i->{exit}, 0, "$mode: qpstat import #$n of the log dir exits 0") or diag("$i->{stdout}$i->{stderr}");
            is_deeply($rep->(), \%PLAN, "$mode: after import #$n nothing is doubled or lost");
        }
        for my $by ('connections', 'connection-time') {
            my $fromdb  = $h->qpstat('report', '--db', $db, '--by', $by, '--format', 'csv');
            my $fromlog = $h->qpstat('report', '--by', $by, '--format', 'csv', $logdir);
            is($fromdb->{stdout}, $fromlog->{stdout}, "$mode: after import, --by $by of the store = of the log");
        }
    }
    note(sprintf "%s run took %.1f s", $mode, time - $t0);
}

# Runs every session; returns a list of
# {name, answers => [[stage, code, text]...], want => qr, deny => {stage => [disp, rc]}, queued_ids}.
sub run_sessions {
    my ($h) = @_;
    my @s;
    my $n = 0;
    my $msg = sub {    # a message file from a template, with a fresh Message-Id
        my ($tpl, $id) = @_;
        $n++;
        my $path = $h->tmp . "/msg-$n.eml";
        QpsmtpdHarness::write_file($path, QpsmtpdHarness::template($tpl, N => $n, MSGID => $id));
        return $path;
    };
    # Every session comes from its own address (127.0.1.10, .11, ...): with
    # -m 2 the forkserver counts children it has not reaped yet (it reaps
    # about once a second), so back-to-back sessions from one address could
    # be refused with 451. Only the -m 2 test itself uses 127.0.0.1.
    my $k = 10;
    my $swaks = sub {
        my (%o) = @_;
        my $r = $h->swaks(local => '127.0.1.' . $k++, %o);
        return (answers => $r->{answers}, transcript => $r->{out});
    };
    my $raw = sub {    # a raw session: list of steps; returns answers
        my (%o) = @_;
        my $c = $h->client(local_addr => exists $o{local} ? $o{local} : '127.0.1.' . $k++) or return (answers => [['connect', 'ERR', "connect: $!"]]);
        my @a;
        $c->send_raw($o{early}) if defined $o{early};
        my ($code, $text) = $c->reply(10);
        push @a, ['connect', $code // 'EOF', $text // ''];
        for my $step (@{ $o{steps} || [] }) {
            last if $c->{eof};
            my ($stage, $line) = @$step;
            my @r = $stage eq 'dot' ? $c->data_body($line) : $c->cmd($line);
            push @a, [$stage, $r[0] // 'EOF', $r[1] // ''];
            last if !@r;
        }
        push @a, ['closed', $c->closed_by_server(3) ? 'yes' : 'no'] if $o{expect_close};
        $c->close;
        return (answers => \@a, transcript => $c->transcript);
    };
    my $ok = qr/^connect:220 ehlo:250 mail:250 rcpt:250 data:354 dot:250 quit:221$/;

    push @s, { name => 'queued', want => $ok, queued_ids => ['600.1@sender.example'],
        $swaks->(from => 'alice@sender.example', to => 'bob@example.com', data => $msg->('ham.eml', '600.1@sender.example')) };
    push @s, { name => 'queued bounce (null sender, one rcpt)', want => $ok, queued_ids => ['600.2@sender.example'],
        $swaks->(from => '<>', to => 'bob@example.com', data => $msg->('ham.eml', '600.2@sender.example')) };
    push @s, { name => 'badrcptto then queued', deny => { rcpt => ['badrcptto', 901] }, queued_ids => ['600.3@sender.example'],
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 rcpt:550 data:354 dot:250 quit:221$/,
        $swaks->(from => 'alice@sender.example', to => ['bob@example.com', 'closed@example.com'],
            data => $msg->('ham.eml', '600.3@sender.example')) };
    push @s, { name => 'rcpt_ok (relaying denied)', deny => { rcpt => ['rcpt_ok', 901] },
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:550 quit:221$/,
        $swaks->(from => 'alice@sender.example', to => 'someone@elsewhere.example') };
    push @s, { name => 'badmailfrom (address)', deny => { mail => ['badmailfrom', 901] },
        want => qr/^connect:220 ehlo:250 mail:550 quit:221$/,
        $swaks->(from => 'spammer@bad.example', to => 'bob@example.com') };
    push @s, { name => 'badmailfrom (@domain, reason)', deny => { mail => ['badmailfrom', 901] },
        want => qr/^connect:220 ehlo:250 mail:550 quit:221$/,
        $swaks->(from => 'x@evil.example', to => 'bob@example.com') };
    push @s, { name => 'helo (plain IP)', deny => { ehlo => ['helo', 903] },
        want => qr/^connect:220 ehlo:5\d\d/,
        $swaks->(from => 'alice@sender.example', to => 'bob@example.com', helo => '1.2.3.4') };
    push @s, { name => 'helo (badhelo)', deny => { helo => ['helo', 903] },
        want => qr/^connect:220 helo:5\d\d closed:yes$/,
        $raw->(steps => [['helo', 'HELO bad.helo.example']], expect_close => 1) };
    push @s, { name => 'earlytalker', deny => { connect => ['earlytalker', 901] },
        want => qr/^connect:5\d\d closed:yes$/,
        $raw->(early => "EHLO early.example\r\n", expect_close => 1) };
    push @s, { name => 'count_unrecognized_commands', deny => { other => ['count_unrecognized_commands', 903] },
        not_deny => { junk => 1 },    # the first junk command: a plain 500, no deny
        want => qr/^connect:220 ehlo:250 junk:500 other:5\d\d closed:yes$/,
        $raw->(steps => [['ehlo', 'EHLO client.sender.example'], ['junk', 'FOO'], ['other', 'BAR baz']], expect_close => 1) };
    push @s, { name => 'noop_counter', deny => { noop => ['noop_counter', 903] },
        want => qr/^connect:220 ehlo:250 noop:250 noop:250 noop:5\d\d closed:yes$/,
        $raw->(steps => [['ehlo', 'EHLO client.sender.example'], map { ['noop', 'NOOP'] } 1 .. 3], expect_close => 1) };
    push @s, { name => 'loop (6 Received headers)', deny => { dot => ['loop', 901] },
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 data:354 dot:5\d\d quit:221$/,
        $swaks->(from => 'alice@sender.example', to => 'bob@example.com', data => $msg->('loop.eml', '600.loop@sender.example')) };
    push @s, { name => 'naughty (headers: no From)', deny => { dot => ['naughty', 903] },
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 rcpt:250 data:354 dot:5\d\d/,
        $swaks->(from => 'alice@sender.example', to => ['bob@example.com', 'carol@example.com'],
            data => $msg->('nofrom.eml', '600.naughty@sender.example')) };
    push @s, { name => 'spamassassin (GTUBE)', deny => { dot => ['spamassassin', 901] },
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 rcpt:250 data:354 dot:5\d\d quit:221$/,
        $swaks->(from => 'alice@sender.example', to => ['bob@example.com', 'carol@example.com'],
            data => $msg->('gtube.eml', '600.spam@sender.example')) };
    push @s, { name => 'EHLO and QUIT only (no record)', want => qr/^connect:220 ehlo:250 quit:221$/,
        $raw->(steps => [['ehlo', 'EHLO client.sender.example'], ['quit', 'QUIT']]) };
    push @s, { name => 'RSET only (no record)', want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 rset:250 quit:221$/,
        $raw->(steps => [['ehlo', 'EHLO client.sender.example'], ['mail', 'MAIL FROM:<alice@sender.example>'],
            ['rcpt', 'RCPT TO:<bob@example.com>'], ['rset', 'RSET'], ['quit', 'QUIT']]) };
    my $m1 = QpsmtpdHarness::template('ham.eml', N => 'raw1', MSGID => '600.raw1@sender.example');
    my $m2 = QpsmtpdHarness::template('ham.eml', N => 'raw2', MSGID => '600.raw2@sender.example');
    push @s, { name => 'three transactions in one connection', deny => { mail => ['badmailfrom', 901] },
        queued_ids => ['600.raw1@sender.example', '600.raw2@sender.example'],
        want => qr/^connect:220 ehlo:250 mail:250 rcpt:250 data:354 dot:250 mail:550 rset:250 mail:250 rcpt:250 data:354 dot:250 quit:221$/,
        $raw->(steps => [['ehlo', 'EHLO client.sender.example'],
            ['mail', 'MAIL FROM:<alice@sender.example>'], ['rcpt', 'RCPT TO:<bob@example.com>'], ['data', 'DATA'], ['dot', $m1],
            ['mail', 'MAIL FROM:<spammer@bad.example>'], ['rset', 'RSET'],
            ['mail', 'MAIL FROM:<alice@sender.example>'], ['rcpt', 'RCPT TO:<carol@example.com>'], ['data', 'DATA'], ['dot', $m2],
            ['quit', 'QUIT']]) };
    push @s, { name => 'hosts_allow DENY (from 127.0.0.3)', deny => { connect => ['hosts_allow', 901] },
        want => qr/^connect:550 closed:yes$/, want_text => qr/^Sorry, you are blocked$/,
        $raw->(local => '127.0.0.3', expect_close => 1) };

    # hosts_allow -m 2: two connections held open, the third is refused (451)
    ok($h->wait_idle(10), 'all earlier qpsmtpd children reaped before the -m 2 test');
    my ($c1, $c2) = map { $h->client } 1, 2;
    my @b = map { [$_ ? $_->reply(10) : ()] } $c1, $c2;
    my %third = $raw->(local => undef);
    my @bye = map { [$_ ? $_->cmd('QUIT') : ()] } $c1, $c2;
    $_ && $_->close for $c1, $c2;
    push @s, { name => 'hosts_allow max-from-ip (3rd of -m 2)', deny => { connect => ['hosts_allow', 902] },
        want => qr/^held:220 held:220 connect:451 held:221 held:221$/,
        answers => [(map { ['held', $_->[0] // 'EOF'] } @b), @{ $third{answers} }, map { ['held', $_->[0] // 'EOF'] } @bye],
        transcript => $third{transcript} };
    return @s;
}
