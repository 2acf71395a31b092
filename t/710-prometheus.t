#!/usr/bin/perl
# t/710-prometheus.t - a real Prometheus scrapes two `qpstat serve`.
#
# Debian's prometheus on loopback, scrape interval 1 s, against two serve
# instances over two stores: one of the fixtures, one that the plugin
# fills from the real qpsmtpd 0.94. Through Prometheus' HTTP API: each
# host's series equal `report --db` of its store, and the sum across hosts
# equals both reports added; mail recorded by the plugin afterwards raises
# the counters by exactly that many; a restarted serve resets no counter.
# promtool checks the exposition and the README's alert rules.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd slurp spew tmpdir);
use QpsmtpdHarness;
use Cwd qw(abs_path);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my ($prometheus) = grep { -x $_ } '/usr/bin/prometheus';
my ($promtool) = grep { -x $_ } '/usr/bin/promtool';
plan skip_all => 'prometheus not installed (Debian package prometheus)' unless $prometheus && $promtool;
my $Q = abs_path(qpstat_bin());
my $tmp = tmpdir();
my $http = HTTP::Tiny->new(timeout => 20);
delete $ENV{QPSTAT_NOW};    # Prometheus keeps real time: so do the servers

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

my %procs;
sub start {
    my ($name, $err, @cmd) = @_;
    my $pid = fork // die;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $err;
        exec @cmd or POSIX::_exit(127);
    }
    $procs{$pid} = $name;
    return $pid;
}
sub stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $t0 = time;
    while (time - $t0 < 15) {
        if (waitpid($pid, WNOHANG) == $pid) { delete $procs{$pid}; return $? }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    delete $procs{$pid};
    return -1;
}
END { kill 'KILL', keys %procs; waitpid($_, 0) for keys %procs }

sub wait_for {
    my ($secs, $code) = @_;
    my $t0 = time;
    while (time - $t0 < $secs) {
        my $r = $code->();
        return $r if $r;
        sleep 0.2;
    }
    return;
}

sub serve {
    my ($db, $port) = @_;
    my $err = "$tmp/serve-$port.err";
    my $pid = start("serve $port", $err, $Q, 'serve', '--db', $db, '--listen', "127.0.0.1:$port");
    wait_for(10, sub { -e $err && slurp($err) =~ /listening on/ }) or BAIL_OUT("serve did not start: " . slurp($err));
    return $pid;
}

