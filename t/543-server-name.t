#!/usr/bin/perl
# t/543-server-name.t - `qpstat import --set-server NAME` names a store's
# server whatever it had: a store written before stores kept the name (its
# rows count under an empty server), and one of schema 3 whose migration
# named it after the machine that migrated it. The records without a host
# of their own, and the totals the store keeps of them, count under the new
# name; records whose lines name their host keep it; without PATH nothing
# is imported; a bad name is a usage error, a read-only store a clear error.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE qpstat_bin run_cmd tmpdir);
use JSON::PP;

plan skip_all => 'no qpstat binary (build first)' unless qpstat_bin();
my $Q = qpstat_bin();
my $tmp = tmpdir();

sub servers {
    my ($db, @args) = @_;
    my ($out, $err, $st) = run_cmd([$Q, 'report', '--db', $db, '--format', 'json', '--by', 'server', @args]);
    die "report: exit $st: $err" if $st;
    return { map { ($_->{server} => $_->{count}) } @{ decode_json($out)->{dimensions}{server}{rows} } };
}
sub sql { my ($db, $q) = @_; my ($out) = run_cmd(['sqlite3', $db, $q]); chomp $out; return $out }

# a store of the multilog fixture (lines name no host), its name taken away
my $db = "$tmp/old.db";
my (undef, $err, $st) = run_cmd([$Q, 'import', '--db', $db, $FIXTURE{'multilog-094'}]);
is($st, 0, 'imported') or diag($err);
my $n = sql($db, 'SELECT count(*) FROM transactions');
sql($db, "DELETE FROM meta WHERE key = 'server'");
is_deeply(servers($db), { '' => $n }, 'a store without a name: its transactions under an empty server');

my ($out, $rc);
($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--set-server', 'mx9']);
is($rc, 0, 'import --set-server mx9: exit 0') or diag($err);
is($err, '', '... nothing on stderr');
is(sql($db, 'SELECT count(*) FROM transactions'), $n, '... and without PATH nothing imported');
is(sql($db, "SELECT value FROM meta WHERE key = 'server'"), 'mx9', 'the store is named mx9');
is_deeply(servers($db), { mx9 => $n }, 'every transaction counts under mx9 (the totals, every day)');
is_deeply(servers($db, '--since', '2026-11-25 10:00', '--until', '2026-11-25 23:59'), servers($db, '--where', 'server=mx9',
    '--since', '2026-11-25 10:00', '--until', '2026-11-25 23:59'), '... and in a part of a day (the records), = where server=mx9');

# renamed again, importing a log with it: the log's lines are added and named too
($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--set-server', 'mx10', $FIXTURE{'dialect-08x'}]);
is($rc, 0, 'import --set-server mx10 PATH: exit 0') or diag($err);
my $n2 = sql($db, 'SELECT count(*) FROM transactions');
cmp_ok($n2, '>', $n, '... the PATH is imported');
is_deeply(servers($db), { mx10 => $n2 }, 'every transaction under mx10');

# a logging/file log names its host: its records keep it
my $ldb = "$tmp/logfile.db";
run_cmd([$Q, 'import', '--db', $ldb, '--server', 'first-name', $FIXTURE{'logfile-094'}]);
my $before = servers($ldb);
ok(!exists $before->{'first-name'} && keys(%$before), "logging/file: the hosts its lines name: @{[sort keys %$before]}");
run_cmd([$Q, 'import', '--db', $ldb, '--set-server', 'renamed']);
is(sql($ldb, "SELECT value FROM meta WHERE key = 'server'"), 'renamed', 'that store is renamed');
is_deeply(servers($ldb), $before, '... and its records, whose lines name their host, keep it');

# a store of schema 3 (no totals), as an earlier qpstat left it, unnamed:
# the migration names it after this machine; --set-server corrects that
my $v3 = "$tmp/v3.db";
run_cmd([$Q, 'import', '--db', $v3, $FIXTURE{'multilog-094'}]);
sql($v3, "DROP TABLE spans; DROP TABLE totals; DROP TABLE daily_v3; DROP TABLE daily_facts_v3; DROP TABLE conn_times; ALTER TABLE transactions DROP COLUMN service; DELETE FROM meta WHERE key = 'server'; "
    . "PRAGMA user_version = 3; UPDATE meta SET value = '3' WHERE key = 'schema_version'");
($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $v3, '--set-server', 'mx3']);
is($rc, 0, 'a schema 3 store: migrated and named') or diag($err);
is(sql($v3, 'PRAGMA user_version'), 6, '... at schema 6 (the current one)');
is_deeply(servers($v3), { mx3 => $n }, '... its transactions (totals rebuilt at the migration) under mx3');

# errors
($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, '--set-server', '']);
is($rc, 2, '--set-server \'\': a usage error');
like($err, qr/^qpstat import: --set-server takes a name/, '... saying why');
{
    # as an unprivileged user when run as root (root writes anyway)
    my $ro = "$tmp/ro.db";
    run_cmd(['cp', $db, $ro]);
    chmod 0444, $ro;
    chmod 0755, "$tmp";
    my $uid = $> == 0 ? (getpwnam('nobody') // 65534) : undef;
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $ro, '--set-server', 'x'], defined $uid ? (uid => $uid) : ());
    is($rc, 1, 'a read-only store: exit 1');
    like($err, qr/read-only/, '... saying so') or diag($err);
    is(sql($ro, "SELECT value FROM meta WHERE key = 'server'"), 'mx10', '... and keeps its name');
}
done_testing;
