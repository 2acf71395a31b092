#!/usr/bin/perl
# t/400-plugin.t - plugins/qpstat compiled as qpsmtpd 0.94 compiles a
# plugin, against stand-ins of Qpsmtpd::Plugin/Constants and of the connection,
# transaction, address and header objects (t/lib/fake-qpsmtpd):
#  - the terse line is logterse 1.1's, byte for byte (queued, deny with a
#    TAB in the text, sender and HELO with TABs, no Message-Id, Message-Id
#    without brackets or with a CRLF, X-Spam-Status without "tests", the
#    old SA header, the parent's hosts_allow denial, prefix, loglevel, name);
#  - each line is recorded into the store at once, and importing the log
#    afterwards adds nothing;
#  - connection times are recorded unless the connection_time plugin runs;
#  - a missing, locked or corrupt store: every hook still returns DECLINED,
#    the line is still logged, one warning per process;
#  - a forked child records through its own handle.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 't/lib/fake-qpsmtpd';
use QpstatTest qw(NOW spew tmpdir slurp);
use POSIX ();
use Time::HiRes ();

use Qpsmtpd::Constants;
use Qpsmtpd::Plugin;
use FakeQP;
use Qpstat::Store;

my $dir = tmpdir();
my $n   = 0;

# A plugin object as qpsmtpd makes one from config/plugins "qpstat @args".
sub load_plugin {
    my (@args) = @_;
    my $package = 'Qpsmtpd::Plugin::qpstat';
    Qpsmtpd::Plugin->compile('qpstat', $package, 'plugins/qpstat') unless $package->can('plugin_name');
    my $plugin = $package->new;
    my $qp = FakeQP->new(connection => conn());
    $plugin->_register($qp, @args);
    return ($plugin, $qp);
}

# Runs a hook as qpsmtpd's hook runner does.
sub run_hook {
    my ($plugin, $qp, $hook, @args) = @_;
    (my $method = "hook_$hook") =~ tr/-/_/;
    local $plugin->{_qp}   = $qp;
    local $plugin->{_hook} = $hook;
    return $plugin->$method(@args);
}

sub conn { FakeQP::Connection->new(remote_ip => '127.0.0.1', remote_host => 'Unknown', hello_host => 'client.sender.example', @_) }
sub addr { FakeQP::Address->new(@_) }

sub tx {
    my (%a) = @_;
    return FakeQP::Transaction->new(
        sender     => exists $a{sender} ? $a{sender} : addr('alice@sender.example'),
        recipients => $a{recipients} || [addr('bob@example.com')],
        header     => exists $a{header} ? $a{header} : FakeQP::Header->new(@{ $a{headers} || [] }),
    );
}

my $SA = "No, score=-1.0 required=5.0 tests=ALL_TRUSTED,NO_RELAYS\n\tautolearn=ham autolearn_force=no version=3.4.6\n";
my $P  = "$$ (deny) logging::logterse: ` ";
my $Q  = "$$ (queue) logging::logterse: ` ";
my $C  = "127.0.0.1\tUnknown\tclient.sender.example";

