#!/usr/bin/perl
# t/331-summary.t - `qpstat summary` over the logs and `summary --db` over
# the store agree (issue 9, cases 10 and 13): the same text for the sample
# log directory; right after a rotation (an empty current) the cumulative
# Finish is the last line's time and "most recent" is the rotated file, in
# both; an empty log prints no "TOTALS 0 100%"; the daily totals a prune
# (--keep) leaves still count, and the cumulative Start stays.
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use lib 't/lib';
use QpstatTest qw(run_cmd slurp spew tmpdir qpstat_bin NOW);

my $Q = qpstat_bin() or plan skip_all => 'build first';
my $tmp = tmpdir();
my $dir = "$tmp/log";
mkdir $dir or die;
for my $f (glob 't/data/multilog-094/*') {
    (my $base = $f) =~ s{.*/}{};
    copy($f, "$dir/$base") or die "copy $f: $!";
}

sub qs {
    my ($out, $err, $rc) = run_cmd([$Q, @_]);
    return wantarray ? ($out, $rc, $err) : $out;
}

sub field {
    my ($text, $section, $name) = @_;
    my ($part) = $text =~ /^# \Q$section\E\n(.*?)(?:^# Cumulative Totals|^#\s+Most Recent Logfile)/ms;
    my ($v) = ($part // '') =~ /^# \Q$name\E\s*: (.*)$/m;
    return $v;
}

sub totals {
    my ($text) = @_;
    my ($cur, $cpct, $tot, $tpct) = $text =~ /^# TOTALS\s+(\d+)\s+(\d+)%\s+\d+\s+(\d+)\s+(\d+)%/m;
    return [$cur, $cpct, $tot, $tpct];
}

my $db = "$tmp/q.db";
my (undef, $rc) = qs('import', '--db', $db, $dir);
is($rc, 0, 'import the sample');
my $logs  = qs('summary', $dir);
my $store = qs('summary', '--db', $db);
is($store, $logs, 'summary --db = summary over the same logs (all of it)');
is_deeply(totals($logs), [1, 100, 17, 100], 'most recent: current (1 record); cumulative 17');

# a rotation: current becomes @label.s, a new current is empty
my ($newest) = sort glob("$dir/\@*.s");
rename("$dir/current", "$dir/\@400000006b0739a000000000.s") or die;
spew("$dir/current", '');
(undef, $rc) = qs('import', '--db', $db, $dir);
is($rc, 0, 'import after the rotation');
$logs  = qs('summary', $dir);
$store = qs('summary', '--db', $db);
my $start  = field($logs, 'Cumulative Totals', 'Start');
my $finish = field($logs, 'Cumulative Totals', 'Finish');
ok($start && $finish, "cumulative Start ($start) and Finish ($finish)");
isnt($finish, $start, 'after a rotation the cumulative Finish is not the Start');
is($finish, '2026-11-25 19:40:10', 'it is the last line\'s time');
unlike(field($logs, 'Cumulative Totals', 'Elapsed'), qr/^0 days, 0 hours, 0 mins, 0 secs$/, 'Elapsed is not 0');
is(field($logs, 'Most recent logfile', 'Finish'), $finish, 'most recent: the rotated file, not the empty current');
is_deeply(totals($logs), [1, 100, 17, 100], 'with its 1 record; cumulative 17');
for my $f ('Start', 'Finish', 'Elapsed') {
    is(field($store, 'Most recent logfile', $f), field($logs, 'Most recent logfile', $f), "most recent $f: --db = logs");
    is(field($store, 'Cumulative Totals', $f), field($logs, 'Cumulative Totals', $f), "cumulative $f: --db = logs");
}
is($store, $logs, 'summary --db = summary over the logs, after the rotation');

# an empty log and an empty store: nothing is 100%
spew("$tmp/empty.log", '');
my $empty = qs('summary', "$tmp/empty.log");
like($empty, qr/^# TOTALS\s+0\s+0%\s+0\s+0\s+0%\s+0$/m, 'an empty log: TOTALS 0 0%');
unlike($empty, qr/100%/, 'no 100% anywhere');
qs('import', '--db', "$tmp/empty.db", "$tmp/empty.log");
unlike(qs('summary', '--db', "$tmp/empty.db"), qr/100%/, 'an empty store: no 100% either');

# a prune keeps the daily totals: the cumulative figures stay
my $before = qs('summary', '--db', $db);
my (undef, $perr, $prc) = run_cmd([$Q, 'import', '--db', $db, '--keep', '1', $dir], env => { QPSTAT_NOW => NOW + 30 * 86400 });
is($prc, 0, 'import --keep 1, a month later: every record pruned') or diag $perr;
my $after = qs('summary', '--db', $db);
is(totals($after)->[2], 17, 'summary --db after the prune: still 17 in all');
is(field($after, 'Cumulative Totals', 'Start'), field($before, 'Cumulative Totals', 'Start'), 'the cumulative Start stays');
is(field($after, 'Cumulative Totals', 'Finish'), field($before, 'Cumulative Totals', 'Finish'), 'and the Finish');
my %per = map { /^# (\S+)\s+\d+\s+\d+%\s+\d+\s+(\d+)\s+\d+%/ ? ($1 => $2) : () } split /\n/, $after;
my %was = map { /^# (\S+)\s+\d+\s+\d+%\s+\d+\s+(\d+)\s+\d+%/ ? ($1 => $2) : () } split /\n/, $before;
is_deeply(\%per, \%was, 'every disposition keeps its cumulative count');

done_testing();
