#!/usr/bin/perl
# t/711-metrics.t - what /metrics counts, without Prometheus: every family
# against `qpstat report --db` of the same store (dispositions, codes,
# DNSBL zones, connection counters, the two histograms); no counter goes
# down when `import --keep` prunes the store (the daily totals carry
# them); the import gauges see a log that grew; a store of 10,000 hostile
# dispositions and DNSBL zones gives a bounded number of series (a count),
# and labels that keep their series as the store grows.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd slurp spew tmpdir);
use Cwd qw(abs_path);
use File::Copy qw(copy);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = abs_path(qpstat_bin());
my $tmp = tmpdir();
my $http = HTTP::Tiny->new(timeout => 30);
my ($promtool) = grep { -x $_ } map { "$_/promtool" } split /:/, $ENV{PATH};

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die "socket: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# One scrape of a serve over $db (started and stopped around it).
sub scrape {
    my ($db, @args) = @_;
    my $port = free_port();
    my $err = "$tmp/serve-$port.err";
    my $pid = fork // die;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $err;
        exec $Q, 'serve', '--db', $db, '--listen', "127.0.0.1:$port", @args or POSIX::_exit(127);
    }
    my $t0 = time;
    sleep 0.02 until (-e $err && slurp($err) =~ /listening on/) || time - $t0 > 10;
    my $r = $http->get("http://127.0.0.1:$port/metrics");
    kill 'TERM', $pid;
    waitpid $pid, 0;
    die "no metrics: $r->{status} $r->{content}" unless $r->{success};
    return $r->{content};
}

# { 'name{labels}' => value } of the samples; types and helps by family
sub samples {
    my ($text) = @_;
    my %s;
    for (split /\n/, $text) {
        next if /^#/;
        my ($k, $v) = /^(\S+(?:\{[^}]*\})?) (\S+)$/ or die "bad sample line: $_";
        $s{$k} = $v;
    }
    return \%s;
}
sub families {
    my ($text) = @_;
    my %type = $text =~ /^# TYPE (\S+) (\S+)$/mg;
    return \%type;
}
sub report {
    my ($db, @by) = @_;
    my ($out, $err, $st) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--top', '0', map { ('--by', $_) } @by]);
    die "report: $err" if $st;
    return decode_json($out);
}
sub rows_of {
    my ($rep, $dim) = @_;
    return { map { ($_->{$dim} => $_->{count}) } grep { $_->{count} } @{ $rep->{dimensions}{$dim}{rows} } };
}
sub series_of {
    my ($s, $name, $label) = @_;
    my %m;
    for (keys %$s) {
        $m{$1} = $s->{$_} if /^\Q$name\E\{\Q$label\E="((?:[^"\\]|\\.)*)"\}$/;
    }
    return \%m;
}
sub promtool_ok {
    my ($text, $what) = @_;
    SKIP: {
        skip 'promtool not installed (Debian package prometheus)', 1 unless $promtool;
        spew("$tmp/m.txt", $text);
        my ($out, $err, $st) = run_cmd([$promtool, 'check', 'metrics'], stdin => "$tmp/m.txt");
        is($st, 0, "promtool check metrics passes: $what") or diag($out . $err);
    }
}

# ---- every family against the report ----
my $db = "$tmp/fixtures.db";
my (undef, $ierr, $ist) = run_cmd([$Q, 'import', '--db', $db, map { $FIXTURE{$_} } sort keys %FIXTURE]);
is($ist, 0, 'the fixtures imported') or diag($ierr);
my $text = scrape($db);
my $s = samples($text);
my $types = families($text);
my $rep = report($db, qw(disposition dnsbl code score spam connections connection-time category));
is_deeply(series_of($s, 'qpsmtpd_transactions_total', 'disposition'), rows_of($rep, 'disposition'),
    'transactions by disposition = report --by disposition');
is_deeply(series_of($s, 'qpsmtpd_dnsbl_denials_total', 'zone'), rows_of($rep, 'dnsbl'), 'DNSBL denials by zone = report --by dnsbl');
my $codes = rows_of($rep, 'code');
$codes->{none} = delete $codes->{''} if exists $codes->{''};
is_deeply(series_of($s, 'qpsmtpd_transactions_by_code_total', 'code'), $codes,
    'transactions by return code = report --by code (no code: "none")');
is_deeply(series_of($s, 'qpsmtpd_transactions_by_category_total', 'category'), rows_of($rep, 'category'),
    'transactions by category = report --by category (the built-in map)');