# [ name, hook, sub { connection, transaction, hook args }, expected stderr line ]
my @CASES = (
    [   'queued, two recipients, SpamAssassin 3.x header',
        'queue',
        sub {
            (conn(), tx(recipients => [addr('bob@example.com'), addr('carol@example.com')],
                headers => ['Message-Id' => "<20261125.1\@sender.example>\n", 'X-Spam-Status' => $SA]));
        },
        "$Q$C\t<alice\@sender.example>\t<bob\@example.com>,<carol\@example.com>\tqueued\t\t"
          . "<20261125.1\@sender.example>\tNo, score=-1.0 required=5.0",
    ],
    [   'deny with a TAB in the text (not escaped)',
        'deny',
        sub { (conn(), tx(recipients => []), 'rcpt_ok', DENY, "Relaying\tdenied (#5.7.1)") },
        "$P$C\t<alice\@sender.example>\t\trcpt_ok\t901\tRelaying\tdenied (#5.7.1)\tmsg denied before queued",
    ],
    [   'sender and HELO with TABs (replaced by _)',
        'deny',
        sub { (conn(hello_host => "evil\thelo"), tx(sender => addr("a\tb\@x.org")), 'badmailfrom', DENY, 'nope') },
        "${P}127.0.0.1\tUnknown\tevil_helo\t<a_b\@x.org>\t<bob\@example.com>\tbadmailfrom\t901\tnope\tmsg denied before queued",
    ],
    [   'queued without Message-Id or SpamAssassin header',
        'queue',
        sub { (conn(), tx(sender => addr(''))) },
        "$Q$C\t<>\t<bob\@example.com>\tqueued\t\t<>\t",
    ],
    [   'Message-Id without brackets, X-Spam-Status without "tests" (last two bytes go)',
        'queue',
        sub { (conn(), tx(headers => ['Message-Id' => "abc\@x.example\n", 'X-Spam-Status' => "Yes, score=13.1 required=5.0\n"])) },
        "$Q$C\t<alice\@sender.example>\t<bob\@example.com>\tqueued\t\t<abc\@x.example>\tYes, score=13.1 required=5.",
    ],
    [   'Message-Id folded with CRLF, several Message-Ids: the first, cut',
        'queue',
        sub {
            (conn(), tx(headers => ['Message-Id' => "<one\@x>\r\n\t(comment)\n", 'Message-Id' => "<two\@x>\n",
                'X-Spam-Status' => "No, hits=-2.6 required=5.0\n\ttests=BAYES_00\n"]));
        },
        "$Q$C\t<alice\@sender.example>\t<bob\@example.com>\tqueued\t\t<one\@x>\tNo, hits=-2.6 required=5.0_",
    ],
    [   'spamassassin deny carries the SA field',
        'deny',
        sub {
            (conn(), tx(headers => ['X-Spam-Status' => "Yes, score=1000.0 required=5.0 tests=GTUBE\n"]),
                'spamassassin', DENY, 'spam score exceeded threshold');
        },
        "$P$C\t<alice\@sender.example>\t<bob\@example.com>\tspamassassin\t901\tspam score exceeded threshold"
          . "\tYes, score=1000.0 required=5.0",
    ],
    [   'hosts_allow in the parent: no connection fields',
        'deny',
        sub {
            (FakeQP::Connection->new, FakeQP::Transaction->new(header => undef), 'hosts_allow', DENYSOFT,
                'too many connections from 127.0.0.1, try again later');
        },
        "$P\t\t\t\t\thosts_allow\t902\ttoo many connections from 127.0.0.1, try again later\tmsg denied before queued",
    ],
    [   'naughty with a multi-line text: logged as is, one log line per line',
        'deny',
        sub { (conn(), tx(), 'naughty', DENY_DISCONNECT, "(dnsbl) listed\r\n(helo) bad helo") },
        "$P$C\t<alice\@sender.example>\t<bob\@example.com>\tnaughty\t903\t(dnsbl) listed\r\n(helo) bad helo"
          . "\tmsg denied before queued",
    ],
);

# --- the terse line, byte for byte, and the store
my $db = "$dir/live.db";
my ($plugin, $qp) = load_plugin(db => $db);
my @stderr;
for my $c (@CASES) {
    my ($name, $hook, $make, $want) = @$c;
    my ($conn, @args) = $make->();
    $qp->{connection} = $conn;
    my $rc = run_hook($plugin, $qp, $hook, @args);
    is($rc, DECLINED, "$name: DECLINED");
    is($qp->{stderr}[-1], $want, "$name: the terse line");
    is($qp->{calls}[-1][0], LOGALERT, "$name: logged at LOGALERT");
    push @stderr, $qp->{stderr}[-1];
}
is(scalar @{ $qp->{stderr} }, scalar @CASES, 'one line per hook, no warnings');