# store A: the fixtures
my $dba = "$tmp/a.db";
run_cmd([$Q, 'import', '--db', $dba, map { $FIXTURE{$_} } sort keys %FIXTURE]);
# store B: the plugin, recording live in the real qpsmtpd
my $dbb;
my $h;
if (!QpsmtpdHarness::prereq_problems() && (QpsmtpdHarness::qpstat_plugin_status())[0]) {
    $h = QpsmtpdHarness->new(name => '710', lifetime => 300);
    $dbb = $h->tmp . '/b.db';
    $h->write_config(plugins => [split /\n/,
        QpsmtpdHarness::template('plugins-610', LOGGER => "qpstat db $dbb", MAILDIR => $h->maildir)]);
    $h->start(max_conn => 10, max_per_ip => 0);
}
sub send_mail {
    my ($n, $id) = @_;
    return 0 unless $h;
    my $r = QpsmtpdHarness::sum_results($h->send_messages(messages => $n, per_conn => 5, id => $id,
        rcpt => 'bob@example.com', timeout => 30));
    $h->wait_idle(10);
    return $r->{ok};
}
SKIP: {
skip 'qpsmtpd cannot run here: ' . join('; ', QpsmtpdHarness::prereq_problems()), 1 unless $h;
is(send_mail(10, '710.a'), 10, 'the plugin recorded 10 messages into store B');

my ($pa, $pb, $pp) = (free_port(), free_port(), free_port());
my $sa = serve($dba, $pa);
my $sb = serve($dbb, $pb);
mkdir "$tmp/tsdb";
spew("$tmp/prometheus.yml", <<"YML");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: qpstat
    static_configs:
      - targets: ['127.0.0.1:$pa', '127.0.0.1:$pb']
YML
my $prom = start('prometheus', "$tmp/prometheus.err", $prometheus, "--config.file=$tmp/prometheus.yml",
    "--storage.tsdb.path=$tmp/tsdb", "--web.listen-address=127.0.0.1:$pp");

sub query {
    my ($q) = @_;
    my $r = $http->get("http://127.0.0.1:$pp/api/v1/query?query=" . join('', map { sprintf '%%%02X', ord } split //, $q));
    return [] unless $r->{success};
    my $d = eval { decode_json($r->{content}) } or return [];
    return $d->{status} eq 'success' ? $d->{data}{result} : [];
}
sub by_label {
    my ($q, $label) = @_;
    my %m;
    $m{ $_->{metric}{$label} // '' } = $_->{value}[1] + 0 for @{ query($q) };
    return \%m;
}
sub report_counts {
    my (@dbs) = @_;
    my %c;
    for my $db (@dbs) {
        my ($j) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'disposition']);
        $c{ $_->{disposition} } += $_->{count} for @{ decode_json($j)->{dimensions}{disposition}{rows} };
    }
    return \%c;
}
sub scrapes {
    my ($n) = @_;
    return wait_for(60, sub {
        my $s = by_label('count_over_time(up{job="qpstat"}[10m])', 'instance');
        my $ok = grep { ($s->{$_} // 0) >= $n } ("127.0.0.1:$pa", "127.0.0.1:$pb");
        return $ok == 2;
    });
}
ok(scrapes(2), 'Prometheus scraped both servers twice') or diag(slurp("$tmp/prometheus.err"));
is_deeply(by_label('up', 'instance'), { "127.0.0.1:$pa" => 1, "127.0.0.1:$pb" => 1 }, 'both targets are up');
for ([$pa, $dba, 'A (fixtures)'], [$pb, $dbb, 'B (the plugin)']) {
    my ($port, $db, $what) = @$_;
    is_deeply(by_label(qq{qpsmtpd_transactions_total{instance="127.0.0.1:$port"}}, 'disposition'),
        report_counts($db), "store $what: Prometheus' series = report --db");
}
is_deeply(by_label('sum by (disposition) (qpsmtpd_transactions_total)', 'disposition'), report_counts($dba, $dbb),
    'the sum across hosts = both reports added');
# the same through qpstat: one report over both stores
my ($both) = run_cmd([$Q, 'report', '--db', $dba, '--db', $dbb, '--format', 'json', '--top', '0',
                      '--by', 'disposition', '--by', 'code', '--by', 'connections', '--by', 'server', '--by', 'category']);
$both = decode_json($both);
is_deeply(by_label('sum by (disposition) (qpsmtpd_transactions_total)', 'disposition'),
    { map { ($_->{disposition} => $_->{count}) } @{ $both->{dimensions}{disposition}{rows} } },
    'the sum across hosts = qpstat report --db A --db B');
is_deeply(by_label('sum by (code) (qpsmtpd_transactions_by_code_total)', 'code'),
    { map { (($_->{code} eq '' ? 'none' : $_->{code}) => $_->{count}) } @{ $both->{dimensions}{code}{rows} } },
    'by return code too');
is_deeply(by_label('sum by (category) (qpsmtpd_transactions_by_category_total)', 'category'),
    { map { ($_->{category} => $_->{count}) } grep { $_->{count} } @{ $both->{dimensions}{category}{rows} } },
    'by category too (the map\'s columns)');
for my $fam (['qpsmtpd_connections_accepted_total', 'accepted'], ['qpsmtpd_queued_total', 'queue_accepted'],
             ['qpsmtpd_hosts_allow_denials_total', 'hosts_allow'], ['qpsmtpd_connections_too_many_total', 'too_many']) {
    is(by_label("sum($fam->[0])", '')->{''}, $both->{dimensions}{connections}{$fam->[1]}, "sum($fam->[0]) = report --db A --db B");
}
my $count = by_label('sum(qpsmtpd_connection_duration_seconds_count)', '')->{''};
my ($ct) = run_cmd([$Q, 'report', '--db', $dba, '--db', $dbb, '--format', 'json', '--by', 'connection-time']);
is($count, decode_json($ct)->{dimensions}{'connection-time'}{count}, 'the connection time histograms summed = both stores');
my $acc = by_label('sum(qpsmtpd_connections_accepted_total)', '');
my ($ja) = run_cmd([$Q, 'report', '--db', $dba, '--format', 'json', '--by', 'connections']);
my ($jb) = run_cmd([$Q, 'report', '--db', $dbb, '--format', 'json', '--by', 'connections']);
is($acc->{''}, decode_json($ja)->{dimensions}{connections}{accepted} + decode_json($jb)->{dimensions}{connections}{accepted},
    'accepted connections summed across hosts = both reports');

my $before = by_label(qq{qpsmtpd_transactions_total{instance="127.0.0.1:$pb",disposition="queued"}}, 'disposition')->{queued};
my $host_sum = sub { my ($fam) = @_; return by_label("sum($fam" . '{instance="127.0.0.1:' . $pb . '"})', '')->{''} // 0 };
my %fam_before = map { +($_ => $host_sum->($_)) } qw(qpsmtpd_transactions_total qpsmtpd_queued_total
                                                   qpsmtpd_connections_accepted_total);
my $ham_before = by_label(qq{qpsmtpd_transactions_by_category_total{instance="127.0.0.1:$pb",category="Ham"}}, 'category')->{Ham} // 0;
my $none_before = by_label(qq{qpsmtpd_transactions_by_code_total{instance="127.0.0.1:$pb",code="none"}}, 'code')->{none} // 0;
is(send_mail(15, '710.b'), 15, 'the plugin recorded 15 more');
my $after = wait_for(30, sub {
    my $v = by_label(qq{qpsmtpd_transactions_total{instance="127.0.0.1:$pb",disposition="queued"}}, 'disposition')->{queued};
    # a scrape may fall between the plugin's commits: wait for all of them
    return defined $v && $v - $before >= 15 ? $v : undef;
});
is(($after // $before) - $before, 15, 'the counter rose by exactly that many');
# a scrape or two later every family has its new value
sleep 2.5;
my %fam_after = map { +($_ => $host_sum->($_)) } keys %fam_before;
is($fam_after{qpsmtpd_transactions_total} - $fam_before{qpsmtpd_transactions_total}, 15, 'all transactions: +15');
is($fam_after{qpsmtpd_queued_total} - $fam_before{qpsmtpd_queued_total}, 15, 'queued messages: +15');
is($fam_after{qpsmtpd_connections_accepted_total} - $fam_before{qpsmtpd_connections_accepted_total}, 3,
    'accepted connections: +3 (5 messages per connection)');
is((by_label(qq{qpsmtpd_transactions_by_code_total{instance="127.0.0.1:$pb",code="none"}}, 'code')->{none} // 0) - $none_before,
    15, 'transactions without a return code: +15');
is((by_label(qq{qpsmtpd_transactions_by_category_total{instance="127.0.0.1:$pb",category="Ham"}}, 'category')->{Ham} // 0) - $ham_before,
    15, 'transactions of category Ham (queued, not spam): +15');

is(stop($sb), 0, 'serve B stops on SIGTERM');
$sb = serve($dbb, $pb);
ok(scrapes(8), 'scraped again after the restart');
my $resets = by_label('sum(resets(qpsmtpd_transactions_total[10m]))', '');
is($resets->{''}, 0, 'a restarted serve resets no counter: resets() is 0');
for my $fam (qw(qpsmtpd_transactions_by_code_total qpsmtpd_dnsbl_denials_total qpsmtpd_transactions_by_category_total
                qpsmtpd_connections_accepted_total
                qpsmtpd_queued_total qpsmtpd_connection_duration_seconds_count qpsmtpd_spam_score_count)) {
    is(by_label('sum(resets(' . $fam . '[10m]))', '')->{''} // 0, 0, "resets($fam) is 0");
}

# promtool: the exposition, and the alert rules the README gives
my $m = $http->get("http://127.0.0.1:$pa/metrics")->{content};
spew("$tmp/metrics.txt", $m);
my ($out, $err, $st) = run_cmd([$promtool, 'check', 'metrics'], stdin => "$tmp/metrics.txt");
is($st, 0, 'promtool check metrics passes') or diag($out . $err);
my ($rules) = slurp('README.md') =~ /<!-- alert rules -->\s*```yaml\n(.*?)```/s;
ok($rules, 'the README has alert rules');
spew("$tmp/rules.yml", $rules // '');
($out, $err, $st) = run_cmd([$promtool, 'check', 'rules', "$tmp/rules.yml"]);
is($st, 0, 'promtool check rules passes on them') or diag($out . $err);
like($out, qr/SUCCESS: 3 rules found/, 'three rules') or diag($out);

stop($_) for $sa, $sb, $prom;
}
$h->stop if $h;
done_testing;
