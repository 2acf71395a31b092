#!/usr/bin/perl
# t/501-cli-usage.t - one voice for every command: a usage error is
# "qpstat COMMAND: message" then "Try 'qpstat COMMAND --help'." and exit 2
# (nothing on stdout); numbers are parsed by one parser that names the
# option and its range; combinations that cannot work are refused with the
# reason instead of being ignored; --db and QPSTAT_DB mean the same in
# every command that reads a store; grep without a match exits 1.
use strict;
use warnings;
use lib 't/lib';
use QpstatTest qw(%FIXTURE NOW qpstat_bin run_cmd spew tmpdir);
use Test::More;

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
my $LOG = $FIXTURE{'edge-cases'};
my $ML  = $FIXTURE{'multilog-094'};
delete $ENV{QPSTAT_DB};

sub q_run {
    my ($args, %o) = @_;
    my ($out, $err, $rc) = run_cmd([$Q, @$args], %o);
    return { out => $out, err => $err, rc => $rc };
}

# A usage error of COMMAND whose message matches $re.
sub usage_error {
    my ($args, $re, $why) = @_;
    my $cmd = $args->[0];
    my $r = q_run($args);
    subtest "$why: usage error" => sub {
        is($r->{rc}, 2, 'exit 2');
        like($r->{err}, qr/\Aqpstat \Q$cmd\E: (?:$re)[^\n]*\nTry 'qpstat \Q$cmd\E --help'\.\n\z/,
            "'qpstat $cmd: ...' then the hint") or diag $r->{err};
        is($r->{out}, '', 'nothing on stdout');
    };
    return $r;
}

# ---- the shape, for every command ------------------------------------------
for my $cmd (qw(report import collect processor summary check tail grep dnsbl-test received tai64n)) {
    next if $cmd eq 'processor';    # it must never stop multilog: see below
    usage_error([$cmd, '--no-such-option'], qr/unrecognized option '--no-such-option'|unknown option '--no-such-option'/,
        "$cmd --no-such-option");
}
usage_error(['grep'],              qr/no PATTERN given/,   'grep without PATTERN');
usage_error(['dnsbl-test'],        qr/no ZONE given/,      'dnsbl-test without ZONE');
usage_error(['received'],          qr/name the Maildir/,   'received without MAILDIR');
usage_error(['collect'],           qr/name the log directories/, 'collect without DIR');
usage_error(['import', '-'],       qr/standard input cannot be resumed/, 'import -');
{
    my $r = q_run(['no-such-command']);
    is($r->{rc}, 2, 'an unknown command: exit 2');
    like($r->{err}, qr/\Aqpstat: unknown command 'no-such-command'\n/, '... named');
}

