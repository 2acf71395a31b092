#!/usr/bin/perl
# t/700-serve.t - `qpstat serve`: the JSON API equals `report --db`, the
# metrics equal the report, bad requests get 4xx, nothing outside the
# embedded pages is served, a missing or corrupt store is a clear 503 and
# the server stays up, non-loopback needs --auth, SIGTERM stops it; and in a
# real headless Chromium the dashboard draws its charts, shows the totals
# `report --db` prints, and runs no script from hostile log fields.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd slurp spew tmpdir free_port serve_start serve_stop);
use Cwd qw(abs_path);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = abs_path(qpstat_bin());
my $tmp = tmpdir();
my $json = JSON::PP->new->canonical;

# serve's helpers are QpstatTest's (t/545 starts it too)
sub serve { serve_start($tmp, @_) }
sub stop  { serve_stop(@_) }

my $http = HTTP::Tiny->new(timeout => 20);

# a store of every fixture
my $db = "$tmp/fixtures.db";
my (undef, $ierr, $ist) = run_cmd([$Q, 'import', '--db', $db, map { $FIXTURE{$_} } sort keys %FIXTURE]);
is($ist, 0, 'the fixtures are imported') or diag($ierr);

my ($pid, $base, $errlog) = serve('--db', $db);
like(slurp($errlog), qr/listening on http:\/\/127\.0\.0\.1:\d+\//, 'serve says where it listens');

subtest 'the dashboard page and its files' => sub {
    my $r = $http->get("$base/");
    is($r->{status}, 200, 'GET / is 200');
    like($r->{headers}{'content-type'}, qr{^text/html}, 'as HTML');
    like($r->{headers}{'content-security-policy'} // '', qr/script-src 'self'/, 'with a CSP that allows only its own scripts');
    unlike($r->{headers}{'content-security-policy'} // '', qr/script-src[^;]*unsafe-inline/, 'and no inline script');
    like($r->{content}, qr/<canvas id="c-time"/, 'the page has its charts');
    unlike($r->{content}, qr/<script>/, 'and no inline script');
    my $c = $http->get("$base/static/chart.js");
    is($c->{status}, 200, 'Chart.js is served from the binary');
    like($c->{content}, qr/Chart\.js v\d/, 'with its licence header');
    like($c->{content}, qr/MIT License/, 'naming its licence');
    is($http->get("$base/static/dashboard.js")->{status}, 200, 'the dashboard script too');
};

subtest 'the API equals report --db --format json' => sub {
    for my $q (['by=disposition', '--by', 'disposition'],
               ['by=disposition,tld', '--by', 'disposition,tld'],
               ['by=dnsbl&days=2', '--by', 'dnsbl', '--days', '2'],
               ['by=hour,day&since=2026-11-01&until=2026-11-30', '--by', 'hour,day', '--since', '2026-11-01', '--until', '2026-11-30'],
               ['by=connections,connection-time&today=1', '--by', 'connections,connection-time', '--today'],
               ['by=ip,helo&top=3', '--by', 'ip,helo', '--top', '3'],
               ['', ]) {
        my ($query, @opts) = @$q;
        my $r = $http->get("$base/api/report?$query");
        is($r->{status}, 200, "/api/report?$query is 200") or diag($r->{content});
        like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
        my ($want) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', @opts]);
        is_deeply(decode_json($r->{content}), decode_json($want), "= qpstat report --db --format json @opts");
    }
};

subtest 'filters and the list API' => sub {
    for my $q (['where=disposition%3Dbadmailfrom', '--where', 'disposition=badmailfrom'],
               ['where=tld%3Dcom&where=disposition%3Dqueued&days=7', '--where', 'tld=com', '--where', 'disposition=queued', '--days', '7'],
               ['where=ip%3D127.0.0.1&limit=3', '--where', 'ip=127.0.0.1', '--limit', '3']) {
        my ($query, @opts) = @$q;
        my $r = $http->get("$base/api/list?$query");
        is($r->{status}, 200, "/api/list?$query is 200") or diag($r->{content});
        my ($want) = run_cmd([$Q, 'list', '--db', $db, '--format', 'json', @opts]);
        is_deeply(decode_json($r->{content}), decode_json($want), "= qpstat list --db --format json @opts");
        next if grep { $_ eq '--limit' } @opts;
        my $rep = $http->get("$base/api/report?by=disposition&$query");
        my ($wrep) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'disposition', @opts]);
        is_deeply(decode_json($rep->{content}), decode_json($wrep), "/api/report?by=disposition&$query = report --db @opts");
    }
    for my $q ('where=nonsense%3D1', 'where=disposition', 'by=connections&where=ip%3D1', 'limit=x') {
        my $path = $q =~ /^by=/ ? 'report' : 'list';
        is($http->get("$base/api/$path?$q")->{status}, 400, "/api/$path?$q is 400");
    }
};

subtest 'bad requests' => sub {
    for my $q ('by=nonsense', 'days=x', 'days=0', 'top=-1', 'since=2026-13-01', 'foo=1', 'today=1&days=3',
               'since=2026-11-20&until=2026-11-10') {
        my $r = $http->get("$base/api/report?$q");
        is($r->{status}, 400, "/api/report?$q is 400");
        my $body = eval { decode_json($r->{content}) };
        ok($body && length $body->{error}, 'with a JSON error') or diag($r->{content});
    }
    for my $path ('/nope', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/static/../../../../etc/passwd',
                  '/static/..%2f..%2f..%2fetc%2fpasswd', '//etc/passwd', '/index.html/../../etc/passwd',
                  '/static/', '/api/', '/metrics/x') {
        # raw, so that nothing normalises the path on the way
        my $s = IO::Socket::INET->new(PeerAddr => $base =~ s{http://}{}r, Timeout => 10) or die;
        print $s "GET $path HTTP/1.0\r\nHost: x\r\n\r\n";
        my $resp = do { local $/; <$s> } // '';
        like($resp, qr{\AHTTP/1\.[01] 404 }, "$path is 404");
        unlike($resp, qr/root:/, 'and serves no file');
    }
    my $r = $http->request('POST', "$base/api/report", { content => 'x=1' });
    is($r->{status}, 405, 'POST is 405');
    $r = $http->request('DELETE', "$base/");
    is($r->{status}, 405, 'DELETE is 405');
};

subtest 'metrics' => sub {
    my $r = $http->get("$base/metrics");
    is($r->{status}, 200, '/metrics is 200');
    like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'in the text exposition format');
    my $m = $r->{content};
    my %type = $m =~ /^# TYPE (\S+) (\S+)$/mg;
    my %help = $m =~ /^# HELP (\S+) (.+)$/mg;
    for my $s ($m =~ /^([a-z_]+)(?:\{| )/mg) {
        my $fam = $s;
        $fam =~ s/_(?:bucket|sum|count)\z// unless exists $type{$s};
        ok(exists $type{$fam} && exists $help{$fam}, "$s has HELP and TYPE") or last;
    }
    my ($disp) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'disposition,connections']);
    my $rep = decode_json($disp);
    for my $row (@{ $rep->{dimensions}{disposition}{rows} }) {
        my ($got) = $m =~ /^qpsmtpd_transactions_total\{disposition="\Q$row->{disposition}\E"\} (\d+)$/m;
        is($got, $row->{count}, "transactions{disposition=$row->{disposition}} = the report's count");
    }
    my ($acc) = $m =~ /^qpsmtpd_connections_accepted_total (\d+)$/m;
    is($acc, $rep->{dimensions}{connections}{accepted}, 'accepted connections = the report');
    SKIP: {
        my $promtool = (grep { -x "$_/promtool" } split /:/, $ENV{PATH})[0];
        skip 'promtool not installed (Debian package prometheus)', 1 unless $promtool;
        spew("$tmp/metrics.txt", $m);
        my ($out, $err, $st) = run_cmd(["$promtool/promtool", 'check', 'metrics'], stdin => "$tmp/metrics.txt");
        is($st, 0, 'promtool check metrics passes') or diag($out . $err);
    }
    my $om = $http->get("$base/metrics", { headers => { Accept => 'application/openmetrics-text; version=1.0.0' } });
    like($om->{headers}{'content-type'}, qr{^application/openmetrics-text}, 'OpenMetrics when asked');
    like($om->{content}, qr/\n# EOF\n\z/, 'ending in # EOF');
};

subtest 'the access log' => sub {
    $http->get("$base/%1b%5b31mred?x=%9b");
    my $log = slurp($errlog);
    like($log, qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET / HTTP/1\.1" 200 \d+$}m, 'one line per request, common log format');
    unlike($log, qr/\e/, 'no raw escape byte from a request reaches the log');
    like($log, qr/\\x1b\[31mred/, 'it is shown escaped');
};

is(stop($pid), 0, 'SIGTERM stops serve with exit 0');

subtest 'a missing or corrupt store' => sub {
    my ($p, $b) = serve('--db', "$tmp/missing.db");
    my $r = $http->get("$b/api/report");
    is($r->{status}, 503, 'a missing store is 503');
    like(eval { decode_json($r->{content})->{error} } // '', qr/missing\.db/, 'naming the store');
    is($http->get("$b/")->{status}, 200, 'the server stays up');
    ok(!-e "$tmp/missing.db", 'and creates nothing');
    stop($p);
    spew("$tmp/junk.db", "this is not SQLite\n" x 100);
    ($p, $b) = serve('--db', "$tmp/junk.db");
    $r = $http->get("$b/metrics");
    is($r->{status}, 503, 'a file that is not a store is 503');
    is(slurp("$tmp/junk.db"), "this is not SQLite\n" x 100, 'and is left as it was');
    stop($p);
};

subtest 'listening beyond loopback needs --auth' => sub {
    my ($out, $err, $st) = run_cmd([$Q, 'serve', '--db', $db, '--listen', '0.0.0.0:' . free_port()], timeout => 10);
    is($st, 2, 'refused without --auth (exit 2)');
    like($err, qr/--auth/, 'saying what is needed');
    ($out, $err, $st) = run_cmd([$Q, 'serve', '--listen', 'nonsense'], timeout => 10);
    is($st, 2, 'a bad --listen is a usage error');
    spew("$tmp/auth", "admin:s3cret\n");
    my ($p, $b) = serve('--db', $db, '--auth', "$tmp/auth");
    is($http->get("$b/api/report")->{status}, 401, 'without credentials: 401');
    is($http->get("$b/")->{status}, 401, 'for the page too');
    (my $cred = $b) =~ s{http://}{http://admin:s3cret@};
    is($http->get("$cred/api/report?by=disposition")->{status}, 200, 'with them: 200');
    (my $bad = $b) =~ s{http://}{http://admin:wrong@};
    is($http->get("$bad/api/report")->{status}, 401, 'with a wrong password: 401');
    stop($p);
};

# ---------------------------------------------------------------- a browser
my ($chromium) = grep { -x $_ } '/usr/bin/chromium', '/usr/bin/chromium-browser';
SKIP: {
    skip 'chromium not installed (Debian package chromium)', 1 unless $chromium;
    sub browse {
        my ($url, @extra) = @_;
        my ($out, $err, $st) = run_cmd([$chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
            '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
            "--user-data-dir=$tmp/chromium", '--virtual-time-budget=8000', '--window-size=1400,1800', (@extra ? @extra : '--dump-dom'), $url],
            timeout => 90);
        return ($out, $err, $st);
    }
    # hostile fields: each would run script, or fetch /x-pwned, if it became HTML
    my $evil = "$tmp/evil.log";
    my @payloads = ('<script>document.title="pwned"</script>', '"><img src=/x-pwned-img onerror="document.title=1">',
                    'javascript:fetch("/x-pwned-js")', '<svg onload=fetch("/x-pwned-svg")>');
    my $log = '';
    my $t = 1795640000;    # the fixtures' day
    for my $i (0 .. $#payloads) {
        my $p = $payloads[$i];
        $log .= sprintf "\@%016x%08x %d (deny) logging::logterse: ` 192.0.2.%d\t%s\t%s\t<%s\@evil.example>\t<bob\@example.com>\t%s\t550\t%s\tmsg denied before queued\n",
            $t + 4611686018427387914 + $i, 0, 4000 + $i, $i + 1, "rhost$i", $p, $p, "rcpt_ok", $p;
    }
    spew($evil, $log);
    my $edb = "$tmp/evil.db";
    run_cmd([$Q, 'import', '--db', $edb, $evil]);
    my ($p, $b, $elog) = serve('--db', $edb);
    my ($dom, $err) = browse("$b/");
    like($dom, qr{<title>qpstat dashboard</title>}, 'the hostile store: the title is unchanged');
    like($dom, qr/data-loaded="yes"/, 'the page read the API');
    like($dom, qr/&lt;script&gt;document\.title/, 'the HELO is shown as text');
    unlike($dom, qr/<img src="\/x-pwned/, 'no element was made from a field');
    sleep 0.3;
    unlike(slurp($elog), qr/x-pwned/, 'and nothing requested what the payloads name');
    stop($p);

    ($p, $b, $elog) = serve('--db', $db);
    ($dom) = browse("$b/");
    my ($want) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'disposition', '--days', '7']);
    my $rep = decode_json($want);
    my ($total) = $dom =~ /id="t-transactions"[^>]*>(\d+)</;
    is($total, $rep->{transactions}, "the page's total = report --db --days 7 ($rep->{transactions})");
    my ($points) = $dom =~ /id="c-disposition" data-points="(\d+)"/;
    # a count opened: the drill-down lists exactly its transactions
    my ($bm) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'disposition', '--days', '7',
                        '--where', 'disposition=badmailfrom']);
    my $n = decode_json($bm)->{transactions};
    my ($drill) = browse("$b/#where=disposition%3Dbadmailfrom");
    my ($matched) = $drill =~ /<section id="drill"[^>]*data-matched="(\d+)"/;
    is($matched, $n, "the drill-down of disposition=badmailfrom lists report's count ($n)");
    my $rows = () = $drill =~ /<tr class="tx">/g;
    is($rows, $n, 'one row per transaction');
    my $other = () = $drill =~ /<tr class="tx"><td>[^<]*<\/td>(?:<td[^>]*>[^<]*<\/td>){4}<td>(?!badmailfrom<)/g;
    is($other, 0, 'and only those');
    ok($points && $points > 0, "the denying-plugins chart drew $points bars") or diag(substr($dom, 0, 3000));
    like($dom, qr/<canvas id="c-time"[^>]* data-points="[1-9]/, 'the transactions-over-time chart drew');
    # the screenshot is a test artefact (docs/dashboard.png is a copy of one)
    my $art = $ENV{QPS_ARTEFACTS} || 't/artefacts';
    mkdir $art;
    browse("$b/", '--screenshot=' . abs_path($art) . '/dashboard.png');
    ok(-s "$art/dashboard.png", "a screenshot of the dashboard is in $art/dashboard.png");
    stop($p);
}

done_testing;
