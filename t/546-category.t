#!/usr/bin/perl
# t/546-category.t - the plugin -> category map at the CLI: `report --by
# category` adds up to the transactions, `--where category=K` (report and
# list, logs and store) is exactly K's row, `--categories FILE` replaces the
# map, plugins it does not list are named (text and JSON), and a bad or
# missing map file is a clear error.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES qpstat_bin run_cmd spew tmpdir);
use JSON::PP;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();

sub json_of {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return decode_json($out);
}

sub check_source {
    my ($what, @src) = @_;
    my $r = json_of('report', '--format', 'json', '--by', 'category', @src);
    my $cat = $r->{dimensions}{category};
    my $sum = 0;
    $sum += $_->{count} for @{ $cat->{rows} };
    is($sum, $r->{transactions}, "$what: the categories add up to the transactions");
    my @differ;
    for my $row (@{ $cat->{rows} }) {
        my $k = $row->{category};
        my $list = json_of('list', '--format', 'json', '--limit', '0', '--where', "category=$k", @src);
        my $rep = json_of('report', '--format', 'json', '--by', 'category', '--where', "category=$k", @src);
        push @differ, "$k: list shows $list->{matched}, the table $row->{count}" if $list->{matched} != $row->{count};
        my @rows = @{ $rep->{dimensions}{category}{rows} };
        push @differ, "$k: the filtered table is not its one row"
          unless @rows == 1 && $rows[0]{category} eq $k && $rows[0]{count} == $row->{count};
    }
    ok(!@differ, "$what: list and report --where category=K are K's row") or diag(join "\n", @differ);
    return $r;
}

my %total;
for my $f (@FIXTURES) {
    my $r = check_source("$f (log)", $FIXTURE{$f});
    my %log = map { $_->{category} => $_->{count} } @{ $r->{dimensions}{category}{rows} };
    $total{$_} += $log{$_} for keys %log;
    is_deeply($r->{dimensions}{category}{unknown_plugins}, [], "$f: every disposition has a category");
    my $db = "$tmp/$f.db";
    my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, $FIXTURE{$f}]);
    is($st, 0, "$f imported") or diag($err);
    my $s = json_of('report', '--format', 'json', '--by', 'category', '--db', $db);
    is_deeply({ map { $_->{category} => $_->{count} } @{ $s->{dimensions}{category}{rows} } }, \%log,
              "$f: the store counts the categories the log counts");
}
my $db = "$tmp/all.db";
my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, map { $FIXTURE{$_} } @FIXTURES]);
is($st, 0, 'the fixtures imported into one store') or diag($err);
check_source('the store of every fixture', '--db', $db);
ok($total{'RBL/DNS'} && $total{'Ham'} && $total{'Non.Conf.'} && $total{'Del.Spam'} && $total{'Karma'},
   'the fixtures fill the mailstats columns RBL/DNS, Non.Conf., Karma, Del.Spam and Ham');

# the sample's 17 transactions, by hand: 3 queued, 1 spamassassin, the rest Non.Conf.
my ($text) = run_cmd([$Q, 'report', '--by', 'category', $FIXTURE{'multilog-094'}]);
like($text, qr/^\s+13  Non\.Conf\.\s+76\.47%$/m, 'text: Non.Conf. of the sample');
like($text, qr/^\s+3  Ham\s+17\.65%$/m, 'text: Ham of the sample');
my ($csv) = run_cmd([$Q, 'report', '--by', 'category', '--format', 'csv', $FIXTURE{'multilog-094'}]);
like($csv, qr/\Acategory,count,percent\r\nNon\.Conf\.,13,76\.47\r\nHam,3,17\.65\r\nDel\.Spam,1,5\.88\r\n\z/,
     'CSV of the category table');