my $store = Qpstat::Store->open($db, readonly => 1);
is($store->info->{transactions}, scalar @CASES, 'every line is in the store at once');
my %disp = map { $_->{key} => $_->{count} } @{ $store->aggregate->rows('disposition') };
is_deeply(\%disp, { queued => 4, rcpt_ok => 1, badmailfrom => 1, spamassassin => 1, hosts_allow => 1, naughty => 1 },
    'with their dispositions');
$store->close;

# The log multilog would write: each line labelled (a multi-line text
# splits into a record and a continuation line). Importing it adds nothing.
{
    my $log = "$dir/current";
    my $t = int(Time::HiRes::time());
    spew($log, join '', map { sprintf "\@40000000%08x%08x %s\n", $t + 10, 500, $_ =~ s/\n/\n\@40000000${\ sprintf '%08x', $t + 10}00000500 /r } @stderr);
    my $s = Qpstat::Store->open($db);
    is($s->import_logs($log), 0, 'importing the log of the same lines adds nothing');
    is($s->info->{transactions}, scalar @CASES, 'no transaction twice');
    my ($cli) = eval { Qpstat::Agg->new->add_file($log)->report(format => 'csv', by => 'disposition') };
    is($s->report(format => 'csv', by => 'disposition'), $cli, 'the store and the log agree');
}

# --- the log imported first, the plugin's copy after (a record kept for a
# locked store, a collect faster than the plugin): never twice. A live
# record skips the search for its logged twin only where no imported row
# can be (the store's mark of the latest imported row).
{
    my $idb = "$dir/import-first.db";
    my ($p, $q) = load_plugin(name => 'logging::logterse');    # the log's lines, nothing stored
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, "first $_") for 1 .. 3;
    my $t = int(Time::HiRes::time());
    spew("$dir/import-first.log", join '', map { sprintf "\@40000000%08x%08x %s\n", $t + 10, 500, $_ } @{ $q->{stderr} });
    my $s = Qpstat::Store->open($idb, create => 1);
    is($s->import_logs("$dir/import-first.log"), 3, 'the log first: three records');
    for my $line (@{ $q->{stderr} }) {
        ok(!$s->record_line($line, time => Time::HiRes::time(), source => 'plugin'), 'its live copy after: not added');
    }
    # a live record far from every imported row is stored without a search
    ok($s->record_line($q->{stderr}[0], time => $t + 3600, source => 'plugin'), 'an hour later: a record of its own');
    is($s->info->{transactions}, 4, 'nothing twice');
    SKIP: {
        my $sqlite3 = (grep { -x "$_/sqlite3" } split /:/, $ENV{PATH})[0];
        skip 'sqlite3 not installed', 2 unless $sqlite3;
        # a store from before the mark: the mark comes from its rows
        my $old = Qpstat::Store->open("$dir/no-mark.db", create => 1);
        $old->import_logs("$dir/import-first.log");
        $old->close;
        system("$sqlite3/sqlite3", "$dir/no-mark.db", "DELETE FROM meta WHERE key = 'imported_until'") == 0 or die;
        $old = Qpstat::Store->open("$dir/no-mark.db");
        ok(!$old->record_line($q->{stderr}[1], time => $t + 10, source => 'plugin'),
            'a store without the mark: a live copy of an imported record still pairs');
        is($old->info->{transactions}, 3, 'nothing twice');
    }
}

# --- arguments: prefix, loglevel, name
{
    my ($p, $q) = load_plugin(prefix => '~', loglevel => 'LOGINFO', name => 'qpstat');
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'no');
    is($q->{stderr}[-1], "$$ (deny) qpstat: ~ $C\t<alice\@sender.example>\t<bob\@example.com>\tbadrcptto\t901\tno"
          . "\tmsg denied before queued", 'prefix and name');
    is($q->{calls}[-1][0], LOGINFO, 'loglevel by name');
    ($p, $q) = load_plugin(loglevel => 3);
    run_hook($p, $q, 'deny', tx(), 'x', DENY, 'y');
    is($q->{calls}[-1][0], 3, 'loglevel as a number');
    ($p, $q) = load_plugin(loglevel => 7);
    run_hook($p, $q, 'deny', tx(), 'x', DENY, 'y');
    is(scalar @{ $q->{stderr} }, 0, 'above qpsmtpd\'s loglevel the line is not printed');
    ($p, $q) = load_plugin(colour => 'red');
    like($q->{stderr}[-1], qr/\(?\)? ?qpstat: unknown option 'colour' ignored$/, 'an unknown option is reported');
}

