#!/usr/bin/perl
# t/510-awk-exact.t - qpstat against the SME wiki's awk one-liners.
#
# The one-liners of the "Email Statistics" page (the seed) are run
# THEMSELVES: their awk program texts are copied verbatim below (as data) and
# run under gawk and under mawk (a flavour is skipped only when its binary is
# missing; Debian: apt-get install gawk mawk) over every fixture of t/data,
# in every prefix dialect and framing. Their numbers are compared with
# `qpstat report --format csv` (and --mail). Where the seed is wrong, a
# corrected program (the seed's text with one documented edit) is run as
# well; the test asserts both what the seed gets wrong and that the corrected
# program agrees with qpstat exactly.
#
# Fixtures are made by t/data/make-fixtures.pl; the numbers hard-coded here
# are the ones documented in that script's edge-cases table.
use strict;
use warnings;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp parse_csv mail_seed_view);
use Test::More;
use File::Temp ();
use POSIX ();

my $qpstat = qpstat_bin();
unless ($qpstat) {
    fail('a qpstat binary exists and is executable (build first, or set QPSTAT)');
    done_testing;
    exit;
}

# Determinism: UTC, a fixed "now" on the fixtures' day, C locale.
my $NOW = 1795640400;    # 2026-11-25 21:00:00 UTC
$ENV{TZ} = 'UTC';
$ENV{QPSTAT_NOW} = $NOW;
$ENV{LC_ALL} = 'C';
delete $ENV{LANG};

# ---------------------------------------------------------------------------
# The seed's programs, verbatim, in t/data/seed/*.awk (shared with t/515 and
# bench/run.sh): the text between the single quotes of each shell command,
# backslash-newlines included (awk joins those lines itself).
#   disposition.awk  "Count messages by qpsmtpd disposition":
#                    awk -F"[\t]" '<this>' $(find ...) |sort -nr
#   dnsbl.awk        "Count messages denied by DNSBL Block Lists":
#                    awk -F"[\t]" '<this>' $(find ...)
#   mail.awk         "Count emails by TLD and disposition for today and yesterday":
#                    export LC_ALL=C; mydate=<today>\|<yesterday>; cat -v $(find ...) |tai64nlocal
#                    |egrep $mydate | grep -v ^# | awk -v date="$mydate" -v tots="<55 chars>" -F"[\t]" '<this>'
my ($SEED_DISPOSITION, $SEED_DNSBL, $SEED_MAIL) = map { slurp("t/data/seed/$_.awk") } qw(disposition dnsbl mail);
chomp($SEED_DISPOSITION, $SEED_DNSBL, $SEED_MAIL);
my $SEED_TOTS = ' ' x 35 . '{{Total}}' . ' ' x 11;    # the seed's -v tots="..."

# The seed page has a NO-BREAK SPACE (UTF-8 C2 A0, from the wiki's HTML)
# between "/Total/" and "?" in the mail program: kept above, byte for byte.
# Neither gawk nor mawk accepts it (asserted below), so the program is run
# with that one character turned into a space - the only edit made to it.
my $NBSP = "\xC2\xA0";
my $SEED_MAIL_AS_PRINTED = $SEED_MAIL;
my $nbsp_count = ($SEED_MAIL =~ s/\Q$NBSP\E/ /g);

# formats.md 5.3: the mmccarn/smeserver (SME 9.2) variants select
# /logterse plugin/ instead: the 0.4x/0.8x prefix only.
(my $SEED_DISPOSITION_53 = $SEED_DISPOSITION) =~ s{/logterse/}{/logterse plugin/} or die;

# The corrections. A logterse record is a line whose first TAB field ends in
# the logterse prefix: "logging::logterse: ` " (0.93+), "logging::logterse
# plugin: ` " (0.4x), "logging::logterse plugin (hook): ` " (0.8x), or, for
# the logging/file and logging/syslog frames that carry no plugin name,
# "host[pid]: `" (formats.md 2.2, 3.4). The seed's /logterse/ misses the
# logging/file frame entirely (no plugin names there) and also matches core
# lines that merely contain the word, e.g. "dispatching MAIL
# FROM:<logterse@example.org>" and its "250 <logterse@example.org>, sender
# OK" reply (edge-cases.log).
my $RECORD = '$1 ~ /(logging::logterse( plugin( \([a-z_-]+\))?)?|[]]): `/';

