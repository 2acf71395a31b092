#!/usr/bin/perl
# t/410-plugin-prefork.t - plugins/qpstat in Debian's qpsmtpd-prefork 0.94
# (t/600-qpsmtpd.t covers qpsmtpd-forkserver): prefork children are forked
# once and serve many connections, run the pre-connection hooks themselves
# (hosts_allow), and reload plugins. Under `multilog t`, with
# `qpstat db STORE` in config/plugins: queued mail, a relaying denial, a
# hosts_allow denial and connection times reach the store at once; the
# terse lines in the log are logterse's; importing the log doubles nothing.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(slurp spew tmpdir);
use Cwd qw(abs_path);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes qw(time sleep);

my $PREFORK = '/usr/bin/qpsmtpd-prefork';
my $QP_PERL5 = '/usr/share/perl5';
my $QP_PLUGINS = '/usr/share/qpsmtpd/plugins';
sub which { my ($p) = @_; (grep { -x "$_/$p" } split /:/, $ENV{PATH})[0] }
plan skip_all => "$PREFORK not installed (Debian package qpsmtpd)" unless -f $PREFORK && -d $QP_PLUGINS;
plan skip_all => 'multilog not installed (daemontools)' unless which('multilog');
plan skip_all => 'swaks not installed' unless which('swaks');
for my $m (qw(Net::DNS Mail::Header IPC::Shareable)) {
    system($^X, "-I$QP_PERL5", "-M$m", '-e1') == 0 or plan skip_all => "Perl module $m missing";
}
plan skip_all => 'build first (blib)' unless -d 'blib/arch';

my $REPO = abs_path('.');
my $TD = tmpdir();
my $T = abs_path("$TD");
chmod 0755, $T;
my $db = "$T/qpstat.db";
my $user = $> == 0 ? 'nobody' : undef;
mkdir "$T/$_" for qw(config spool log maildir maildir/cur maildir/new maildir/tmp);
chmod 0700, "$T/spool";
if ($user) {
    my (undef, undef, $uid, $gid) = getpwnam($user);
    chown $uid, $gid, "$T", "$T/spool", map {"$T/maildir$_"} '', '/cur', '/new', '/tmp';
}
my $port = do { my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0); $s->sockport };
my %config = (
    me          => "test.example\n",
    rcpthosts   => "example.com\n",
    loglevel    => "6\n",
    spool_dir   => "$T/spool\n",
    plugin_dirs => "$QP_PLUGINS\n$REPO/plugins\n",
    hosts_allow => "127.0.0.3 DENY Sorry, you are blocked\n",
    plugins     => "hosts_allow\nqpstat db $db\nrcpt_ok\nqueue/maildir $T/maildir\n",
);
spew("$T/config/$_", $config{$_}) for keys %config;

# qpsmtpd-prefork | multilog t log
pipe my $r, my $w or die;
my $ml = fork // die;
if (!$ml) {
    POSIX::setpgid(0, 0);
    open STDIN, '<&', $r or die;
    open STDOUT, '>', '/dev/null';
    exec which('multilog') . '/multilog', 't', "$T/log" or POSIX::_exit(127);
}
close $r;
my $qp = fork // die;
if (!$qp) {
    POSIX::setpgid(0, 0);
    chdir $T;
    open STDIN, '<', '/dev/null';
    open STDOUT, '>&', $w or die;
    open STDERR, '>&', $w or die;
    $ENV{QPSMTPD_CONFIG} = "$T/config";
    exec $^X, '-Tw', "-I$REPO/blib/lib", "-I$REPO/blib/arch", "-I$QP_PERL5", $PREFORK, '--listen-address',
      '127.0.0.1', '--port', $port, '--children', 4, '--idle-children', 2, '--debug', ($user ? ('--user', $user) : ())
      or POSIX::_exit(127);
}
close $w;
my $log = sub { -e "$T/log/current" ? slurp("$T/log/current") : "" };
my $up = 0;
for (1 .. 300) {
    last if !kill 0, $qp;
    $up = 1, last if $log->() =~ /staring on host|starting on host/;
    sleep 0.1;
}
END { if ($qp) { kill 'TERM', -$qp; kill 'TERM', $qp; waitpid $qp, 0 } if ($ml) { kill 'TERM', $ml; waitpid $ml, 0 } }
ok($up, 'qpsmtpd-prefork started') or do { diag($log->()); done_testing; exit };

sub swaks {
    my (@a) = @_;
    open my $stderr, '>&', \*STDERR or die;
    open STDERR, '>', '/dev/null' or die;
    open my $fh, '-|', 'swaks', '--server', '127.0.0.1', '--port', $port, '--helo', 'client.sender.example',
      '--from', 'alice@sender.example', @a
      or die "swaks: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    open STDERR, '>&', $stderr or die;
    return $out;
}
like(swaks('--to', "bob$_\@example.com", '--header', "Message-Id: <prefork.$_\@sender.example>"), qr/^<-\s+250 Queued/m,
    "message $_ queued") for 1 .. 3;
like(swaks('--to', 'someone@elsewhere.example'), qr/^<\*\*\s+550 Relaying denied/m, 'relaying denied');
# (0.94's prefork answers a hosts_allow DENY with 451)
like(swaks('--local-interface', '127.0.0.3', '--to', 'bob@example.com'), qr/[45]\d\d Sorry, you are blocked/,
    'hosts_allow denial (run by a prefork child)');

# live: the store, while qpsmtpd still runs
require Qpstat::Store;
my %want = (queued => 3, rcpt_ok => 1, hosts_allow => 1);
my %got;
for (1 .. 50) {
    %got = eval { map { $_->{key} => $_->{count} } @{ Qpstat::Store->open($db, readonly => 1)->aggregate->rows('disposition') } };
    last if keys %got == keys %want;
    sleep 0.1;
}
is_deeply(\%got, \%want, 'the store has every transaction at once');
my $timed = eval { Qpstat::Store->open($db, readonly => 1)->aggregate->conn_stats->{timed} } // 0;
ok($timed >= 4, "connection times are recorded ($timed)");

# stop: TERM the prefork parent (it stops its children), multilog drains
kill 'TERM', $qp;
waitpid $qp, 0;
kill 'TERM', -$qp;
$qp = undef;
for (1 .. 50) { last if waitpid($ml, POSIX::WNOHANG()) == $ml; sleep 0.1 }
kill 'TERM', $ml;
waitpid $ml, 0;
$ml = undef;

my @terse = grep { /\((?:deny|queue)\) logging::logterse: ` / } split /\n/, $log->();
is(scalar @terse, 5, 'five terse lines in the log, under the name logging::logterse') or diag($log->());
like($_, qr/` (?:127\.0\.0\.1\tUnknown\tclient\.sender\.example\t<alice\@sender\.example>\t(?:<bob\d\@example\.com>\tqueued\t\t<prefork\.\d\@sender\.example>|\trcpt_ok\t901\tRelaying denied \(#5\.7\.1\)\tmsg denied before queued)|\t\t\t\t\thosts_allow\t901\tSorry, you are blocked\tmsg denied before queued)/,
    'a terse line as logterse writes it') for @terse;
unlike($log->(), qr/cannot record into|FATAL PLUGIN ERROR/, 'no store warning, no plugin error');

my $store = Qpstat::Store->open($db);
my $before = $store->info;
my $added = $store->import_logs("$T/log");
is($store->info->{transactions}, $before->{transactions}, "import added $added connection facts, no transaction");
is($store->info->{transactions}, 5, 'importing the log doubles no transaction');
is($store->import_logs("$T/log"), 0, 'a second import adds nothing');

done_testing;
