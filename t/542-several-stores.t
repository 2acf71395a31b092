#!/usr/bin/perl
# t/542-several-stores.t - the stores of several mail servers read as one:
# `qpstat report --db A --db B` (and `list`, and Qpstat::Store's `with`)
# is the sum of the stores' reports, table by table; the server table
# counts each store's transactions under its server's name (kept in the
# store: a copied store keeps it; a new one is named after --server or
# the machine); `--where server=NAME` is that store's own report.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd tmpdir);
use File::Copy qw(copy);
use JSON::PP;
use POSIX ();

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();
my @KEYED = ('disposition', 'dnsbl', 'tld', 'disposition,tld', qw(hour day sender recipient ip helo score spam));

sub json_of {
    my (@args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, @args]);
    die "qpstat @args: exit $st: $err" if $st != 0;
    return decode_json($out);
}
sub import_into {
    my ($db, @args) = @_;
    my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, @args]);
    is($st, 0, "import into $db") or diag($err);
}
# every keyed table as { key => count }, the transactions, the connection counters
sub keyed {
    my ($r) = @_;
    my %t;
    for my $d (@KEYED, 'server') {
        for my $row (@{ $r->{dimensions}{$d}{rows} // [] }) {
            my $k = $d eq 'disposition,tld' ? "$row->{disposition}\0$row->{tld}" : $row->{$d};
            $t{$d}{$k} += $row->{count} if $row->{count};
        }
    }
    $t{transactions} = $r->{transactions};
    my $c = $r->{dimensions}{connections};
    $t{connections}{$_} = $c->{$_} for $c ? qw(accepted too_many hosts_allow queue_accepted) : ();
    $t{'connection-time'} = $r->{dimensions}{'connection-time'}{count} if $r->{dimensions}{'connection-time'};
    return \%t;
}
sub added {
    my (@t) = @_;
    my %sum;
    for my $t (@t) {
        for my $d (keys %$t) {
            if (ref $t->{$d}) { $sum{$d}{$_} += $t->{$d}{$_} for keys %{ $t->{$d} } }
            else { $sum{$d} += $t->{$d} }
        }
    }
    return \%sum;
}

# two servers' stores: each named by the import that created it
my ($A, $B) = ("$tmp/mx1.db", "$tmp/mx2.db");
import_into($A, '--server', 'mx1', $FIXTURE{'multilog-094'}, $FIXTURE{'dialect-08x'});
import_into($B, '--server', 'mx2', $FIXTURE{'tai64nlocal-093'}, $FIXTURE{'edge-cases'});
my @ALL = ('--format', 'json', '--top', '0', map { ('--by', $_) } @KEYED, 'connections', 'connection-time', 'server');
my $ra = json_of('report', '--db', $A, @ALL);
my $rb = json_of('report', '--db', $B, @ALL);
my $both = json_of('report', '--db', $A, '--db', $B, @ALL);
ok($ra->{transactions} && $rb->{transactions}, "both stores hold transactions ($ra->{transactions}, $rb->{transactions})");
is_deeply(keyed($both), added(keyed($ra), keyed($rb)), 'report --db A --db B = report A + report B, every table');
is_deeply($both->{dimensions}{server}{rows},
    [sort { $b->{count} <=> $a->{count} || $a->{server} cmp $b->{server} }
     map { +{ server => $_->[0], count => $_->[1], percent => 0 + sprintf('%.2f', 100 * $_->[1] / $both->{transactions}) } }
     ['mx1', $ra->{transactions}], ['mx2', $rb->{transactions}]],
    'the server table: each store under its server, with its transactions');
is($both->{lines}{read}, $ra->{lines}{read} + $rb->{lines}{read}, 'the line counters add up');
for ([mx1 => $ra], [mx2 => $rb]) {
    my ($name, $own) = @$_;
    my $w = json_of('report', '--db', $A, '--db', $B, '--where', "server=$name", '--format', 'json', '--top', '0',
                    map { ('--by', $_) } @KEYED, 'server');
    my $k = keyed($own);
    delete $k->{$_} for 'connections', 'connection-time';    # --where selects transactions
    is_deeply(keyed($w), $k, "--where server=$name = that store's own report");
}
my ($text) = run_cmd([$Q, 'report', '--db', $A, '--db', $B]);
like($text, qr/^== server ==\n(?:.*\n){2}.*\bmx[12]\b.*\n.*\bmx[12]\b/m, 'several stores: the text report adds the server table');
my ($one) = run_cmd([$Q, 'report', '--db', $A]);
unlike($one, qr/== server ==/, 'one store: the tables of the logs, no server table');

# list: every transaction of both, the newest of both first
my $la = json_of('list', '--db', $A, '--format', 'json', '--limit', '0');
my $lb = json_of('list', '--db', $B, '--format', 'json', '--limit', '0');
my $l = json_of('list', '--db', $A, '--db', $B, '--format', 'json', '--limit', '0');
is($l->{matched}, $ra->{transactions} + $rb->{transactions}, 'list over both: every transaction');
my %servers;
$servers{ $_->{server} }++ for @{ $l->{transactions} };
is_deeply(\%servers, { mx1 => $ra->{transactions}, mx2 => $rb->{transactions} }, 'each listed under its server');
my @newest = (sort { $b->{time} cmp $a->{time} } @{ $la->{transactions} }, @{ $lb->{transactions} })[0 .. 4];
my $l5 = json_of('list', '--db', $B, '--db', $A, '--format', 'json', '--limit', '5');
is_deeply([map { $_->{time} } @{ $l5->{transactions} }], [map { $_->{time} } @newest],
    '--limit 5 over both: the 5 newest of both, whichever store they are in');
my $lw = json_of('list', '--db', $A, '--db', $B, '--format', 'json', '--limit', '0', '--where', 'server=mx2');
is($lw->{matched}, $rb->{transactions}, 'list --where server=mx2: the transactions of mx2');

# a copy: the file and its write-ahead log (what a checkpoint would fold in)
sub copy_store {
    my ($from, $to) = @_;
    copy($from, $to) or die "copy: $!";
    -e "$from-wal" and (copy("$from-wal", "$to-wal") or die "copy: $!");
}

# the name travels with the store; a store created without --server is the machine's
my $C = "$tmp/copied-from-mx1.db";
copy_store($A, $C);
is(json_of('report', '--db', $C, '--by', 'server', '--format', 'json')->{dimensions}{server}{rows}[0]{server}, 'mx1',
    'a store copied elsewhere keeps its server name');
my $D = "$tmp/here.db";
import_into($D, $FIXTURE{'multilog-094'});
is(json_of('report', '--db', $D, '--by', 'server', '--format', 'json')->{dimensions}{server}{rows}[0]{server},
    (POSIX::uname())[1], 'a new store is named after this machine (uname -n)');
import_into($A, '--server', 'other', $FIXTURE{'tai64nlocal-093'});
is_deeply([sort map { $_->{server} } @{ json_of('report', '--db', $A, '--by', 'server', '--format', 'json')->{dimensions}{server}{rows} }],
    ['mx1', 'other'], 'a later import --server names its records, not the store');
# lines that name their host (syslog) count under it
my $S = "$tmp/syslog.db";
import_into($S, '--server', 'mx3', $FIXTURE{'syslog-093'});
is_deeply([map { $_->{server} } @{ json_of('report', '--db', $S, '--by', 'server', '--format', 'json')->{dimensions}{server}{rows} }],
    ['mx'], 'syslog lines: the host their frame names');

# a pruned day counts under its store's server
my $P = "$tmp/pruned.db";
copy_store($B, $P);
my $before = json_of('report', '--db', $A, '--db', $P, @ALL);
my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $P, '--keep', '1', $FIXTURE{'edge-cases'}],
                                env => { QPSTAT_NOW => 1795640400 + 30 * 86400 });