sub corrected {
    my ($prog, $from, $to) = @_;
    my $n = ($prog =~ s/\Q$from\E/$to/);
    die "correction '$from' not found in the seed program\n" unless $n;
    return $prog;
}
my $FIX_DISPOSITION = corrected($SEED_DISPOSITION, '/logterse/', $RECORD);

# dnsbl: the seed selects /logterse.*dnsbl/, i.e. any record with "dnsbl"
# anywhere after the word, e.g. a queued mail from <alerts@dnsbl.example.net>
# (counted under ""). qpstat counts denials by a plugin whose name contains
# dnsbl, and naughty denials whose text names dnsbl (formats.md 2.4, 5.4).
my $FIX_DNSBL = corrected($SEED_DNSBL, '/logterse.*dnsbl/',
    "$RECORD && (\$6 ~ /dnsbl/ || (\$6 == \"naughty\" && \$8 ~ /dnsbl/))");

# The mail: besides the record selection, the sender TLD. The seed takes the
# last "."-separated piece of the sender field and drops one ">": the null
# sender "<>" becomes "<", "<root@localhost>" becomes "<root@localhost" and
# "<\"j.doe\"@mailhost>" becomes "doe\"@mailhost". qpstat keys the null
# sender as "<>" and takes the last label of the domain (after the last
# "@"), lower-cased.
my $SEED_TLD = <<'AWK';
split($4,ss,"."); ssn=0; for (i in ss) { ssn++}; \
sendtld=tolower( ss[ssn]); sub(">","",sendtld); \
AWK
chomp $SEED_TLD;
my $FIX_TLD = 'sendtld=$4; sub(/^</,"",sendtld); sub(/>$/,"",sendtld); n=split(sendtld,at,"@"); '
    . 'dom=(n ? at[n] : ""); sub(/\.+$/,"",dom); k=split(dom,ss,"."); sendtld=tolower(k ? ss[k] : ""); '
    . "if (\$4 == \"<>\") sendtld=\"<>\"; \\";
my $FIX_MAIL = corrected(corrected($SEED_MAIL, '/logterse/', $RECORD), $SEED_TLD, $FIX_TLD);

# ---------------------------------------------------------------------------
# Fixtures: name => [qpstat path, files as the seed's find would list them,
# dialect/framing]

my $D = 't/data';
my @ml094 = do {
    opendir my $dh, "$D/multilog-094" or die "cannot read $D/multilog-094: $!";
    my @f = sort grep { /^\@/ } readdir $dh;
    ((map {"$D/multilog-094/$_"} @f), "$D/multilog-094/current");
};
my %FIX = (
    'multilog-094'        => ["$D/multilog-094", \@ml094, '0.94 multilog'],
    'dialect-08x.log'     => ["$D/dialect-08x.log", ["$D/dialect-08x.log"], '0.8x multilog'],
    'dialect-04x.log'     => ["$D/dialect-04x.log", ["$D/dialect-04x.log"], '0.4x multilog'],
    'tai64nlocal-093.log' => ["$D/tai64nlocal-093.log", ["$D/tai64nlocal-093.log"], '0.93 tai64nlocal'],
    'syslog-093.log'      => ["$D/syslog-093.log", ["$D/syslog-093.log"], '0.93 journald/syslog'],
    'logfile-094.log'     => ["$D/logfile-094.log", ["$D/logfile-094.log"], 'logging/file'],
    'edge-cases.log'      => ["$D/edge-cases.log", ["$D/edge-cases.log"], '0.93 multilog, hand-written'],
);
my @FIXTURES = sort keys %FIX;
for my $f (@FIXTURES) {
    -e $_ or BAIL_OUT("fixture $_ missing: run perl t/data/make-fixtures.pl") for $FIX{$f}[0], @{ $FIX{$f}[1] };
}