# --- connection time: one rule. A connection time is a line of the log
# and the store holds the same: without connection_time (stock Debian) the
# plugin logs the line connection_time would and records it; with it, the
# plugin records its own measurement, which the import of connection_time's
# line replaces (same process).
{
    my $cdb = "$dir/conn.db";
    my ($p, $q) = load_plugin(db => $cdb);
    run_hook($p, $q, 'pre-connection', undef, remote_ip => '127.0.0.1');
    run_hook($p, $q, 'connect', tx());
    Time::HiRes::sleep(0.05);
    is(run_hook($p, $q, 'post-connection', tx()), DECLINED, 'post-connection: DECLINED');
    my $s = Qpstat::Store->open($cdb);
    my $cs = $s->aggregate->conn_stats;
    is($cs->{timed}, 1, 'the connection time is recorded');
    ok($cs->{max} >= 0.04 && $cs->{max} < 5, "it is the time since pre-connection ($cs->{max} s)");
    is(scalar @{ $q->{stderr} }, 1, 'without connection_time it is also logged, once');
    like($q->{stderr}[0], qr/\A$$ \(post-connection\) connection_time: \d+\.\d{3} s\.\z/,
        "as connection_time logs it: $q->{stderr}[0]");
    is($q->{calls}[-1][0], LOGALERT, 'at the plugin\'s loglevel (always logged, as the terse line)');
    my $log = "$dir/conn.log";
    spew($log, sprintf("\@40000000%08x%08x %s\n", int(Time::HiRes::time()) + 10, 500, $q->{stderr}[0]));
    is($s->import_logs($log), 0, 'importing the logged connection time adds nothing');
    my ($from_log) = Qpstat::Agg->new->add_file($log)->report(format => 'csv', by => 'connection-time');
    is($s->report(format => 'csv', by => 'connection-time'), $from_log, 'store and log agree on the connection time');
    run_hook($p, $q, 'connect', tx());    # tcpserver mode: no pre-connection
    run_hook($p, $q, 'post-connection', tx());
    is($s->aggregate->conn_stats->{timed}, 2, 'tcpserver mode: from connect');
    run_hook($p, $q, 'post-connection', tx());
    is($s->aggregate->conn_stats->{timed}, 2, 'no start, no record');
    is(scalar @{ $q->{stderr} }, 2, 'and no line');

    my $cdb2 = "$dir/conn2.db";
    my ($p2, $q2) = load_plugin(db => $cdb2);
    $q2->{hooks} = { 'post-connection' => [{ name => 'connection_time' }, { name => 'qpstat' }] };
    run_hook($p2, $q2, 'connect', tx());
    run_hook($p2, $q2, 'post-connection', tx());
    my $s2 = Qpstat::Store->open($cdb2);
    is($s2->aggregate->conn_stats->{timed}, 1, 'with connection_time loaded the plugin records its measurement');
    is(scalar @{ $q2->{stderr} }, 0, 'and logs nothing (connection_time does)');
    # connection_time's own line (another value) pairs with it and wins
    my $log2 = "$dir/conn2.log";
    spew($log2, sprintf("\@40000000%08x%08x %d (post-connection) connection_time: 7.250 s.\n",
        int(Time::HiRes::time()) + 10, 500, $$));
    is($s2->import_logs($log2), 0, 'importing connection_time\'s line adds nothing');
    my $cs2 = $s2->aggregate->conn_stats;
    is($cs2->{timed}, 1, 'still one connection time');
    ok(abs($cs2->{max} - 7.25) < 0.001, "the log's value replaced the plugin's ($cs2->{max} s)");
    ($from_log) = Qpstat::Agg->new->add_file($log2)->report(format => 'csv', by => 'connection-time');
    is($s2->report(format => 'csv', by => 'connection-time'), $from_log, 'store and log agree after the import');
}

