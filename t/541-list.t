#!/usr/bin/perl
# t/540-list.t - every count can be opened: `--where KEY=VALUE` on report,
# and `qpstat list`, the transactions behind a count.
#
# On every fixture, for every keyed table and every key it prints (from
# the logs and from the store): `list --where T=K` lists exactly as many
# transactions as the table counts under K (recipient: as many as `report
# --where recipient=K` counts, a transaction having several recipients),
# and `report --where T=K --by T` is that one row with the same count, so
# the table filtered by each of its keys adds up to the table (recipient:
# K's row keeps its count; the transactions' other domains show too).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES qpstat_bin run_cmd tmpdir);
use JSON::PP;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();
my @TABLES = qw(disposition dnsbl tld sender recipient ip helo hour day score spam);

sub json_of {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return decode_json($out);
}

sub check_source {
    my ($what, @src) = @_;
    my $all = json_of('report', '--format', 'json', '--top', '0', @src);
    my @differ;
    my $keys = 0;
    for my $t (@TABLES) {
        for my $row (@{ $all->{dimensions}{$t}{rows} }) {
            next unless $row->{count};
            my $k = $row->{$t};
            $keys++;
            my $list = json_of('list', '--format', 'json', '--limit', '0', '--where', "$t=$k", @src);
            my $rep = json_of('report', '--format', 'json', '--top', '0', '--by', $t, '--where', "$t=$k", @src);
            my @rows = grep { $_->{count} } @{ $rep->{dimensions}{$t}{rows} };
            my $want = $t eq 'recipient' ? $rep->{transactions} : $row->{count};
            push @differ, "$t=$k: list shows $list->{matched}, the table counts $want" if $list->{matched} != $want;
            push @differ, "$t=$k: list kept $list->{shown} of $list->{matched}" if $list->{shown} != $list->{matched};
            # a transaction's other recipient domains stay in its recipient table
            my @mine = grep { $_->{$t} eq $k } @rows;
            push @differ, "$t=$k: the filtered table is not its one row"
              unless (@rows == 1 || $t eq 'recipient') && @mine == 1 && $mine[0]{count} == $row->{count};
        }
    }
    ok(!@differ, "$what: $keys keys of " . scalar(@TABLES) . ' tables: list = report, filtered table = its row')
      or diag(join "\n", @differ[0 .. ($#differ > 9 ? 9 : $#differ)]);
    my $list = json_of('list', '--format', 'json', '--limit', '0', @src);
    is($list->{matched}, $all->{transactions}, "$what: list without a filter shows every transaction");
}

for my $f (@FIXTURES) {
    check_source("$f (log)", $FIXTURE{$f});
}
my $db = "$tmp/all.db";
my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, map { $FIXTURE{$_} } @FIXTURES]);
is($st, 0, 'the fixtures imported') or diag($err);
check_source('the store of every fixture', '--db', $db);

# two filters: both must match
my $both = json_of('list', '--format', 'json', '--limit', '0', '--where', 'disposition=queued', '--where', 'tld=com',
                   '--db', $db);
my $pair = json_of('report', '--format', 'json', '--by', 'disposition,tld', '--top', '0', '--db', $db);
my ($cell) = grep { $_->{disposition} eq 'queued' && $_->{tld} eq 'com' } @{ $pair->{dimensions}{'disposition,tld'}{rows} };
is($both->{matched}, $cell->{count}, 'two --where: the disposition x TLD cell');

# newest first, and --limit
my $l = json_of('list', '--format', 'json', '--limit', '3', '--db', $db);
is(scalar @{ $l->{transactions} }, 3, '--limit 3 shows 3');
my @t = map { $_->{time} } @{ $l->{transactions} };
is_deeply(\@t, [sort { $b cmp $a } @t], 'newest first');

# text and CSV
my ($text) = run_cmd([$Q, 'list', '--where', 'disposition=badmailfrom', $FIXTURE{'multilog-094'}]);
like($text, qr/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  -  127\.0\.0\.1  .*  badmailfrom  901  /m, 'a text line per transaction');
my ($csv) = run_cmd([$Q, 'list', '--format', 'csv', '--limit', '1', $FIXTURE{'multilog-094'}]);
like($csv, qr/\Atime,server,ip,helo,sender,recipients,disposition,code,text,score\r\n[^\r\n]+\r\n\z/, 'CSV: a header and a row');

# usage errors
for my $bad (['--where', 'nonsense=1'], ['--where', 'disposition'], ['--where', 'connections=1'],
             ['--limit', 'x'], ['--format', 'html']) {
    my (undef, $e, $s) = run_cmd([$Q, 'list', @$bad, $FIXTURE{'multilog-094'}]);
    is($s, 2, "list @$bad is a usage error");
    like($e, qr/^qpstat list: /, 'in the CLI voice');
}
my (undef, $e2, $s2) = run_cmd([$Q, 'report', '--where', 'ip=127.0.0.1', '--by', 'connections', $FIXTURE{'multilog-094'}]);
is($s2, 2, '--where with the connections table is a usage error (it is not made of transactions)');
like($e2, qr/not made of them/, 'saying why');
done_testing;