# ---------------------------------------------------------------------------
# helpers


# Runs a command (list form, no shell); returns stdout, stderr, exit code.
sub run {
    my ($cmd, %o) = @_;
    my ($out, $err, $rc, undef, $sig) = run_cmd($cmd, %o);
    return { out => $out, err => $err, rc => $rc, sig => $sig };
}


# qpstat --format csv --by DIM -> { key => count }, total, raw header
sub qpstat_counts {
    my ($path, $dim) = @_;
    my $r = run([$qpstat, 'report', '--format', 'csv', '--by', $dim, $path]);
    die "qpstat report --by $dim $path: exit $r->{rc}: $r->{err}" if $r->{rc} || $r->{sig};
    my ($head, @rows) = parse_csv($r->{out});
    die "unexpected CSV header @$head" unless "@$head" eq "$dim count percent";
    my (%c, $total);
    for (@rows) {
        die "duplicate key '$_->[0]'" if exists $c{ $_->[0] };
        $c{ $_->[0] } = $_->[1];
        $total += $_->[1];
    }
    return (\%c, $total // 0);
}

# Output lines "count<TAB>key" of the count[]-printing one-liners -> hash.
sub run_awk_counts {
    my ($awk, $prog, @files) = @_;
    my $r = run([$awk, '-F[\t]', $prog, @files]);    # shell: -F"[\t]"
    die "$awk failed (exit $r->{rc}): $r->{err}" if $r->{rc} || $r->{sig} || length $r->{err};
    my %c;
    for my $line (split /\n/, $r->{out}) {
        my ($n, $key) = split /\t/, $line, 2;
        die "unexpected $awk output line '$line'" unless defined $key && $n =~ /^\d+$/;
        die "duplicate key '$key'" if exists $c{$key};
        $c{$key} = $n;
    }
    return \%c;
}

sub without_total {
    my ($h) = @_;
    my %c = %$h;
    my $t = delete $c{Total} // 0;
    return (\%c, $t);
}

# tai64nlocal for the mail pipeline: daemontools' when installed, else the
# same conversion in Perl (formats.md 7; TZ=UTC here).
my ($TAI64NLOCAL) = grep { -x "$_/tai64nlocal" } split /:/, $ENV{PATH} // '';
my $TAI_PERL = <<'PERL';
binmode STDIN; binmode STDOUT;
while (my $l = <STDIN>) {
    if ($l =~ /^\@([0-9a-f]{8})([0-9a-f]{8})([0-9a-f]{8})/) {
        my $t = (hex($1) - 0x40000000) * 4294967296 + hex($2) - 10;
        my @g = localtime $t;
        $l = sprintf("%04d-%02d-%02d %02d:%02d:%02d.%09d", $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0], hex $3)
           . substr($l, 25);
    }
    print $l;
}
PERL

# The seed's mail pipeline with "find" replaced by the fixture's files and
# "date" by the fixed now; egrep is spelled grep -E (Debian's egrep is a
# wrapper that runs grep -E and warns that it is obsolescent).
sub today_yesterday {
    return POSIX::strftime('%Y-%m-%d', gmtime $NOW) . '|' . POSIX::strftime('%Y-%m-%d', gmtime($NOW - 86400));
}

sub run_seed_mail {
    my ($awk, $prog, @files) = @_;
    my $tai = $TAI64NLOCAL ? 'tai64nlocal' : 'perl -e "$TAI_PERL"';
    my $sh = 'export LC_ALL=C; mydate="$MYDATE"; cat -v "$@" |' . $tai
        . ' |grep -E $mydate | grep -v ^# | $AWK -v date="$mydate" -v tots="$TOTS" -F"[\t]" "$PROG"';
    my $r = run(['sh', '-c', $sh, 'sh', @files],
        env => { MYDATE => today_yesterday(), AWK => $awk, TOTS => $SEED_TOTS, PROG => $prog, TAI_PERL => $TAI_PERL });
    die "seed mail pipeline ($awk) failed (exit $r->{rc}): $r->{err}" if $r->{rc} || $r->{sig} || length $r->{err};
    return $r->{out};
}