# --- the accept of a forkserver child, hosts_allow's denial, the parent's waits
{
    my $max = sub { Qpstat::Plugin::forkserver_max_conn(join "\0", @_) };
    is($max->(qw(/usr/bin/perl -Tw /usr/bin/qpsmtpd-forkserver -l 127.0.0.1 -p 2525 -c 40 -m 0)), 40, 'forkserver -c 40');
    is($max->(qw(perl /usr/bin/qpsmtpd-forkserver --limit-connections=7)), 7, 'forkserver --limit-connections=7');
    is($max->(qw(perl /usr/bin/qpsmtpd-forkserver -p 25)), 15, 'forkserver default: 15');
    is($max->(qw(perl /usr/bin/qpsmtpd-prefork --children 4)), undef, 'not a forkserver: unknown');
    is($max->(qw(perl /usr/bin/qpsmtpd-forkserver --bogus)), undef, 'an option the forkserver would refuse: unknown');

    my $adb = "$dir/accept.db";
    my ($p, $q) = load_plugin(db => $adb);
    $p->{_qpstat}{max_conn} = 40;    # as register finds it in a forkserver
    require Socket;
    my $me = Socket::inet_aton('127.0.0.9');
    # the parent: three children running, one of them from 127.0.0.9
    run_hook($p, $q, 'pre-connection', undef, remote_ip => '127.0.0.9', max_conn_ip => 5,
        child_addrs => [$me, Socket::inet_aton('127.0.0.2'), Socket::inet_aton('127.0.0.3')]);
    pipe my $r, my $w or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        local $ENV{TCPREMOTEIP} = '127.0.0.9';
        local $ENV{TCPREMOTEHOST} = 'client.example';
        run_hook($p, $q, 'connect', tx());
        my $none = Qpstat::Store->open($adb, create => 1)->aggregate->conn_stats->{accepted};
        run_hook($p, $q, 'queue', tx());
        run_hook($p, $q, 'ok', tx(), 'queue::maildir', OK, 'Queued!');
        run_hook($p, $q, 'post-connection', tx());
        print {$w} join("\n", $none, @{ $q->{stderr} }), "\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my ($none, @lines) = map { chomp; $_ } <$r>;
    waitpid $pid, 0;
    is($none, 0, 'the accept waits for the connection\'s first record');
    my $s = Qpstat::Store->open($adb);
    my $cs = $s->aggregate->conn_stats;
    is($cs->{accepted}, 1, 'the forkserver child records its accept');
    is($cs->{peak}, 4, 'with the connections running before it (3/40: peak 4)');
    is($cs->{limit}, 40, 'and the limit');
    is($cs->{queue_accepted}, 1, 'with the queued record and the queue\'s acceptance');
    is($s->info->{transactions}, 1, 'one transaction');
    # the log: the forkserver's accept line, the plugin's lines, the reply
    my $t = int(Time::HiRes::time()) + 10;
    my @log = ("$pid Accepted connection 3/40 from 127.0.0.9 / client.example", @lines, "$pid 250 Queued! <x\@y>");
    spew("$dir/accept.log", join '', map { sprintf "\@40000000%08x%08x %s\n", $t, 500, $_ } @log);
    is($s->import_logs("$dir/accept.log"), 0, 'importing the log adds nothing');
    my ($cl) = Qpstat::Agg->new->add_file("$dir/accept.log")->report(format => 'csv', by => 'connections');
    is($s->report(format => 'csv', by => 'connections'), $cl, 'connections: store = log');

    # the parent: hosts_allow refuses a sixth connection from 127.0.0.9
    my $hdb = "$dir/hosts_allow.db";
    my ($hp, $hq) = load_plugin(db => $hdb);
    run_hook($hp, $hq, 'pre-connection', undef, remote_ip => '127.0.0.9', max_conn_ip => 5,
        child_addrs => [($me) x 5]);
    run_hook($hp, $hq, 'deny', FakeQP::Transaction->new(header => undef), 'hosts_allow', DENYSOFT,
        'too many connections from 127.0.0.9, try again later');
    my $hs = Qpstat::Store->open($hdb);
    my $hc = $hs->aggregate->conn_stats;
    is($hc->{hosts_allow}, 1, 'hosts_allow\'s denial is counted (its terse record)');
    my @hl = (sprintf('%d (pre-connection) hosts_allow: fail: too many connections from 127.0.0.9 (6 > 5)', $$),
        grep { /logterse/ } @{ $hq->{stderr} });
    spew("$dir/hosts_allow.log", join '', map { sprintf "\@40000000%08x%08x %s\n", $t, 500, $_ } @hl);
    # the terse record is the plugin's count of the denial; hosts_allow's own line comes with the import
    is($hs->import_logs("$dir/hosts_allow.log"), 1, 'importing hosts_allow\'s line and the terse line adds only the former');
    is($hs->info->{transactions}, 1, 'the terse line is not stored twice');
    ($cl) = Qpstat::Agg->new->add_file("$dir/hosts_allow.log")->report(format => 'csv', by => 'connections');
    is($hs->report(format => 'csv', by => 'connections'), $cl, 'connections: store = log');
    run_hook($hp, $hq, 'deny', FakeQP::Transaction->new(header => undef), 'hosts_allow', DENY, 'Sorry, you are blocked');
    is($hs->aggregate->conn_stats->{hosts_allow}, 2, 'a hosts_allow file rule counts too (logterse records it)');

    # the parent's "Too many connections" waits, seen through warn()
    my $wdb = "$dir/waits.db";
    my ($wp, $wq) = load_plugin(db => $wdb);
    $wp->{_qpstat}{max_conn} = 2;
    my @seen;
    local $SIG{__WARN__} = sub { push @seen, @_ };
    Qpstat::Plugin::_watch_waits($wp);
    my $wait = "$$ Too many connections: 2 >= 2.  Waiting one second.";
    warn "$wait\n";
    warn "something else\n";
    is_deeply(\@seen, ["$wait\n", "something else\n"], 'warnings still go where they went');
    is(Qpstat::Store->open($wdb)->aggregate->conn_stats->{too_many}, 1, 'the wait is recorded');
}

