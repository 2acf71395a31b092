#!/usr/bin/perl
# t/620-one-truth.t - every door at once against a real qpsmtpd.
#
# Debian's qpsmtpd 0.94 with the qpstat plugin recording live, its log
# under the real multilog with `!qpstat processor --db` (rotating by size
# and on SIGALRM), `qpstat collect` following the log directory, and a
# cron-style `qpstat import` every few tenths of a second, all on one
# store while clients send mail, some of it refused. At the end (one more
# import): the store = the logs for every table, and both = what the
# clients were told; `qpstat check` finds nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use QpsmtpdHarness;

$ENV{LC_ALL} = 'C';
$ENV{TZ}     = 'UTC';
my $CLIENTS = 8;
my $PER_CLIENT = 40;

if (my @p = QpsmtpdHarness::prereq_problems()) {
    fail("prerequisites for running qpsmtpd (run sh scripts/deps.sh, then perl Makefile.PL && make)");
    diag($_) for @p;
    done_testing;
    exit;
}
my ($have_plugin, $why) = QpsmtpdHarness::qpstat_plugin_status();
plan skip_all => "the plugin cannot run: $why" unless $have_plugin;
QpsmtpdHarness::diag_slow_dns();
my $Q = QpstatTest::qpstat_bin();

my $h = QpsmtpdHarness->new(name => '620', lifetime => 400);
my $db = $h->tmp . '/qpstat.db';
my $log = $h->logdir;
$h->write_config(plugins => [split /\n/,
    QpsmtpdHarness::template('plugins-610', LOGGER => "qpstat db $db", MAILDIR => $h->maildir)]);
# small files: many rotations, each running the processor
$h->start(max_conn => 40, max_per_ip => 0, multilog => ['s30000', 'n200', "!$Q processor --db $db"]);

# the other doors
my @doors;
sub door {
    my ($name, $code) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) { $code->(); POSIX::_exit(0) }
    push @doors, [$name, $pid];
    return $pid;
}
my $stop = $h->tmp . '/doors.stop';
my $collect = door('collect', sub {
    open STDERR, '>', $h->tmp . '/collect.err';
    exec $Q, 'collect', '--db', $db, $log or POSIX::_exit(127);
});
door('cron imports', sub {
    my ($runs, $failed) = (0, 0);
    until (-e $stop) {
        my $r = QpsmtpdHarness::capture_cmd(60, {}, $Q, 'import', '--db', $db, $log);
        $runs++;
        $failed++ if $r->{exit} != 0;
        sleep 0.3;
    }
    QpsmtpdHarness::write_file($h->tmp . '/imports.out', "runs=$runs failed=$failed\n");
});
door('rotations', sub {
    until (-e $stop) {
        sleep 0.7;
        kill 'ALRM', $h->{ml_pid};
    }
});

my @res = $h->run_children($CLIENTS, 240, sub {
    my ($i) = @_;
    # every other client writes to a recipient rcpt_ok refuses
    my $rcpt = $i % 2 ? 'bob@example.com' : 'eve@elsewhere.test';
    return $h->send_messages(messages => $PER_CLIENT, per_conn => 5, id => "620.$i", rcpt => $rcpt, timeout => 60);
});
my $sum = QpsmtpdHarness::sum_results(@res);
my $told_ok = $sum->{ok};
my $told_refused = $sum->{fail};
is($sum->{sent}, $CLIENTS * $PER_CLIENT, 'every message was offered');
is($told_ok, $CLIENTS / 2 * $PER_CLIENT, 'the clients to example.com were answered 250 after DATA');
is($told_refused, $CLIENTS / 2 * $PER_CLIENT, 'the clients to elsewhere.test were refused');
ok($h->wait_idle(15), 'every qpsmtpd child finished');
$h->stop;    # multilog drains the pipe and exits

QpsmtpdHarness::write_file($stop, '');
kill 'TERM', $collect;
for my $d (@doors) {
    my $st = QpsmtpdHarness::wait_pid($d->[1], 60);
    is($st, 0, "$d->[0] stopped cleanly") if $d->[0] ne 'collect';
    ok(defined $st, 'collect stopped on SIGTERM') if $d->[0] eq 'collect';
}
my $imports = QpstatTest::slurp($h->tmp . '/imports.out', missing_ok => 1) // '';
like($imports, qr/^runs=[1-9]\d* failed=0$/m, "cron imports ran and all exited 0 ($imports)");
my @rotated = glob "$log/\@*.s";
cmp_ok(scalar @rotated, '>=', 3, scalar(@rotated) . ' rotations, each through the processor');

my $final = $h->qpstat('import', '--db', $db, $log);
is($final->{exit}, 0, 'the last import succeeds') or diag($final->{stderr});

my $from_log = QpsmtpdHarness::csv_counts($h->qpstat('report', '--by', 'disposition', '--format', 'csv', $log)->{stdout}, 'disposition');
my $from_db = QpsmtpdHarness::csv_counts($h->qpstat('report', '--by', 'disposition', '--format', 'csv', '--db', $db)->{stdout}, 'disposition');
is_deeply($from_log, { queued => $told_ok, rcpt_ok => $told_refused }, 'the logs hold what the clients were told');
is_deeply($from_db, $from_log, 'the store holds what the logs hold');
for my $by ('disposition', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip', 'helo', 'spam',
            'connections', 'connection-time') {
    my $want = $h->qpstat('report', '--by', $by, '--format', 'csv', $log)->{stdout};
    my $got = $h->qpstat('report', '--by', $by, '--format', 'csv', '--db', $db)->{stdout};
    is($got, $want, "--by $by: report --db = report over the logs");
}
my $check = $h->qpstat('check', '--db', $db, $log);
is($check->{exit}, 0, 'qpstat check finds nothing') or diag($check->{stdout} . $check->{stderr});
done_testing;