# qpstat keys the null sender "<>" where the seed prints "<": the only
# difference on fixtures without dotless or quoted sender domains. Maps the
# seed's TLD column (characters 36-55 of a row) accordingly.
sub map_seed_tld {
    my ($text) = @_;
    my $lt = sprintf '%-20s', '<';
    my $nul = sprintf '%-20s', '<>';
    return join '', map { s/^(.{35})\Q$lt\E/$1$nul/r } split /^/, $text;
}

sub row { sprintf '%-35s%-20s%9s', @_ }

my @AWKS = grep {
    my $a = $_;
    grep { -x "$_/$a" } split /:/, $ENV{PATH} // '';
} qw(gawk mawk);

# ---------------------------------------------------------------------------
# qpstat's own numbers, once per fixture

my (%Q, %QT);
for my $f (@FIXTURES) {
    for my $dim (qw(disposition dnsbl)) {
        ($Q{$f}{$dim}, $QT{$f}{$dim}) = qpstat_counts($FIX{$f}[0], $dim);
    }
}

# The documented contents of the fixtures (make-fixtures.pl): the real
# numbers that every comparison below must reproduce.
my %DISPO_094 = (queued => 3, badmailfrom => 2, helo => 2, hosts_allow => 2, badrcptto => 1,
    count_unrecognized_commands => 1, earlytalker => 1, loop => 1, naughty => 1, noop_counter => 1,
    rcpt_ok => 1, spamassassin => 1);
my %DISPO_EDGE = (queued => 6, dnsbl => 3, naughty => 2, badrcptto => 1, rhsbl => 1, badmailfrom => 1,
    spamassassin => 1, rcpt_ok => 1);
my %EXPECT_DISPO = (
    (map { $_ => \%DISPO_094 } qw(multilog-094 dialect-08x.log dialect-04x.log tai64nlocal-093.log syslog-093.log)),
    'logfile-094.log' => { queued => 1, badmailfrom => 1 },
    'edge-cases.log'  => \%DISPO_EDGE,
);
for my $f (@FIXTURES) {
    is_deeply($Q{$f}{disposition}, $EXPECT_DISPO{$f}, "qpstat --by disposition on $f: the fixture's records");
}
is($nbsp_count, 1, 'the seed mail program as printed contains one NO-BREAK SPACE (kept verbatim in this file)');