# --- the real queue plugin's acceptance
{
    my $qdb = "$dir/queue.db";
    my ($p, $q) = load_plugin(db => $qdb);
    is(run_hook($p, $q, 'ok', tx(), 'queue::maildir', OK, 'Queued!'), DECLINED, 'ok hook: DECLINED');
    run_hook($p, $q, 'ok', tx(), 'rcpt_ok', OK, 'fine');              # not a queue plugin
    run_hook($p, $q, 'ok', tx(), 'queue::maildir', DECLINED, 'no');   # not an acceptance
    my $s = Qpstat::Store->open($qdb);
    is($s->aggregate->conn_stats->{queue_accepted}, 1, 'one queue acceptance recorded, nothing else');
    # the log's "250 Queued!" reply of the same process pairs with it
    my $log = "$dir/queue.log";
    spew($log, sprintf("\@40000000%08x%08x %d 250 Queued! <id\@x>\n", int(Time::HiRes::time()) + 10, 500, $$));
    is($s->import_logs($log), 0, 'importing the reply adds nothing');
    is($s->aggregate->conn_stats->{queue_accepted}, 1, 'still one');
    is(scalar @{ $q->{stderr} }, 0, 'nothing logged');
}

# --- a store that does not work: mail flows, one warning per process
sub broken_store_case {
    my ($name, $path, $setup, $teardown) = @_;
    my ($p, $q) = load_plugin(db => $path, busy_ms => 50);
    my @ctx = $setup ? $setup->() : ();
    my @rc;
    push @rc, run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, "no $_") for 1 .. 3;
    push @rc, run_hook($p, $q, 'queue', tx());
    is_deeply(\@rc, [(DECLINED) x 4], "$name: every hook returns DECLINED");
    # the connection ends: records kept for a locked store are given up
    is(run_hook($p, $q, 'post-connection', tx()), DECLINED, "$name: post-connection returns DECLINED");
    my @terse = grep { /logging::logterse: ` / } @{ $q->{stderr} };
    is(scalar @terse, 4, "$name: every terse line is still logged");
    my @warn = grep { / qpstat: cannot record into / } @{ $q->{stderr} };
    is(scalar @warn, 1, "$name: one warning") or diag explain $q->{stderr};
    is($q->{calls}[ (grep { ($q->{calls}[$_][2] // '') eq 'qpstat' } 0 .. $#{ $q->{calls} })[0] // 0 ][0], LOGWARN,
        "$name: at LOGWARN");
    note($warn[0] // '');
    $teardown->(@ctx) if $teardown;
    return ($p, $q);
}

broken_store_case('missing directory', "$dir/no/such/dir/x.db");
{
    my $corrupt = "$dir/corrupt.db";
    spew($corrupt, "this is not a database\n" x 200);
    broken_store_case('corrupt store', $corrupt);
    is(slurp($corrupt), "this is not a database\n" x 200, 'corrupt store: left as it was');
}
{
    my $locked = "$dir/locked.db";
    my $holder = Qpstat::Store->open($locked, create => 1);
    my ($p, $q) = broken_store_case('locked store', $locked, sub { $holder->begin }, sub { $holder->rollback });
    is($holder->info->{transactions}, 0, 'locked store: nothing written meanwhile');
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'after the lock');
    is($holder->info->{transactions}, 1, 'locked store: records again once the lock is gone');
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'after the lock') for 1 .. 2;
    $holder->begin;
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'locked again');
    run_hook($p, $q, 'post-connection', tx());
    $holder->rollback;
    is(scalar(grep { / qpstat: cannot record into / } @{ $q->{stderr} }), 2, 'a new failure after a success warns again');
}
# --- a store locked for a while: records are kept and written later
{
    my $kdb = "$dir/kept.db";
    my $holder = Qpstat::Store->open($kdb, create => 1);
    my ($p, $q) = load_plugin(db => $kdb, busy_ms => 50);
    $holder->begin;
    my $t0 = Time::HiRes::time();
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, "kept $_") for 1 .. 3;
    my $waited = Time::HiRes::time() - $t0;
    $holder->rollback;
    is($holder->info->{transactions}, 0, 'kept: nothing written while the store is locked');
    is(scalar(grep { / qpstat: / } @{ $q->{stderr} }), 0, 'kept: no warning while the records wait');
    note(sprintf 'three hooks waited %.0f ms in all for a store locked with busy_ms 50', $waited * 1000);
    run_hook($p, $q, 'queue', tx());
    is($holder->info->{transactions}, 4, 'kept: the next record brings the three kept ones in');
    # another process holds the lock until told to let it go
    pipe my $lr, my $lw or die;
    pipe my $gr, my $gw or die;
    my $pid = fork // die;
    if (!$pid) {
        close $lr;
        close $gw;
        my $other = Qpstat::Store->open($kdb);
        $other->begin;
        syswrite $lw, "L";
        sysread $gr, my $go, 1;
        $other->rollback;
        POSIX::_exit(0);
    }
    close $lw;
    close $gr;
    sysread $lr, my $ready, 1;
    run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'kept until the end');
    is($holder->info->{transactions}, 4, 'kept: a record waits while another process holds the store');
    syswrite $gw, "G";
    waitpid $pid, 0;
    run_hook($p, $q, 'post-connection', tx());
    is($holder->info->{transactions}, 5, 'kept: post-connection writes the records still kept');
    is(scalar(grep { / qpstat: / } @{ $q->{stderr} }), 0, 'kept: and nothing was given up');
    # the log of these lines adds nothing to the store
    my @lines = grep { /logging::logterse: ` / } @{ $q->{stderr} };
    my $log = "$dir/kept.log";
    my $t = int(Time::HiRes::time());
    spew($log, join '', map { sprintf "\@40000000%08x%08x %s\n", $t + 10, 500, $_ } @lines);
    is($holder->import_logs($log), 0, 'kept: importing their log adds nothing');
    is($holder->info->{transactions}, 5, 'kept: nothing twice');
    # a child that exits (qpsmtpd's timeout) with a record kept stores it at exit
    pipe my $r, my $w or die;
    $pid = fork // die;
    if (!$pid) {
        close $w;
        my $mine = Qpstat::Store->open($kdb);
        $mine->begin;
        run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, 'kept at exit');
        $mine->rollback;
        $mine->close;
        exit 0;    # END blocks run, as after qpsmtpd's "Connection Timed Out"
    }
    close $r;
    close $w;
    waitpid $pid, 0;
    is($holder->info->{transactions}, 6, 'kept: a process ending with a kept record stores it at exit');
    is(scalar(grep { / qpstat: / } @{ $q->{stderr} }), 0, 'kept: the parent keeps none of its child\'s records');
    run_hook($p, $q, 'post-connection', tx());
    is($holder->info->{transactions}, 6, 'kept: the parent does not store its child\'s record again');
}
SKIP: {
    skip 'root writes read-only files', 4 if $> == 0;
    my $ro = "$dir/ro.db";
    Qpstat::Store->open($ro, create => 1)->close;
    chmod 0444, $ro;
    broken_store_case('read-only store', $ro);
}