my $cats = "$tmp/categories";
spew($cats, "queued Accepted\nqueued/spam Accepted\ndnsbl Lists\nrhsbl Lists\n");
my $mine = series_of(samples(scrape($db, '--categories', $cats)), 'qpsmtpd_transactions_by_category_total', 'category');
my ($mj, $merr, $mst) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'category', '--categories', $cats]);
die "report --categories: $merr" if $mst;
my $want = rows_of(decode_json($mj), 'category');
cmp_ok(scalar(keys %$want), '>=', 3, 'the fixtures fill three categories of that map: ' . join(', ', sort keys %$want));
is_deeply($mine, $want, 'serve --categories FILE: the series follow its map = report --by category --categories FILE');
my $c = $rep->{dimensions}{connections};
is($s->{qpsmtpd_connections_accepted_total}, $c->{accepted}, 'accepted connections');
is($s->{qpsmtpd_connections_too_many_total}, $c->{too_many}, 'too-many waits');
is($s->{qpsmtpd_hosts_allow_denials_total}, $c->{hosts_allow}, 'hosts_allow denials');
is($s->{qpsmtpd_queued_total}, $c->{queue_accepted}, 'queued messages');
is($types->{qpsmtpd_connection_duration_seconds}, 'histogram', 'connection time: a histogram');
is($s->{'qpsmtpd_connection_duration_seconds_count'}, $rep->{dimensions}{'connection-time'}{count},
    'its count = the connection-time table');
is($s->{'qpsmtpd_connection_duration_seconds_bucket{le="+Inf"}'}, $s->{qpsmtpd_connection_duration_seconds_count},
    'its +Inf bucket holds them all');
