#!/usr/bin/perl
# t/205-range.t - one reading of the time options (the core's qps_range):
# the CLI (report, list, received), serve's API and the Perl modules
# (Qpstat::Agg->new, Qpstat::Store->report) take and refuse the same values
# with the same words, and select the same transactions with the same mail
# date label. The issue's case: days => 200000 was taken by Perl and
# refused by `qpstat report --days 200000`.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE NOW qpstat_bin run_cmd tmpdir serve_start serve_stop);
use HTTP::Tiny;
use JSON::PP;
use Qpstat::Agg;
use Qpstat::Store;

my $Q = qpstat_bin() or plan skip_all => 'no qpstat binary (build first)';
my $LOG = $FIXTURE{'multilog-094'};
my $tmp = tmpdir();

sub cli {
    my ($out, $err, $rc) = run_cmd([$Q, @_]);
    return ($out, $err, $rc);
}

# The CLI's message without its frame, options named as Perl names them.
sub cli_words {
    my ($err) = @_;
    my ($msg) = $err =~ /^qpstat \w[\w-]*: (.*)$/m or return '';
    return $msg =~ s/--(today|yesterday|days|since|until)\b/$1/gr;
}

sub perl_words {
    my ($err) = @_;
    return $err =~ /^Qpstat::\w+(?:::\w+)*: (.*?) at \S+ line \d+\.?$/m ? $1 : $err;
}

# ---- days: the same limit and words ------------------------------------------
for my $days ('0', '1', '7', '0007', '100000', '100001', '200000', '-1', '+1', ' 1', '1x', '1.5', '') {
    my ($out, $err, $rc) = cli('report', '--format', 'json', '--days', $days, $LOG);
    my $agg = eval { Qpstat::Agg->new(now => NOW, days => $days) };
    my $perr = $@;
    if ($rc == 0) {
        ok($agg, "days '$days': the CLI takes it, and Perl") or diag $perr;
        is($agg && $agg->add_file($LOG)->report(format => 'json'), $out, "days '$days': the same report");
    } else {
        is($rc, 2, "days '$days': a usage error for the CLI");
        ok(!$agg, "days '$days': Perl refuses it too");
        is(perl_words($perr), cli_words($err), "days '$days': in the same words");
    }
}
my ($out, $err, $rc) = cli('report', '--days', '200000', $LOG);
is($rc, 2, 'the issue: report --days 200000 exits 2');
eval { Qpstat::Agg->new(days => 200000) };
like($@, qr/^Qpstat::Agg::new: days takes a whole number from 1 to 100000, not '200000'/,
    'and Qpstat::Agg->new(days => 200000) croaks');
(undef, $err, $rc) = cli('received', '--days', '200000', $tmp);
is($rc, 2, 'received --days 200000: the same limit');
is(cli_words($err), 'days takes a whole number from 1 to 100000, not \'200000\'', 'in the same words');

# ---- combinations ----------------------------------------------------------
for my $case ([['--today', '--days', '2'], [today => 1, days => 2]],
    [['--yesterday', '--today'], [yesterday => 1, today => 1]],
    [['--since', '2026-11-25 19:38Z', '--until', '2026-11-25 19:00Z'], [since => 1795635480, until => 1795633200]],
    [['--since', '2026-11-25 19:38Z', '--until', '2026-11-25 19:38Z'], [since => 1795635480, until => 1795635480]],
    [['--days', '1', '--until', '2026-11-01'], [days => 1, until => 1793491200]])
{
    my ($args, $opts) = @$case;
    for my $cmd ('report', 'list') {
        (undef, $err, $rc) = cli($cmd, @$args, $LOG);
        is($rc, 2, "$cmd @$args: a usage error");
        eval { Qpstat::Agg->new(now => NOW, @$opts) };
        is(perl_words($@), cli_words($err), "Qpstat::Agg->new(@$opts) refuses it in the same words");
    }
}

# ---- results and the mail's date label ---------------------------------------
for my $case ([[], []], [['--today'], [today => 1]], [['--yesterday'], [yesterday => 1]],
    [['--days', '3'], [days => 3]], [['--since', '2026-11-25 19:38Z'], [since => 1795635480]],
    [['--until', '2026-11-25 19:38Z'], [until => 1795635480]],
    [['--since', '2026-11-24', '--until', '2026-11-25'], [since => 1795478400, until => 1795651200]],
    [['--today', '--since', '2026-11-25 19:38Z'], [since => 1795635480, today => 1]])
{
    my ($args, $opts) = @$case;
    ($out, $err, $rc) = cli('report', '--format', 'json', @$args, $LOG);
    is($rc, 0, "report @$args: exit 0") or diag $err;
    is(Qpstat::Agg->new(now => NOW, @$opts)->add_file($LOG)->report(format => 'json'), $out,
        "Agg->new(@$opts) = report @$args");
    next unless @$opts; # without an option the mail's default days are Store->report's (below)
    my ($mail) = cli('report', '--mail', @$args, $LOG);
    my ($subject) = $mail =~ /^(Subject: .*)$/m;
    ok($subject, "report --mail @$args: $subject");
    is(Qpstat::Agg->new(now => NOW, @$opts)->add_file($LOG)->report(format => 'mail'), $mail,
        "Perl's mail report (@$opts) = report --mail @$args: the same date label");
}

# ---- the store: Perl, the CLI and serve's API ----------------------------------
my $db = "$tmp/range.db";
(undef, $err, $rc) = cli('import', '--db', $db, $LOG);
is($rc, 0, 'the fixture is imported') or diag $err;
my $store = Qpstat::Store->open($db, readonly => 1);
for my $case ([[], []], [['--days', '3'], [days => 3]], [['--today'], [today => 1]],
    [['--since', '2026-11-25 19:38Z'], [since => 1795635480]])
{
    my ($args, $opts) = @$case;
    my ($want) = cli('report', '--db', $db, '--format', 'csv', '--by', 'disposition', @$args);
    is($store->report(format => 'csv', by => 'disposition', now => NOW, @$opts), $want,
        "Store->report(@$opts) = report --db @$args");
    my ($mail) = cli('report', '--db', $db, '--mail', @$args);
    is($store->report(format => 'mail', now => NOW, @$opts), $mail, "Store->report(mail, @$opts) = --mail @$args");
}
eval { $store->report(days => 200000) };
like($@, qr/^Qpstat::Store::report: days takes a whole number from 1 to 100000/, 'Store->report: the same limit');
$store->close;

my ($pid, $base) = serve_start($tmp, '--db', $db);
my $http = HTTP::Tiny->new(timeout => 20);
for my $case (['days=200000', '--days', '200000'], ['days=0', '--days', '0'], ['days=1x', '--days', '1x'],
    ['today=1&days=2', '--today', '--days', '2'],
    ['since=2026-11-20&until=2026-11-10', '--since', '2026-11-20', '--until', '2026-11-10'],
    ['since=x', '--since', 'x'])
{
    my ($q, @args) = @$case;
    my $r = $http->get("$base/api/report?$q");
    is($r->{status}, 400, "/api/report?$q: 400");
    my $why = eval { decode_json($r->{content})->{error} } // '';
    (undef, $err) = cli('report', '--db', $db, @args);
    is($why, cli_words($err), "/api/report?$q: the words of report @args");
}
my $r = $http->get("$base/api/report?days=100000&by=disposition");
is($r->{status}, 200, '/api/report?days=100000: the upper limit is taken');
serve_stop($pid);

done_testing;