# --- fork: the parent keeps no handle open; a child opens its own
{
    my $fdb = "$dir/fork.db";
    my ($p, $q) = load_plugin(db => $fdb);
    run_hook($p, $q, 'deny', tx(), 'hosts_allow', DENY, 'in the parent');
    ok(!$p->{_qpstat}{store}, 'the process that loaded the plugin keeps no store handle open');
    pipe my $r, my $w or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, "child $_") for 1 .. 3;
        my $kept = $p->{_qpstat}{store} && $p->{_qpstat}{store_pid} == $$ ? 1 : 0;
        print {$w} join("\n", $kept, grep { /qpstat:/ } @{ $q->{stderr} }), "\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    my @out = <$r>;
    waitpid $pid, 0;
    is($out[0], "1\n", 'a child keeps its own handle for its connection');
    is(scalar @out, 1, 'and has nothing to warn about');
    run_hook($p, $q, 'deny', tx(), 'hosts_allow', DENY, 'in the parent again');
    is(Qpstat::Store->open($fdb)->info->{transactions}, 5, 'parent and child records are all there');
}

# --- the cost of a record (reported, not asserted)
{
    my ($p, $q) = load_plugin(db => "$dir/speed.db");
    run_hook($p, $q, 'deny', tx(), 'warmup', DENY, 'x');
    my $pid = fork // die;
    if (!$pid) {    # a child: the handle stays open, as in a forkserver connection
        my $t0 = Time::HiRes::time();
        run_hook($p, $q, 'deny', tx(), 'badrcptto', DENY, "n $_") for 1 .. 200;
        printf "# %.2f ms per terse line logged and recorded (child process, handle kept)\n",
          (Time::HiRes::time() - $t0) * 1000 / 200;
        POSIX::_exit(0);
    }
    waitpid $pid, 0;
    my $s = Qpstat::Store->open("$dir/speed.db", readonly => 1);
    is($s->info->{transactions}, 201, 'all 200 (and the warm-up) are in the store');
}

done_testing;