my $spam = rows_of($rep, 'spam');
is($s->{qpsmtpd_spam_score_count}, ($spam->{spam} // 0) + ($spam->{ham} // 0), 'spam score histogram: every scored transaction');
ok(exists $s->{qpstat_store_last_record_timestamp_seconds}, 'the last record gauge');
is($s->{qpsmtpd_connections_peak} + 0 >= 0, 1, 'the peak gauge');
is($s->{qpstat_import_lag_seconds}, 0, 'import lag: 0, the logs are imported');
is($s->{qpstat_import_behind_bytes}, 0, 'nothing behind');
for my $fam (sort keys %$types) {
    like($text, qr/^# HELP \Q$fam\E \S/m, "$fam has HELP") or last;
}
promtool_ok($text, 'the fixtures');
# a category name is the admin's text: through the label escaper like every other value
spew("$tmp/quoted", "dnsbl RBL \"lists\" \\ zen\n");
my $qtext = scrape($db, '--categories', "$tmp/quoted");
# (the text policy shows a backslash as \\, the label escapes both)
like($qtext, qr/^qpsmtpd_transactions_by_category_total\{category="RBL \\"lists\\" \\\\\\\\ zen"\} \d+$/m,
    'a category with quotes and a backslash: an escaped label value');
promtool_ok($qtext, 'a map with quotes in a category');

# ---- pruning: no counter goes down ----
my $pruned = "$tmp/pruned.db";
copy($db, $pruned) or die;
copy("$db-wal", "$pruned-wal") if -e "$db-wal";
spew("$tmp/empty.log", '');
my (undef, $perr, $pst) = run_cmd([$Q, 'import', '--db', $pruned, '--keep', '1', "$tmp/empty.log"],
                                  env => { QPSTAT_NOW => 1795640400 + 40 * 86400 });
is($pst, 0, 'every record pruned (--keep 1, forty days later)') or diag($perr);
my ($left) = run_cmd(['sqlite3', $pruned, 'SELECT (SELECT count(*) FROM transactions WHERE nsec >= 0) + '
                      . '(SELECT count(*) FROM connections WHERE nsec >= 0)']);
is($left + 0, 0, 'no timed row is left') if defined $left && length $left;
my $after_text = scrape($pruned);
my $after = samples($after_text);
my (@down, @changed);
for my $k (sort keys %$s) {
    my ($fam) = $k =~ /^([a-z_]+)/;
    (my $base = $fam) =~ s/_(?:bucket|sum|count)\z//;
    my $type = $types->{$fam} // $types->{$base} // '';
    next unless $type eq 'counter' || $type eq 'histogram';
    my $v = $after->{$k} // 0;
    push @down, "$k: $s->{$k} -> $v" if $v < $s->{$k} - 1e-9;
    push @changed, "$k: $s->{$k} -> $v" if abs($v - $s->{$k}) > 1e-6 * (1 + abs $s->{$k}) && $k !~ /_bucket\{/;
}
ok(!@down, 'after pruning no counter and no histogram series went down') or diag(join "\n", @down);
ok(!@changed, 'every counter, histogram count and sum is what it was (the daily totals carry them)')
  or diag(join "\n", @changed);
promtool_ok($after_text, 'the pruned store');

# ---- one serve across an import of old lines and a prune: what it keeps of
# the older records (aggregated once) follows the store ----
{
    my $live = "$tmp/live.db";
    copy($db, $live) or die;
    copy("$db-wal", "$live-wal") if -e "$db-wal";
    my $port = free_port();
    my $pid = fork // die;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', "$tmp/live.err";
        exec $Q, 'serve', '--db', $live, '--listen', "127.0.0.1:$port" or POSIX::_exit(127);
    }
    my $t0 = time;
    sleep 0.02 until (-e "$tmp/live.err" && slurp("$tmp/live.err") =~ /listening on/) || time - $t0 > 10;
    my $get = sub { samples($http->get("http://127.0.0.1:$port/metrics")->{content}) };
    my $sum = sub { my ($m) = @_; my $n = 0; $n += $m->{$_} for grep { /^qpsmtpd_transactions_total\{/ } keys %$m; $n };
    my $m1 = $get->();
    is($sum->($m1), $rep->{transactions}, 'a running serve: every transaction');
    # five transactions of a week before the fixtures: older than what serve aggregates each time
    my $old = "$tmp/old.log";
    open my $o, '>', $old or die;
    printf {$o} "\@4000000%09x%08x 7 (deny) logging::logterse: ` 192.0.2.7\tx\th\t<a\@b.example>\t<c\@d.example>\tbadhelo\t901\tno\n",
      1795640400 - 7 * 86400 + $_, 0 for 1 .. 5;
    close $o;
    run_cmd([$Q, 'import', '--db', $live, $old]);
    my $m2 = $get->();
    is($sum->($m2) - $sum->($m1), 5, 'an import of old lines: the running serve counts them (+5)');
    is($m2->{'qpsmtpd_transactions_total{disposition="badhelo"}'}, 5, 'under their disposition');
    run_cmd([$Q, 'import', '--db', $live, '--keep', '1', "$tmp/empty.log"], env => { QPSTAT_NOW => 1795640400 + 40 * 86400 });
    my $m3 = $get->();
    my @moved = grep { !/_bucket\{|peak|limit|timestamp|import_|_sum$/ && ($m3->{$_} // -1) != $m2->{$_} } sort keys %$m2;
    ok(!@moved, 'a prune under a running serve: every counter as it was') or diag(join "\n", map { "$_: $m2->{$_} -> " . ($m3->{$_} // 'gone') } @moved);
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# ---- the import gauges: a log that grew ----
my $dir = "$tmp/log";
mkdir $dir;
my @lines = split /^/, slurp("$FIXTURE{'multilog-094'}/current");
spew("$dir/current", join '', @lines[0 .. $#lines / 2]);
my $ldb = "$tmp/lag.db";
run_cmd([$Q, 'import', '--db', $ldb, "$dir/current"]);
my $lag0 = samples(scrape($ldb));
is($lag0->{qpstat_import_behind_bytes}, 0, 'imported: nothing behind');
open my $fh, '>>', "$dir/current" or die;
print {$fh} @lines[$#lines / 2 + 1 .. $#lines];
close $fh;
my $lag = samples(scrape($ldb));
my $grown = 0;
$grown += length for @lines[$#lines / 2 + 1 .. $#lines];
is($lag->{qpstat_import_behind_bytes}, $grown, 'the log grew: the bytes not imported yet');
cmp_ok($lag->{qpstat_import_lag_seconds}, '>', 0, 'and the age of the oldest of its lines');
run_cmd([$Q, 'import', '--db', $ldb, "$dir/current"]);
my $lag2 = samples(scrape($ldb));
is_deeply([@$lag2{qw(qpstat_import_behind_bytes qpstat_import_lag_seconds)}], [0, 0], 'imported again: caught up');

# ---- 10,000 hostile dispositions and DNSBL zones: bounded series ----
my $hostile = "$tmp/hostile.log";
open my $h, '>', $hostile or die;
my $t = 1795600000;
my $label = sub { sprintf '@4000000%09x%08x', $_[0], 0 };
# the real plugins first (as on a server that then meets a hostile log)
for my $d (qw(queued dnsbl spamassassin)) {
    printf {$h} "%s 100 (deny) logging::logterse: ` 192.0.2.1\tx\thelo\t<a\@b.example>\t<c\@d.example>\t%s\t%s\t%s\n",
      $label->($t++), $d, $d eq 'queued' ? '' : '550', $d eq 'dnsbl' ? 'listed at http://zen.spamhaus.org/q' : 'no';
}
for my $i (1 .. 10_000) {
    printf {$h} "%s %d (deny) logging::logterse: ` 192.0.2.%d\tx\thelo\t<a\@b.example>\t<c\@d.example>\tdnsbl-%05d\"\\\t%d\tsee http://zone%05d.evil.example/\"x\n",
      $label->($t + $i), 1000 + $i, $i % 250, $i, 500 + $i % 400, $i;
}
close $h;
my $hdb = "$tmp/hostile.db";
my (undef, $herr, $hst) = run_cmd([$Q, 'import', '--db', $hdb, $hostile], timeout => 120);
is($hst, 0, 'a log of 10,000 hostile dispositions and zones imported') or diag($herr);
my $htext = scrape($hdb, '--max-labels', 20);
my $hs = samples($htext);
my $ht = series_of($hs, 'qpsmtpd_transactions_total', 'disposition');
my $hz = series_of($hs, 'qpsmtpd_dnsbl_denials_total', 'zone');
my $hc = series_of($hs, 'qpsmtpd_transactions_by_code_total', 'code');
is(scalar(keys %$ht), 21, 'dispositions: 20 series and "other" (--max-labels 20)');
is(scalar(keys %$hz), 21, 'DNSBL zones: 20 and "other"');
is(scalar(keys %$hc), 21, 'codes: 20 and "other"');
my $total = 0;
$total += $_ for values %$ht;
is($total, 10_003, 'the series add up to every transaction');
ok(exists $ht->{$_}, "the first seen disposition $_ keeps its series") for qw(queued dnsbl spamassassin);
my $n = grep { !/^#/ } split /\n/, $htext;
my $plain = grep { !/^#/ } split /\n/, $text;
my $fixed = $plain - keys(%{ series_of($s, 'qpsmtpd_transactions_total', 'disposition') })
  - keys(%{ series_of($s, 'qpsmtpd_dnsbl_denials_total', 'zone') }) - keys(%{ series_of($s, 'qpsmtpd_transactions_by_code_total', 'code') })
  - keys(%{ series_of($s, 'qpsmtpd_transactions_by_category_total', 'category') });
# categories come from the admin's map, not from the log: 10,000 unknown plugins are one series
my $hcat = series_of($hs, 'qpsmtpd_transactions_by_category_total', 'category');
is_deeply($hcat, { Ham => 1, 'RBL/DNS' => 1, 'Del.Spam' => 1, Unknown => 10_000 },
    'categories: those of the three real plugins and Unknown for the 10,000 hostile ones');
is($n, $fixed + 3 * 21 + 4, "$n series in all: the fixed families, 3 x 21 labelled ones and 4 categories, whatever the log holds");
promtool_ok($htext, 'the hostile store');
# more hostile mail: the labelled series stay, "other" only grows
open $h, '>>', $hostile or die;
for my $i (1 .. 500) {
    printf {$h} "%s %d (deny) logging::logterse: ` 192.0.2.1\tx\thelo\t<a\@b.example>\t<c\@d.example>\taaa-%05d\t%d\tsee http://aaa%05d.example/\n",
      $label->($t + 20_000 + $i), 30_000 + $i, $i, 100 + $i, $i;
}
close $h;
run_cmd([$Q, 'import', '--db', $hdb, $hostile], timeout => 120);
my $hs2 = samples(scrape($hdb, '--max-labels', 20));
my @lost;
for my $fam (['qpsmtpd_transactions_total', 'disposition'], ['qpsmtpd_dnsbl_denials_total', 'zone'],
             ['qpsmtpd_transactions_by_code_total', 'code']) {
    my ($a, $b) = (series_of($hs, @$fam), series_of($hs2, @$fam));
    push @lost, map { "$fam->[0]\{$_\}: $a->{$_} -> " . ($b->{$_} // 'gone') } grep { ($b->{$_} // -1) < $a->{$_} } keys %$a;
}
ok(!@lost, 'keys that sort first or come later take no label away: no series goes down or disappears')
  or diag(join "\n", @lost[0 .. ($#lost > 9 ? 9 : $#lost)]);
done_testing;
