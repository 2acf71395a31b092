#!/usr/bin/perl
# t/545-hostile.t - the escaping policies of every command and format on
# the hostile corpus t/data/hostile.log (made by t/data/make-hostile.pl):
# ESC sequences, raw 0x9b, UTF-8 U+009B, invalid UTF-8, NUL, DEL, U+202E
# and the other bidirectional controls, U+2028/U+2029, a literal
# backslash-x1b, spreadsheet formulas (=1+2, @SUM, +cmd, -2+3, a CR before
# =), TABs in a deny text and a 400-digit spam score.
#
# Terminal text (report, list, tail, grep, summary, dnsbl-test, received,
# serve's access log) never
# carries a raw C0/C1 control, invalid UTF-8 or a bidirectional control;
# CSV formula cells are neutralised (our numeric score buckets are not);
# JSON (report, list, serve's /api/report, /api/list and error bodies)
# parses with JSON::PP, report's matches its golden file byte for byte; no
# format prints inf or nan; /metrics label values hold only the format's
# escapes over the terminal text policy. Also the text layout fixes: keys narrower than
# "Total" stay aligned, an empty connection-time table prints n/a.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(run_cmd slurp spew parse_csv qpstat_bin serve_start serve_stop);
use Encode qw(decode FB_CROAK);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;

my $Q = qpstat_bin() or plan skip_all => 'no qpstat binary (build first or set QPSTAT)';
my $LOG = 't/data/hostile.log';
my $D = 't/data';
my $TMP = tempdir(CLEANUP => 1);

sub run {
    my (@args) = @_;
    my ($out, $err, $rc) = run_cmd([$Q, @args], timeout => 60);
    return ($out, $err, $rc);
}

