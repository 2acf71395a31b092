#!/usr/bin/perl
# t/549-search.t - the search box: `--where grep=TEXT` (report, list, and the
# dashboard's /api/list) selects the transactions any of whose fields holds
# TEXT in any case, as `qpstat grep` matches by default; the dashboard's
# search lists exactly them (headless Chromium on a real `qpstat serve`).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES qpstat_bin run_cmd tmpdir);
use JSON::PP;
use IO::Socket::INET;
use HTTP::Tiny;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();

sub json_of {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return decode_json($out);
}

my @FIELDS = qw(ip helo sender recipients disposition code text);
my $db = "$tmp/all.db";
my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, map { $FIXTURE{$_} } @FIXTURES]);
is($st, 0, 'the fixtures imported') or diag($err);
my $all = json_of('list', '--format', 'json', '--limit', '0', '--db', $db);
ok($all->{matched} > 50, "the store holds $all->{matched} transactions");
for my $q ('EXAMPLE.org', 'spamhaus', 'BadMailFrom', '127.0.0', 'Relaying denied', 'no such text anywhere') {
    my $want = grep { my $t = $_; grep { defined $t->{$_} && index(lc $t->{$_}, lc $q) >= 0 } @FIELDS } @{ $all->{transactions} };
    my $l = json_of('list', '--format', 'json', '--limit', '0', '--where', "grep=$q", '--db', $db);
    is($l->{matched}, $want, "list --where grep=$q: the $want transactions with '$q' in a field, in any case");
    my $r = json_of('report', '--format', 'json', '--by', 'disposition', '--where', "grep=$q", '--db', $db);
    is($r->{transactions}, $want, "report --where grep=$q counts them");
}
# from the logs as from the store
my $l = json_of('list', '--format', 'json', '--limit', '0', '--where', 'grep=spamhaus', $FIXTURE{'edge-cases'});
my $r = json_of('list', '--format', 'json', '--limit', '0', '--where', 'grep=spamhaus', '--db', $db);
ok($l->{matched} > 0 && $l->{matched} <= $r->{matched}, 'grep= on a log too');

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp') or die;
    my $p = $s->sockport;
    close $s;
    return $p;
}
my $port = free_port();
my $pid = fork // die;
if (!$pid) {
    open STDERR, '>', "$tmp/serve.log";
    exec $Q, 'serve', '--db', $db, '--listen', "127.0.0.1:$port" or exit 127;
}
my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);
for (1 .. 100) { last if $http->get("$base/")->{success}; select undef, undef, undef, 0.1 }
my $res = $http->get("$base/api/list?limit=0&where=grep%3DSPAMHAUS");
is($res->{status}, 200, '/api/list?where=grep%3D...');
my $api = decode_json($res->{content});
is($api->{matched}, $r->{matched}, '/api/list with grep= = list --db --where grep=');

my ($chromium) = grep { -x $_ } '/usr/bin/chromium', '/usr/bin/chromium-browser';
SKIP: {
    skip 'chromium not installed (Debian package chromium)', 3 unless $chromium;
    my ($dom) = run_cmd([$chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        "--user-data-dir=$tmp/chromium", '--virtual-time-budget=8000', '--window-size=1400,1800', '--dump-dom',
        "$base/#where=grep%3Dspamhaus"], timeout => 90);
    like($dom, qr/<input id="search" type="search"/, 'the dashboard has a search box');
    my ($matched) = $dom =~ /<section id="drill"[^>]*data-matched="(\d+)"/;
    is($matched, $r->{matched}, "the search for 'spamhaus' lists list's $r->{matched} transactions");
    my $rows = () = $dom =~ /<tr class="tx">/g;
    is($rows, $r->{matched}, 'one row each');
}
kill 'TERM', $pid;
waitpid $pid, 0;
done_testing;