# an admin's map: unlisted plugins are counted as Unknown and named
my $map = "$tmp/categories";
spew($map, "# mine\nqueued   Delivered\nqueued/spam  Delivered spam\nbadmailfrom Sender\n");
my ($out, $e, $s) = run_cmd([$Q, 'report', '--categories', $map, '--by', 'category', $FIXTURE{'multilog-094'}]);
is($s, 0, '--categories FILE') or diag($e);
like($out, qr/^\s+3  Delivered\s/m, 'its categories count');
like($out, qr/^\s+2  Sender\s/m, 'badmailfrom is Sender');
like($out, qr/^\s+12  Unknown\s/m, 'the unlisted ones are Unknown');
like($out, qr/^  Unknown \(plugins not in the category map\): helo 2, hosts_allow 2, badrcptto 1, .*, spamassassin 1$/m,
     'and each unlisted plugin is named with its count');
my $j = json_of('report', '--categories', $map, '--by', 'category', '--format', 'json', $FIXTURE{'multilog-094'});
my $named = 0;
$named += $_->{count} for @{ $j->{dimensions}{category}{unknown_plugins} };
is($named, 12, 'JSON: unknown_plugins account for every Unknown transaction');
my $l = json_of('list', '--categories', $map, '--where', 'category=Unknown', '--format', 'json', '--limit', '0',
                $FIXTURE{'multilog-094'});
is($l->{matched}, 12, 'list --where category=Unknown with the same map');

# a hostile plugin name is escaped in the Unknown line
my $hostile = "$tmp/hostile.log";
spew($hostile, "\@400000006b07390e20f6398c 8911 (deny) logging::logterse: ` 192.0.2.1\tUnknown\th\t<a\@b.example>\t"
             . "<c\@d.example>\tevil\x1b[2J\t901\tno\tmsg denied before queued\n");
($out) = run_cmd([$Q, 'report', '--by', 'category', $hostile]);
like($out, qr/^  Unknown \(plugins not in the category map\): evil\\x1b\[2J 1$/m, 'an unknown plugin name escaped');
unlike($out, qr/\x1b/, 'no raw ESC reaches the terminal');

# bad maps: exit 1 naming the file and the line; nothing printed on stdout
spew("$tmp/bad", "dnsbl RBL\ndnsbl Other\n");
($out, $e, $s) = run_cmd([$Q, 'report', '--categories', "$tmp/bad", '--by', 'category', $FIXTURE{'multilog-094'}]);
is($s, 1, 'a map that names a plugin twice: exit 1');
like($e, qr{^qpstat report: \Q$tmp\E/bad: line 2: 'dnsbl' is already mapped on line 1$}m, 'saying where');
is($out, '', 'and no report');
($out, $e, $s) = run_cmd([$Q, 'report', '--categories', "$tmp/none", $FIXTURE{'multilog-094'}]);
is($s, 1, 'a missing map: exit 1');
like($e, qr{^qpstat report: \Q$tmp\E/none: No such file or directory$}m, 'saying so');
($out, $e, $s) = run_cmd([$Q, 'list', '--categories', '--where', $FIXTURE{'multilog-094'}]);
is($s, 2, '--categories without a FILE is a usage error');
($out, $e, $s) = run_cmd([$Q, 'report', '--where', 'category=Ham', '--by', 'connections', $FIXTURE{'multilog-094'}]);
is($s, 2, '--where category=... selects transactions, as every --where');
# the Perl API counts the same categories (the built-in map)
{
    require Qpstat::Agg;
    my $agg = Qpstat::Agg->new;
    $agg->add_file($FIXTURE{'edge-cases'});
    my $cli = json_of('report', '--format', 'json', '--by', 'category', $FIXTURE{'edge-cases'});
    is_deeply({ map { $_->{key} => $_->{count} } @{ $agg->rows('category') } },
              { map { $_->{category} => $_->{count} } @{ $cli->{dimensions}{category}{rows} } },
              'Qpstat::Agg rows("category") = report --by category');
    my ($text) = run_cmd([$Q, 'report', '--by', 'hour,category', $FIXTURE{'edge-cases'}]);
    is($agg->report(by => 'hour,category'), $text, 'Qpstat::Agg report(by => "hour,category") = the CLI');
}
done_testing;