# ---- one number parser -------------------------------------------------------
my @numbers = (
    [['report', '--top', 'x'],           '--top',      0, 1000000000],
    [['report', '--top', '-1'],          '--top',      0, 1000000000],
    [['report', '--jobs', '0'],          '--jobs',     1, 64],
    [['report', '-j', '65'],             '--jobs',     1, 64],
    [['report', '--days', '0'],          '--days',     1, 100000],
    [['report', '--days', ' 5'],         '--days',     1, 100000],
    [['report', '--days', '+5'],         '--days',     1, 100000],
    [['report', '--days', '99999999999999999999'], '--days', 1, 100000],
    [['grep', '--days', '2x', '.'],      '--days',     1, 100000],
    [['dnsbl-test', '--days', '0', 'z'], '--days',     1, 100000],
    [['dnsbl-test', '--tries', '11', 'z'], '--tries',  1, 10],
    [['dnsbl-test', '--parallel', '0', 'z'], '--parallel', 1, 256],
    [['import', '--keep', '0'],          '--keep',     1, 100000],
    [['received', '--days', 'x', '.'],   '--days',     1, 100000],
    [['tail', '-n', '-3'],               '-n',         0, 1000000],
);
for my $n (@numbers) {
    my ($args, $opt, $lo, $hi) = @$n;
    my $bad = $args->[ (grep { $args->[$_] eq $opt || ($opt eq '--jobs' && $args->[$_] eq '-j') } 0 .. $#$args)[0] + 1 ];
    usage_error($args, qr/\Q$opt\E takes a whole number from $lo to $hi, not '\Q$bad\E'/, "@$args");
}

# ---- no option silently ignored ----------------------------------------------
usage_error(['report', '--format', 'csv', $LOG], qr/--format csv holds one table: pick it with one --by \(disposition, /,
    '--format csv without --by');
usage_error(['report', '--format', 'csv', '--by', 'tld,ip', $LOG], qr/--format csv holds one table/,
    '--format csv with two tables');
usage_error(['report', '--mail', '--format', 'json', $LOG], qr/--mail writes one message of its own .*drop --format/,
    '--mail with --format');
usage_error(['report', '--mail', '--by', 'tld', $LOG], qr/--mail writes one message of its own .*drop --by/,
    '--mail with --by');
usage_error(['report', '--mail', '--top', '3', $LOG], qr/--mail writes one message of its own .*drop --top/,
    '--mail with --top');
usage_error(['report', '--since', '2026-11-25', '--until', '2026-11-24', $LOG],
    qr/--since must come before --until: the range is empty/, 'a reversed --since/--until');
usage_error(['grep', '--since', '2026-11-25 10:00', '--until', '2026-11-25 10:00', '.', $LOG],
    qr/--since must come before --until/, 'grep: an empty --since/--until');
usage_error(['dnsbl-test', '--since', '2026-11-26', '--until', '2026-11-25', 'z.example', $LOG],
    qr/--since must come before --until/, 'dnsbl-test: a reversed --since/--until');
usage_error(['report', '--db', '--by', 'disposition'], qr/--db needs a FILE, not the option '--by'/,
    'report --db --by disposition (the argument omitted)');
for my $cmd (qw(summary import check collect)) {
    usage_error([$cmd, '--db', '-v'], qr/--db needs a FILE, not the option '-v'/, "$cmd --db -v");
}
usage_error(['report', '--db', 'x.db', $LOG], qr/--db reads the store, not log files: drop '\Q$LOG\E'/,
    'report --db FILE PATH');
usage_error(['summary', '--db', 'x.db', $LOG], qr/--db reads the store, not log files: drop '\Q$LOG\E'/,
    'summary --db FILE PATH');
usage_error(['report', '--db', 'x.db', '--prefix', '~'], qr/--prefix reads log files, and this report reads the store \(--db\)/,
    'report --db with --prefix');
usage_error(['report', '--db', 'x.db', '-j', '2'], qr/--jobs reads log files, and this report reads the store \(--db\)/,
    'report --db with --jobs');
usage_error(['dnsbl-test', 'z.example', '--server', '127.0.0.1:53', $LOG], qr/--server is now --resolver/,
    'dnsbl-test --server (renamed)');
{
    # --top 0 is documented as every row: a log of 30 senders
    my $tmp = tmpdir();
    my $LOG = "$tmp/senders.log";
    spew($LOG, join '', map { "Wed Nov 25 19:39:54 2026 vm[$_]: `127.0.0.1\tUnknown\tc.example\t<u$_\@s.example>\t"
        . "<bob\@example.com>\tqueued\t\t<f.$_\@s.example>\tNo, score=-1.0 required=5.0\n" } 1 .. 30);
    my $all  = q_run(['report', '--by', 'sender', '--format', 'csv', $LOG]);
    my $zero = q_run(['report', '--by', 'sender', '--top', '0', '--format', 'csv', $LOG]);
    my $one  = q_run(['report', '--by', 'sender', '--top', '1', '--format', 'csv', $LOG]);
    is($zero->{rc}, 0, '--top 0: exit 0');
    is($zero->{out}, $all->{out}, '--top 0 prints every row (as CSV does without --top)');
    my $text0 = q_run(['report', '--by', 'sender', '--top', '0', $LOG]);
    my $text  = q_run(['report', '--by', 'sender', $LOG]);
    my $rows  = () = $zero->{out} =~ /\r\n/g;
    my $trows = () = $text0->{out} =~ /^\s+\d+\s+\S/mg;
    is($rows, 31, 'the log has 30 senders (and a header)') or diag $zero->{out};
    cmp_ok($trows, '>', (() = $text->{out} =~ /^\s+\d+\s+\S/mg), '--top 0 in text: more rows than the default 20');
    cmp_ok(length $one->{out}, '<', length $all->{out}, '--top 1 fewer');
}
{
    # --mail alone still works, with a time option
    my $r = q_run(['report', '--mail', '--days', '3', $LOG]);
    is($r->{rc}, 0, '--mail with a time option: exit 0') or diag $r->{err};
    like($r->{out}, qr/^Subject: Email Disposition on /m, '... the message');
}

# ---- --db and QPSTAT_DB, the same everywhere ---------------------------------
{
    my $tmp = tmpdir();
    my $db  = "$tmp/q.db";
    my $r = q_run(['import', '--db', $db, $ML]);
    is($r->{rc}, 0, 'import --db: exit 0') or diag $r->{err};
    my $want = q_run(['report', '--db', $db]);
    is($want->{rc}, 0, 'report --db: exit 0') or diag $want->{err};
    my $env = q_run(['report'], env => { QPSTAT_DB => $db });
    is($env->{rc}, 0, 'report with QPSTAT_DB and no PATH: exit 0') or diag $env->{err};
    is($env->{out}, $want->{out}, '... reads that store, as --db does');
    my $logs = q_run(['report', $ML], env => { QPSTAT_DB => $db });
    is($logs->{out}, q_run(['report', $ML])->{out}, 'with a PATH, QPSTAT_DB does not hide the logs');
    my $over = q_run(['report', '--db', "$tmp/none.db"], env => { QPSTAT_DB => $db });
    is($over->{rc}, 1, '--db overrides QPSTAT_DB (a missing store: exit 1)');
    like($over->{err}, qr/^qpstat report: \Q$tmp\E\/none\.db: /m, '... naming the --db file');

    my $sum = q_run(['summary', '--db', $db]);
    is($sum->{rc}, 0, 'summary --db: exit 0') or diag $sum->{err};
    my $sum_env = q_run(['summary'], env => { QPSTAT_DB => $db });
    is($sum_env->{out}, $sum->{out}, 'summary with QPSTAT_DB and no PATH = summary --db');

    # import and collect write where QPSTAT_DB says
    my $db2 = "$tmp/env.db";
    $r = q_run(['import', $ML], env => { QPSTAT_DB => $db2 });
    is($r->{rc}, 0, 'import with QPSTAT_DB: exit 0') or diag $r->{err};
    is(q_run(['report', '--db', $db2])->{out}, $want->{out}, '... into that store');
    my $db3 = "$tmp/collect.db";
    $r = q_run(['collect', '--once', $ML], env => { QPSTAT_DB => $db3 });
    is($r->{rc}, 0, 'collect --once with QPSTAT_DB: exit 0') or diag $r->{err};
    ok(-s $db3, '... into that store');

    # check compares the store QPSTAT_DB names, as it does --db's
    my $none = "$tmp/missing.db";
    my $c1 = q_run(['check', '--db', $none, $ML]);
    my $c2 = q_run(['check', $ML], env => { QPSTAT_DB => $none });
    is($c2->{rc}, $c1->{rc}, 'check with QPSTAT_DB = check --db (exit status)');
    like($c2->{err} . $c2->{out}, qr/\Q$none\E/, '... it checks that store');
    ok(!-e $none, '... without creating it');

    # the processor never stops multilog: a bad --db is a warning
    my $in = "$ML/current";
    $r = q_run(['processor', '--db', '--bad'], stdin => $in);
    is($r->{rc}, 0, 'processor --db --bad: exit 0 (multilog must go on)');
    like($r->{err}, qr/^qpstat processor: --db needs a FILE, not '--bad': statistics go on without the store$/m,
        '... with a warning');
    ok(!-e '--bad', '... and no store called --bad');
}

# ---- grep exits 1 without a match, as grep(1) --------------------------------
{
    my $r = q_run(['grep', 'no-such-thing-anywhere', $LOG]);
    is($r->{rc}, 1, 'grep without a match: exit 1');
    is("$r->{out}$r->{err}", '', '... silently');
    $r = q_run(['grep', '.', $LOG]);
    is($r->{rc}, 0, 'grep with a match: exit 0');
}

# ---- a message quotes what was typed through the terminal policy ----------
# (a --where value or a file name may be pasted from a log: its escape
# sequences are shown, never sent to the terminal)
{
    my $esc = "\e]0;owned\a\e[31m";
    my $r = usage_error(['report', '--where', "disposition${esc}x=1", $LOG], qr/--where takes KEY=VALUE/,
        'a --where key with escape sequences');
    unlike($r->{err}, qr/[\x00-\x08\x0b-\x1f\x7f]/, '... no control byte reaches stderr');
    like($r->{err}, qr/disposition\\x1b\]0;owned\\x07\\x1b\[31mx=1/, '... each shown as \\xNN');
    $r = q_run(["x${esc}y"]);
    is($r->{rc}, 2, 'an unknown command with escape sequences: exit 2');
    like($r->{err}, qr/\Aqpstat: unknown command 'x\\x1b\]0;owned\\x07\\x1b\[31my'\n/, '... named escaped');
    my $tmp = tmpdir();
    $r = q_run(['report', "$tmp/no${esc}such.log"]);
    like($r->{err}, qr/cannot open \Q$tmp\E\/no\\x1b\]0;owned\\x07\\x1b\[31msuch\.log/, 'a file name is escaped too');
    unlike($r->{err}, qr/[\x00-\x08\x0b-\x1f\x7f]/, '... no control byte reaches stderr');
}

# ---- getopt's complaints in the one voice (cli_getopt) ----------------------
for my $cmd (qw(report list grep tail import collect check summary serve dnsbl-test received)) {
    usage_error([$cmd, "--no\e[31mpe"], qr/unknown option '--no\\x1b\[31mpe'/,
        "$cmd: an unknown option with an escape sequence, escaped");
}
usage_error(['report', '--db'], qr/--db needs an argument/, 'report --db at the end');
usage_error(['import', '-d'], qr/-d needs an argument/, 'import -d at the end');
usage_error(['tail', '-n'], qr/-n needs an argument/, 'tail -n at the end');
usage_error(['report', '-z'], qr/unknown option '-z'/, 'an unknown short option');
usage_error(['report', '--utc=1'], qr/--utc takes no value/, 'a value for an option without one');
usage_error(['grep', '--today=x', 'p'], qr/--today takes no value/, '... in grep too');
usage_error(['report', '--d', '3'], qr/'--d' is short for several options \(--days, --db\)/,
    'an abbreviation of several long options names them');
{
    my $r = q_run(['report', '--da', '3', $LOG]);
    is($r->{rc}, 0, 'an abbreviation of one long option still works (--da for --days)') or diag $r->{err};
}

done_testing;