is($st, 0, 'prune the copy of mx2 (--keep 1, thirty days later)') or diag($err);
my $after = json_of('report', '--db', $A, '--db', $P, '--by', 'server', '--by', 'disposition', '--format', 'json', '--top', '0');
is_deeply($after->{dimensions}{server}{rows}, $before->{dimensions}{server}{rows}, 'after pruning: the server table is unchanged');
is(json_of('report', '--db', $A, '--db', $P, '--where', 'server=mx2', '--by', 'disposition', '--format', 'json')->{transactions},
    $rb->{transactions}, '--where server=mx2 counts the pruned days');

# usage
mkdir "$tmp/x";
for my $bad ([[$A, $A], qr/same store/], [[$A, "$tmp/x/../mx1.db"], qr/same store/]) {
    my ($dbs, $re) = @$bad;
    my (undef, $e, $s) = run_cmd([$Q, 'report', map { ('--db', $_) } @$dbs]);
    is($s, 2, "report --db @$dbs: a usage error");
    like($e, $re, 'saying why');
}

# the Perl API: with => [...] and where
SKIP: {
    skip 'the XS module is not built', 3 unless eval { require blib; blib->import; require Qpstat::Store; 1 };
    my $sa = Qpstat::Store->open($A, readonly => 1);
    my $sb = Qpstat::Store->open($B, readonly => 1);
    is($sb->server, 'mx2', 'Qpstat::Store::server');
    my ($cli) = run_cmd([$Q, 'report', '--db', $A, '--db', $B, '--format', 'csv', '--by', 'disposition',
                         '--where', 'server=mx2']);
    is($sa->report(with => [$sb], format => 'csv', by => 'disposition', where => 'server=mx2'), $cli,
        'Qpstat::Store::report(with => ..., where => server=mx2) = the CLI');
    ok(!eval { $sa->report(with => [$sa]); 1 } && $@ =~ /count twice/, 'the store itself in with: refused');
}
done_testing;