# Whether bytes are safe for a terminal: valid UTF-8 without C0 (TAB and LF
# allowed where $tabs says), DEL, C1, bidirectional controls or U+2028/9.
sub terminal_problem {
    my ($bytes, $tabs) = @_;
    my $ok_c0 = $tabs ? qr/[\t\n]/ : qr/\n/;
    for my $c ($bytes =~ /([\x00-\x1f\x7f])/g) {
        return sprintf('raw control byte 0x%02x', ord $c) if $c !~ $ok_c0;
    }
    my $text = eval { decode('UTF-8', $bytes, FB_CROAK) };
    return 'invalid UTF-8' unless defined $text;
    return sprintf('C1 control U+%04X', ord $1) if $text =~ /([\x{80}-\x{9f}])/;
    return sprintf('layout control U+%04X', ord $1)
        if $text =~ /([\x{61c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{2028}\x{2029}])/;
    return 'inf or nan' if $text =~ /\b-?(inf|nan)\b/i;
    return undef;
}

sub terminal_safe {
    my ($what, $out, $tabs) = @_;
    my $problem = terminal_problem($out, $tabs);
    ok(!defined $problem, "$what: terminal-safe" . ($problem ? " ($problem)" : ''));
}

my @KEYED = ('disposition', 'dnsbl', 'tld', 'disposition,tld', qw(hour day sender recipient ip helo score spam));

# ---- report: text and mail ---------------------------------------------------
my ($out, $err, $rc) = run('report', $LOG);
is($rc, 0, 'report: exit 0');
terminal_safe('report (text, every table)', $out, 0);
like($out, qr/^  \s*1  evil\\x1b\[2J\\x1b\]0;pwned\\x07\.example\s+16\.67%$/m, 'report: ESC and BEL as \\xNN');
like($out, qr/<a\\x9b31m\@b\.example>/, 'report: a raw C1 byte (0x9b) as \\x9b');
like($out, qr/gpj\\u\{202e\}exe\.example/, 'report: U+202E as \\u{202e}');
like($out, qr/<x\\u\{2028\}y\@z\.example>/, 'report: U+2028 as \\u{2028}');
like($out, qr/mean score: spam n\/a, ham -2\.75/, 'report: the mean of a 400-digit score is n/a, not inf');
for my $dim (@KEYED) {
    ($out) = run('report', '--by', $dim, $LOG);
    terminal_safe("report --by $dim", $out, 0);
}
($out) = run('report', '--mail', $LOG);
terminal_safe('report --mail', $out, 0);

# ---- alignment: keys narrower than "Total" (hour, spam, score) -------------
for my $case ([$LOG, 'hour'], [$LOG, 'spam'], [$LOG, 'score'], [$LOG, 'helo'], ["$D/edge-cases.log", 'hour'],
    ["$D/edge-cases.log", 'spam'], ["$D/edge-cases.log", 'dnsbl'])
{
    my ($log, $dim) = @$case;
    ($out) = run('report', '--by', $dim, $log);
    my @rows = grep { /^  / && !/mean score|more$|upper bounds/ } split /\n/, $out;
    my %widths = map { length(decode('UTF-8', $_)) => 1 } @rows;
    ok(@rows >= 3 && keys %widths == 1, "report --by $dim ($log): header, Total and rows end in one column")
        or diag $out;
    my ($head, $total) = @rows;
    is(index($total, 'Total'), index($head, $dim), "report --by $dim: Total under the column name");
}

# ---- empty connection-time table ---------------------------------------------
spew("$TMP/untimed.log", join('', grep { !/connection_time/ } split /^/, slurp($LOG)));
($out) = run('report', '--by', 'connection-time', "$TMP/untimed.log");
is($out =~ s/^Lines:.*\n\n//r,
    "== connection-time ==\n  connections timed                   0\n"
        . join('', map { sprintf "  %-24s %12s\n", $_, 'n/a' } qw(mean p50 p90 p99 max)),
    'no connection_time line: n/a, not 0.000 s');
($out) = run('report', '--by', 'connection-time', $LOG);
like($out, qr/^  mean {28}1\.250 s$/m, 'with connection times: the numbers');

# ---- CSV -------------------------------------------------------------------
for my $dim (@KEYED, 'connections', 'connection-time') {
    ($out, $err, $rc) = run('report', '--format', 'csv', '--by', $dim, $LOG);
    is($rc, 0, "csv --by $dim: exit 0");
    my ($head, @rows) = parse_csv($out);
    my $keys = $dim eq 'disposition,tld' ? 2 : 1;
    my @bad;
    for my $row (@rows) {
        for my $k (0 .. $keys - 1) {
            my $cell = $row->[$k];
            push @bad, "formula: $cell" if $dim ne 'score' && $cell =~ /^[ \t\r\n]*[=+\-\@]/;
            my $p = terminal_problem($cell, 0);
            push @bad, "$p: $cell" if $p || $cell =~ /\n/;
        }
    }
    is_deeply(\@bad, [], "csv --by $dim: no formula cell, no control or layout character");
}
my %cells;
for my $dim (qw(helo sender recipient tld)) {
    my ($h, @rows) = parse_csv((run('report', '--format', 'csv', '--by', $dim, $LOG))[0]);
    $cells{$dim}{ $_->[0] } = 1 for @rows;
}
ok($cells{helo}{"'=1+2"}, 'csv: the HELO =1+2 gets a leading quote');
ok($cells{helo}{"'+cmd|calc"}, 'csv: +cmd|calc too');
ok($cells{sender}{"'\@SUM(A1:A9)"}, 'csv: @SUM(A1:A9) too');
ok($cells{sender}{q{'\x0d=HYPERLINK("http://evil/")}}, 'csv: = after a leading CR too (the CR as \\x0d)');
ok($cells{helo}{'gpj\u{202e}exe.example'}, 'csv: U+202E escaped as in text');
($out) = run('report', '--format', 'csv', '--by', 'score', $LOG);
is($out, "score,count,percent\r\n-4,1,33.33\r\n-2,1,33.33\r\n>=30,1,33.33\r\n",
    'csv: our negative score buckets stay numbers (no quote), the 400-digit score is >=30');

# ---- JSON --------------------------------------------------------------------
my $json = JSON::PP->new->utf8;
($out, $err, $rc) = run('report', '--format', 'json', $LOG);
is($rc, 0, 'json: exit 0');
my $doc = eval { $json->decode($out) };
ok($doc, 'json (every table): JSON::PP parses it') or diag $@;
unlike($out, qr/\b-?(inf|nan)\b/i, 'json: no inf or nan');
my $golden = "$D/hostile.all.json.expected";
if (-e $golden) {
    ok($out eq slurp($golden), "json: byte-exact $golden") or spew("$D/hostile.all.json.got", $out);
} else {
    spew("$D/hostile.all.json.got", $out);
    fail("missing $golden (actual output in $D/hostile.all.json.got)");
}
if ($doc) {
    my %helo = map { $_->{helo} => $_->{count} } @{ $doc->{dimensions}{helo}{rows} };
    is($helo{'=1+2'}, 1, 'json: =1+2 is data, unchanged');
    is($helo{"evil\e[2J\e]0;pwned\a.example"}, 1, 'json: control characters round-trip');
    is($helo{"gpj\x{202e}exe.example"}, 1, 'json: U+202E round-trips (escaped as \\u202e)');
    my %sender = map { $_->{sender} => 1 } @{ $doc->{dimensions}{sender}{rows} };
    ok($sender{"<a\x{9b}31m\@b.example>"}, 'json: an invalid UTF-8 byte is \\u00NN of the byte');
    ok(exists $doc->{dimensions}{score}{spam_mean} && !defined $doc->{dimensions}{score}{spam_mean},
        'json: the mean of a 400-digit score is null');
}
like($out, qr/"gpj\\u202eexe\.example"/, 'json: U+202E written as \\u202e');
like($out, qr/<x\\u2028y\@z\.example>/, 'json: U+2028 written as \\u2028');
for my $dim (@KEYED, 'connections', 'connection-time') {
    ($out) = run('report', '--format', 'json', '--by', $dim, $LOG);
    ok(eval { $json->decode($out); 1 }, "json --by $dim: parses");
}

# ---- tail and grep -------------------------------------------------------
for my $args (['tail', '-n', 'all'], ['tail', '--label', '-n', 'all'], ['tail', '--local', '-n', 'all'],
    ['grep', '.'], ['grep', '--lines', '.'], ['grep', '--local', '-E', 'calc|evil'])
{
    ($out, $err, $rc) = run(@$args, $LOG);
    is($rc, 0, "@$args: exit 0");
    terminal_safe("@$args", $out, 1);
    my $stamp = grep { $_ eq '--label' || $_ eq '--local' || $_ eq 'grep' } @$args;
    my @terse = grep { /\t(queued|spamassassin|check_earlytalker|dnsbl)\t/ } split /\n/, $out;
    ok(@terse, "@$args: logterse records");
    my @wrong = grep { (() = /\t/g) != 6 + ($stamp ? 1 : 0) } @terse;
    is_deeply(\@wrong, [], "@$args: TABs in a deny text do not add columns");
}
($out) = run('tail', '-n', 'all', $LOG);
like($out, qr/\tspam\\x09score\\x09exceeded$/m, 'tail: TABs inside the deny text as \\x09');
like($out, qr/\tsee \\\\x1b\[31m here \\\\ and \\\\\\\\$/m,
    'tail: a literal backslash-x1b is written \\\\x1b, not mistaken for an escaped ESC');
like($out, qr/<id\\xff\\xfe\\xc3\(\@evil>/, 'tail: invalid UTF-8 bytes as \\xNN');
like($out, qr/<r\\xc2\\x9b31m\@x\.org>/, 'tail: UTF-8 U+009B as \\xc2\\x9b');
like($out, qr/\tdel\\x7f\\x01\\x1f\t|^4005\t192\.0\.2\.14\tqueued/m, 'tail: DEL and C0 escaped');

# ---- summary ---------------------------------------------------------------
($out, $err, $rc) = run('summary', $LOG);
is($rc, 0, 'summary: exit 0');
terminal_safe('summary', $out, 0);

# ---- dnsbl-test (a closed port: every lookup fails; --all prints them) ----
($out, $err, $rc) = run('dnsbl-test', 'test.bl', '--resolver', '127.0.0.1:9', '--all', '--since', '2026-11-20', $LOG);
terminal_safe('dnsbl-test --all', $out, 1);
like($out, qr/From: \\x0d=HYPERLINK/, 'dnsbl-test: the CR before = escaped');
like($out, qr/From: x\\u\{2028\}y\@z\.example/, 'dnsbl-test: U+2028 escaped');
terminal_safe('dnsbl-test: stderr', $err, 0);

# ---- received ---------------------------------------------------------------
my $md = "$TMP/Maildir";
mkdir $_ for $md, "$md/new", "$md/cur", "$md/tmp";
my $name = "1700000000.M1P1.host\e[2J\x9b\xe2\x80\xae:2,S";
spew("$md/cur/$name",
    "Received: from evil.example (HELO =1+2\xe2\x80\xae\x9b\xc2\x9b\\x1b\e)\n"
        . "\t(198.51.100.7) by mail.example.com with SMTP; Mon, 23 Nov 2026 08:00:00 +0000\n"
        . "Subject: hi\n\nbody\n");
($out, $err, $rc) = run('received', '--days', '100000', $md);
is($rc, 0, 'received: exit 0');
terminal_safe('received', $out, 1);
like($out, qr/\t198\.51\.100\.7\t=1\+2\\u\{202e\}\\x9b\\xc2\\x9b\\\\x1b\\x1b$/m,
    'received: the HELO escaped, its literal backslash doubled');
like($out, qr/host\\x1b\[2J\\x9b\\u\{202e\}:2,S\t/, 'received: the file name escaped');

# ---- list ----------------------------------------------------------------
($out, $err, $rc) = run('list', $LOG);
is($rc, 0, 'list: exit 0');
terminal_safe('list (text)', $out, 0);
like($out, qr/  evil\\x1b\[2J\\x1b\]0;pwned\\x07\.example  <a\\x9b31m\@b\.example>  /, 'list: ESC, BEL and a raw C1 byte as \\xNN');
like($out, qr/  see \\\\x1b\[31m here \\\\ and \\\\\\\\  /, 'list: a literal backslash-x1b doubled');
like($out, qr/  <id\\xff\\xfe\\xc3\(\@evil>  n\/a$/m, 'list: the 400-digit score is n/a, not inf');
like($out, qr/  <id2\@x>  -3\.5$/m, 'list: a score as the program writes it');
($out, $err, $rc) = run('list', '--format', 'csv', $LOG);
is($rc, 0, 'list --format csv: exit 0');
my ($lhead, @lrows) = parse_csv($out);
is(join(',', @$lhead), 'time,server,ip,helo,sender,recipients,disposition,code,text,score', 'list csv: the header');
my (@lbad, %lcell);
for my $row (@lrows) {
    for my $i (0 .. $#$row) {
        my $cell = $row->[$i];
        $lcell{ $lhead->[$i] }{$cell} = 1;
        push @lbad, "formula: $cell" if $lhead->[$i] ne 'score' && $cell =~ /^[ \t\r\n]*[=+\-\@]/;
        my $p = terminal_problem($cell, 0);
        push @lbad, "$p: $cell" if $p || $cell =~ /\n/;
    }
}
is_deeply(\@lbad, [], 'list csv: no formula cell, no control or layout character, no inf');
ok($lcell{helo}{"'=1+2"} && $lcell{sender}{"'\@SUM(A1:A9)"} && $lcell{recipients}{"' -2+3\@x.example"},
    'list csv: =1+2, @SUM and " -2+3" get a leading quote');
ok($lcell{sender}{q{'\x0d=HYPERLINK("http://evil/")}}, 'list csv: = after a leading CR too');
is_deeply([sort grep { length } keys %{ $lcell{score} }], ['-2.0', '-3.5'],
    'list csv: scores are numbers (no quote); the 400-digit one is an empty cell');
($out, $err, $rc) = run('list', '--format', 'json', $LOG);
is($rc, 0, 'list --format json: exit 0');
unlike($out, qr/\b-?(inf|nan)\b/i, 'list json: no inf or nan');
my $ldoc = eval { $json->decode($out) };
ok($ldoc, 'list json: JSON::PP parses it') or diag $@;
if ($ldoc) {
    my %by_text = map { $_->{text} => $_ } @{ $ldoc->{transactions} };
    is($by_text{"<id\xff\xfe\xc3(\@evil>"}{helo}, "evil\e[2J\e]0;pwned\a.example",
        'list json: control characters round-trip, invalid UTF-8 as \\u00NN of the byte');
    ok(exists $by_text{"<id\xff\xfe\xc3(\@evil>"}{score} && !defined $by_text{"<id\xff\xfe\xc3(\@evil>"}{score},
        'list json: the 400-digit score is null');
    is($by_text{'<id2@x>'}{score}, -3.5, 'list json: a score is a number');
    is($by_text{'see \x1b[31m here \ and \\\\'}{helo}, "gpj\x{202e}exe.example", 'list json: U+202E round-trips');
}

# ---- serve: /api/report, /api/list, error bodies, /metrics, the access log ----
my $db = "$TMP/hostile.db";
(undef, $err, $rc) = run('import', '--db', $db, $LOG);
is($rc, 0, 'the hostile corpus is imported') or diag $err;
# dispositions and DNSBL zones are the only label values: hostile ones
spew("$TMP/labels.log",
    "\@400000006b07390f1f43b72c 4001 (queue) logging::logterse: ` 192.0.2.10\tUnknown\th.example\t<a\@b.example>\t"
        . "<r\@x.org>\ta\"b\\c\e[31m\t550\tno\t\n"
        . "\@400000006b0739101f43b72c 4002 (deny) logging::logterse: ` 192.0.2.11\tUnknown\th.example\t<a\@b.example>\t"
        . "<r\@x.org>\tx\x9by\xe2\x80\xae\t550\tno\t\n"
        . "\@400000006b0739111f43b72c 4003 (deny) logging::logterse: ` 192.0.2.11\tUnknown\th.example\t<a\@b.example>\t"
        . "<r\@x.org>\tdnsbl\t550\tBlocked, see \e[2J zone.\x9b\"ex\\ample\t\n");
(undef, $err, $rc) = run('import', '--db', $db, "$TMP/labels.log");
is($rc, 0, 'and a log of hostile dispositions and zones') or diag $err;
my $http = HTTP::Tiny->new(timeout => 20);
my ($spid, $base, $serr) = serve_start($TMP, '--db', $db);
for my $q ('', '?by=helo', '?by=sender,recipient', '?by=score,spam', '?by=connection-time') {
    my $r = $http->get("$base/api/report$q");
    is($r->{status}, 200, "/api/report$q: 200");
    unlike($r->{content}, qr/\b-?(inf|nan)\b/i, "/api/report$q: no inf or nan");
    my $got = eval { $json->decode($r->{content}) };
    ok($got, "/api/report$q: JSON::PP parses it") or diag $@;
    my @by = $q =~ /by=(.*)/ ? ('--by', $1) : ();
    my ($want) = run('report', '--db', $db, '--format', 'json', @by);
    is_deeply($got, $json->decode($want), "/api/report$q = report --db --format json @by");
}
for my $q ('', '?where=helo%3D%3D1%2B2', '?where=helo%3Devil%1B%5B2J%1B%5D0%3Bpwned%07.example') {
    my $r = $http->get("$base/api/list$q");
    is($r->{status}, 200, "/api/list$q: 200");
    unlike($r->{content}, qr/\b-?(inf|nan)\b/i, "/api/list$q: no inf or nan");
    my $got = eval { $json->decode($r->{content}) };
    ok($got && @{ $got->{transactions} }, "/api/list$q: JSON::PP parses it, transactions") or diag $@;
}
for my $q ("wh%1B%5B2Jere=1", "x%FF%FE%9B=1", "where=%E2%80%AE", "days=%C2%9B", "by=%22%5C%0A") {
    my $r = $http->get("$base/api/report?$q");
    is($r->{status}, 400, "/api/report?$q: 400");
    my $body = eval { $json->decode($r->{content}) };
    ok($body && length $body->{error}, "/api/report?$q: the error body is valid JSON") or diag $r->{content};
    my $problem = terminal_problem($r->{content}, 0);
    ok(!defined $problem, "/api/report?$q: the body holds only escapes" . ($problem ? " ($problem)" : ''));
}
my $m = $http->get("$base/metrics")->{content};
# +Inf (a bucket's bound) and NaN are the format's own numbers
terminal_safe('/metrics', $m =~ s/(?<=[" ])(?:\+Inf|NaN)\b//gr, 0);
my @labels = $m =~ /^qpsmtpd_\w+\{(?:disposition|zone)="((?:[^"\\\n]|\\[\\"n])*)"\} \d+$/mg;
my @lines = grep { /^qpsmtpd_\w+\{(?:disposition|zone)=/ } split /\n/, $m;
is(scalar @labels, scalar @lines, '/metrics: every label value is well formed (only \\\\, \\" and \\n escapes)');
my %label = map { s/\\([\\"n])/$1 eq 'n' ? "\n" : $1/ger => 1 } @labels;
my ($text) = run('report', '--db', $db, '--by', 'disposition,dnsbl');
for my $want ('a"b\\\\c\\x1b[31m', 'x\\x9by\\u{202e}', 'zone.\\x9b"ex\\\\ample') {
    ok($label{$want}, "/metrics: a label value reads as report's text: $want") or diag $m;
    like($text, qr/^ +1  \Q$want\E +\d/m, "report --db shows $want the same");
}
$http->get("$base/api/list?x=%1B%5D0%3Bpwned%07%9B%E2%80%AE");
serve_stop($spid);
terminal_safe("serve's access log", slurp($serr), 0);

done_testing;