for my $awk (@AWKS) {
    note "=== $awk ===";

    my $as_printed = run([$awk, '-v', 'date=x', '-v', "tots=$SEED_TOTS", '-F[\t]', $SEED_MAIL_AS_PRINTED]);
    isnt($as_printed->{rc}, 0, "$awk rejects the seed mail program as printed (NO-BREAK SPACE)");
    like($as_printed->{err}, qr/(invalid char|unexpected character)/i, "$awk: ... with a syntax error")
        or diag $as_printed->{err};

    # -----------------------------------------------------------------------
    # 1. disposition
    for my $f (@FIXTURES) {
        my ($path, $files, $what) = @{ $FIX{$f} };
        my ($q, $qt) = ($Q{$f}{disposition}, $QT{$f}{disposition});
        my ($seed, $seed_total) = without_total(run_awk_counts($awk, $SEED_DISPOSITION, @$files));
        my ($seed53, $seed53_total) = without_total(run_awk_counts($awk, $SEED_DISPOSITION_53, @$files));
        my ($fix, $fix_total) = without_total(run_awk_counts($awk, $FIX_DISPOSITION, @$files));

        if ($f eq 'logfile-094.log') {
            # logging/file lines carry no plugin name: the seed's /logterse/
            # selects nothing (formats.md 2.2); the corrected selection
            # ("host[pid]: `") finds the records.
            is_deeply($seed, {}, "$awk disposition, $f: the seed's /logterse/ matches nothing");
            is($seed_total, 0, "$awk disposition, $f: seed Total is 0");
            cmp_ok($qt, '>', 0, "$awk disposition, $f: while qpstat counts $qt records");
        } elsif ($f eq 'edge-cases.log') {
            # two core lines contain the word logterse (a sender address):
            # the seed counts them as records with disposition ""
            is_deeply($seed, { %$q, '' => 2 }, "$awk disposition, $f: seed = qpstat + 2 non-records under ''");
            is($seed_total, $qt + 2, "$awk disposition, $f: seed Total = qpstat total + 2");
        } else {
            is_deeply($seed, $q, "$awk disposition, $f ($what): seed one-liner = qpstat --by disposition");
            is($seed_total, $qt, "$awk disposition, $f: seed Total = sum of qpstat rows ($qt)");
        }
        # The corrected selection agrees with qpstat everywhere.
        is_deeply($fix, $q, "$awk disposition, $f: corrected one-liner = qpstat");
        is($fix_total, $qt, "$awk disposition, $f: corrected Total = qpstat total");

        # formats.md 5.3: /logterse plugin/ only matches the 0.4x/0.8x prefix.
        if ($f =~ /^dialect-0[48]x/) {
            is_deeply($seed53, $q, "$awk disposition, $f: /logterse plugin/ variant = qpstat");
            is($seed53_total, $qt, "$awk disposition, $f: /logterse plugin/ Total = qpstat total");
        } else {
            is($seed53_total, 0, "$awk disposition, $f: /logterse plugin/ variant counts 0 ...");
            cmp_ok($qt, '>', 0, "$awk disposition, $f: ... while qpstat counts $qt");
        }
    }

    # -----------------------------------------------------------------------
    # 2. dnsbl
    for my $f (@FIXTURES) {
        my ($path, $files) = @{ $FIX{$f} };
        my ($q, $qt) = ($Q{$f}{dnsbl}, $QT{$f}{dnsbl});
        my ($seed, $seed_total) = without_total(run_awk_counts($awk, $SEED_DNSBL, @$files));
        my ($fix, $fix_total) = without_total(run_awk_counts($awk, $FIX_DNSBL, @$files));
        if ($f ne 'edge-cases.log') {
            # no dnsbl denials in the 0.94 run (no DNS offline)
            is_deeply([$seed, $seed_total, $fix, $q, $qt], [{}, 0, {}, {}, 0],
                "$awk dnsbl, $f: no DNSBL denials, neither for the seed nor for qpstat");
            next;
        }
        # edge-cases.log: URL denials (http, https, inside a naughty text),
        # one text without a URL, one queued record from a dnsbl.* sender.
        is_deeply($seed, { 'www.spamhaus.org' => 1, 'www.spamcop.net' => 2, '' => 2 },
            "$awk dnsbl, $f: the seed's keys (msg[3] of the text)");
        is($seed_total, 5, "$awk dnsbl, $f: the seed's Total includes the queued dnsbl.example.net record");
        is_deeply($fix, { 'www.spamhaus.org' => 1, 'www.spamcop.net' => 2, '' => 1 },
            "$awk dnsbl, $f: corrected selection");
        is($fix_total, $qt, "$awk dnsbl, $f: corrected Total = qpstat total ($qt)");
        for my $host (grep { length } keys %$fix) {
            is($q->{$host}, $fix->{$host}, "$awk dnsbl, $f: URL host $host: qpstat = seed ($fix->{$host})");
        }
        # Texts without a URL: the seed's msg[3] is "" while qpstat names the
        # DNS zone of the text. Same count, corrected key.
        my %zones = map { $_ => $q->{$_} } grep { !exists $fix->{$_} } keys %$q;
        is_deeply(\%zones, { 'zen.spamhaus.org' => 1 },
            "$awk dnsbl, $f: 'Blocked by zen.spamhaus.org' -> qpstat key zen.spamhaus.org (seed: '')");
        my $zone_sum = 0;
        $zone_sum += $_ for values %zones;
        is($zone_sum, $fix->{''}, "$awk dnsbl, $f: qpstat's zone rows = the seed's '' count");
    }

    # -----------------------------------------------------------------------
    # 3. the "Email Disposition" mail
    my $date = today_yesterday();
    for my $f ('tai64nlocal-093.log', 'multilog-094', 'dialect-08x.log', 'dialect-04x.log') {
        my ($path, $files) = @{ $FIX{$f} };
        my $seed = run_seed_mail($awk, $SEED_MAIL, @$files);
        my $r = run([$qpstat, 'report', '--mail', $path]);
        is($r->{rc}, 0, "$awk mail, $f: qpstat --mail exits 0");
        like($seed, qr/^\Q$SEED_TOTS\E\s+17 \(100\.0%\)$/m, "$awk mail, $f: the seed counts 17 records");
        like($seed, qr/^Subject: Email Disposition on \Q$date\E\n\n/, "$awk mail, $f: seed subject has today|yesterday");
        # --mail is the complete daily mail now: its Subject and its seed table are the seed's mail
        is(mail_seed_view($r->{out}), map_seed_tld($seed), "$awk mail, $f: qpstat --mail = seed mail (null sender '<>' for '<')");
        is(mail_seed_view($r->{out}), run_seed_mail($awk, $FIX_MAIL, @$files), "$awk mail, $f: qpstat --mail = corrected program");
    }

    # edge-cases.log: a record of 2026-11-23 (outside today|yesterday),
    # dotless and quoted sender domains, non-record lines with "logterse".
    {
        my $f = 'edge-cases.log';
        my $seed = run_seed_mail($awk, $SEED_MAIL, $FIX{$f}[0]);
        my $fix = run_seed_mail($awk, $FIX_MAIL, $FIX{$f}[0]);
        my $r = run([$qpstat, 'report', '--mail', $FIX{$f}[0]]);
        is(mail_seed_view($r->{out}), $fix, "$awk mail, $f: qpstat --mail = corrected program, byte for byte");
        like($r->{out}, qr/^\Q$SEED_TOTS\E       15 \(100\.0%\)$/m, "$awk mail, $f: 15 records today|yesterday");
        # what the unmodified seed prints instead
        my %seed_lines = map { $_ => 1 } split /\n/, $seed;
        ok($seed_lines{ row('queued', '<', 1) }, "$awk mail, $f: seed keys the null sender '<'");
        ok($seed_lines{ row('queued', '<root@localhost', 1) }, "$awk mail, $f: seed keys <root\@localhost> as '<root\@localhost'");
        ok($seed_lines{ row('rcpt_ok', 'doe"@mailhost', 1) }, "$awk mail, $f: seed keys <\"j.doe\"\@mailhost> as 'doe\"\@mailhost'");
        ok($seed_lines{ row('', '', 2) }, "$awk mail, $f: seed counts the 2 'logterse' core lines as records");
        ok($seed_lines{ "$SEED_TOTS       17 (100.0%)" }, "$awk mail, $f: seed total 17 (15 records + 2 non-records)");
        my %q_lines = map { $_ => 1 } split /\n/, $r->{out};
        ok($q_lines{ row('queued', '<>', 1) } && $q_lines{ row('queued', 'localhost', 1) }
                && $q_lines{ row('rcpt_ok', 'mailhost', 1) },
            "$awk mail, $f: qpstat keys '<>', 'localhost', 'mailhost'");
        ok(!grep({ /^queued\s+com\s+2$/ } split /\n/, $r->{out}), "$awk mail, $f: the 2026-11-23 record is left out");
    }
}

ok(scalar @AWKS, 'at least one of gawk, mawk is installed') or diag 'apt-get install gawk mawk';
note "awk flavours run: @AWKS";
note $TAI64NLOCAL ? "tai64nlocal: $TAI64NLOCAL/tai64nlocal" : 'tai64nlocal: not installed, Perl replacement';

done_testing;
