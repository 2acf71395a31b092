#!/usr/bin/perl
# t/548-html-report.t - `qpstat report --format html` is the dashboard as one
# self-contained file: the dashboard's own page, stylesheet and script with
# Chart.js (its MIT licence header kept) inlined and the report's JSON
# embedded; nothing is fetched. Opened from disk in headless Chromium, the
# charts draw, the totals and tables equal `report`, tables sort, and a log
# of hostile fields runs no script.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES qpstat_bin run_cmd spew slurp tmpdir NOW);
use JSON::PP;
use Cwd qw(abs_path);

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();

sub q_ok {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return $out;
}

# the file itself
my $page = q_ok('report', '--format', 'html', $FIXTURE{'edge-cases'});
like($page, qr/\A<!DOCTYPE html>/, 'an HTML document');
like($page, qr/Chart\.js v[\d.]+.*Released under the MIT License/s, "Chart.js is inlined with its licence header");
like($page, qr/<meta http-equiv="Content-Security-Policy" content="default-src 'none';/, 'a CSP forbids any network');
unlike($page, qr/<(?:script|link|img)[^>]+(?:src|href)=/i, 'no script, stylesheet or image is loaded from anywhere');
my $dashboard = slurp('web/dashboard.js');
ok(index($page, $dashboard) >= 0, "the dashboard's own script (web/dashboard.js), not a copy");
ok(index($page, slurp('web/dashboard.css')) >= 0, "and its stylesheet");
my ($json) = $page =~ m{<script type="application/json" id="qpstat-report">(.*?)</script>}s;
my $report = decode_json(q_ok('report', '--format', 'json', '--by',
    'disposition,dnsbl,disposition,tld,hour,day,score,spam,ip,helo,sender,recipient,connections,connection-time,'
    . 'hour,disposition,day,disposition',
    $FIXTURE{'edge-cases'}));
is_deeply(decode_json($json), $report, "the embedded data is report --format json of the dashboard's tables");

# usage
my (undef, $e, $s) = run_cmd([$Q, 'report', '--format', 'html', '--by', 'tld', $FIXTURE{'edge-cases'}]);
is($s, 2, '--format html with --by: a usage error');
like($e, qr/drop --by/, 'saying why');

my ($chromium) = grep { -x $_ } '/usr/bin/chromium', '/usr/bin/chromium-browser';
SKIP: {
    skip 'chromium not installed (Debian package chromium)', 1 unless $chromium;
    sub browse {
        my ($file, @extra) = @_;    # a file, or file://...#fragment
        my ($out) = run_cmd([$chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            "--user-data-dir=$tmp/chromium", '--virtual-time-budget=4000', '--window-size=1400,1800',
            (@extra ? @extra : '--dump-dom'), $file =~ m{^file://} ? $file : 'file://' . abs_path($file)], timeout => 90);
        return $out;
    }
    for my $f ('edge-cases', 'multilog-094') {
        my $file = "$tmp/$f.html";
        my @days = $f eq 'multilog-094' ? ('--since', '2026-11-25', '--until', '2026-11-25') : ();
        spew($file, q_ok('report', '--format', 'html', @days, $FIXTURE{$f}));
        my $dom = browse($file);
        like($dom, qr/data-loaded="yes"/, "$f: the page drew the embedded report");
        my $rep = decode_json(q_ok('report', '--format', 'json', '--by', 'disposition,spam,hour,day', @days, $FIXTURE{$f}));
        my ($total) = $dom =~ /id="t-transactions"[^>]*>(\d+)</;
        is($total, $rep->{transactions}, "$f: the page's total = report's ($rep->{transactions})");
        my ($queued) = map { $_->{count} } grep { $_->{disposition} eq 'queued' } @{ $rep->{dimensions}{disposition}{rows} };
        my ($acc) = $dom =~ /id="t-accepted"[^>]*>(\d+)</;
        is($acc, $queued // 0, "$f: accepted = report's queued");
        my $denied = grep { $_->{disposition} ne 'queued' && $_->{count} } @{ $rep->{dimensions}{disposition}{rows} };
        like($dom, qr/<canvas id="c-disposition" data-points="$denied"/, "$f: the denying-plugins chart drew $denied bars");
        my $scale = @days ? 'hour' : 'day';
        my $points = grep { $_->{count} || $scale eq 'hour' } @{ $rep->{dimensions}{$scale}{rows} };
        like($dom, qr/<canvas id="c-time" data-points="$points"/, "$f: transactions over time by $scale ($points points)");
        my $pairs = decode_json(q_ok('report', '--format', 'json', '--by', "$scale,disposition", @days, $FIXTURE{$f}));
        my %disp = map { $_->{disposition} => 1 } @{ $pairs->{dimensions}{"$scale,disposition"}{rows} };
        my $series = keys %disp;
        like($dom, qr/<canvas id="c-time" data-points="$points"[^>]* data-series="$series"/,
             "$f: ... stacked by disposition ($series series)");
        my ($ip) = $dom =~ m{<table id="top-ip" class="top">(.*?)</table>}s;
        my $rows = () = $ip =~ m{<tr><td class="link">}g;
        my $rip = decode_json(q_ok('report', '--format', 'json', '--by', 'ip', '--top', '20', @days, $FIXTURE{$f}));
        is($rows, scalar @{ $rip->{dimensions}{ip}{rows} }, "$f: the top IPs table has report's rows");
    }
    # a log without logterse records (stock Debian before the plugin): the
    # page says so and how to load the plugin, as the text report does
    {
        my @stock = grep { !/`/ } split /^/m, slurp($FIXTURE{'logfile-094'});
        spew("$tmp/stock.log", join '', @stock);
        spew("$tmp/stock.html", q_ok('report', '--format', 'html', "$tmp/stock.log"));
        my $dom = browse("$tmp/stock.html");
        like($dom, qr/data-loaded="yes"/, 'stock log: the page drew');
        like($dom, qr/<section id="no-terse" class="wide">\s*<h2>No logterse records in these logs/,
            'stock log: the page says there are no logterse records');
        like($dom, qr/Load the qpstat plugin/, 'and how to load the plugin');
        like(browse("$tmp/edge-cases.html"), qr/<section id="no-terse" class="wide" hidden/,
            'a log with records: no such note');
    }
    # sorting: the top-IP table by its key, ascending and descending
    my $file = "$tmp/edge-cases.html";
    for my $dir ('asc', 'desc') {
        my $dom = browse('file://' . abs_path($file) . "#sort=top-ip,0,$dir");
        my ($ip) = $dom =~ m{<table id="top-ip" class="top"[^>]*>(.*?)</table>}s;
        my @keys = $ip =~ m{<tr><td class="link">([^<]*)</td>}g;
        my @want = sort @keys;
        @want = reverse @want if $dir eq 'desc';
        ok(@keys > 3 && "@keys" eq "@want", "the top-IP table sorts by IP, $dir");
        like($dom, qr{<table id="top-ip" class="top" data-sorted="0,$dir"}, '... as a click on its header would');
    }
    # hostile fields: shown as text, nothing runs, nothing is fetched
    my @payloads = ('<script>document.title="pwned"</script>', '"><img src=x onerror="document.title=1">',
                    '</script><script>document.title=2</script>', '<!--', '<svg onload=document.title=3>');
    my $log = '';
    for my $i (0 .. $#payloads) {
        my $p = $payloads[$i];
        $log .= sprintf "\@%016x%08x %d (deny) logging::logterse: ` 192.0.2.%d\trhost\t%s\t<x\@%s>\t<bob\@example.com>\t%s\t550\t%s\tmsg denied before queued\n",
          NOW - 3600 + 4611686018427387914 + $i, 0, 4000 + $i, $i + 1, $p, $p, $p, $p;
    }
    spew("$tmp/evil.log", $log);
    my $evil = "$tmp/evil.html";
    spew($evil, q_ok('report', '--format', 'html', "$tmp/evil.log"));
    unlike(slurp($evil), qr{</script><script>document}, 'a field cannot close the data element');
    my $dom = browse($evil);
    like($dom, qr{<title>qpstat report</title>}, 'hostile: the title is unchanged (no script ran)');
    like($dom, qr/data-loaded="yes"/, 'hostile: the page still drew');
    like($dom, qr/&lt;script&gt;document\.title="pwned"/, 'hostile: the HELO shown as text');
    unlike($dom, qr/<img src="?x/, 'hostile: no element made from a field');
    # the report as it looks: a test artefact
    my $art = $ENV{QPS_ARTEFACTS} || 't/artefacts';
    mkdir $art;
    browse("$tmp/edge-cases.html", '--screenshot=' . abs_path($art) . '/report-html.png');
    ok(-s "$art/report-html.png", "a screenshot of the HTML report is in $art/report-html.png");
}
done_testing;
