package Qpstat::Plugin;

use strict;
use warnings;

use Time::HiRes ();

our $VERSION = '0.1.0';

# Values of Qpsmtpd::Constants (fixed by qpsmtpd since 0.2x), so that this
# module loads and is tested without qpsmtpd installed.
use constant { OK => 900, DECLINED => 909, LOGINFO => 6, LOGWARN => 4, LOGALERT => 1 };
my %LOG_LEVEL = (
    LOGDEBUG => 7, LOGINFO => 6, LOGNOTICE => 5, LOGWARN => 4,
    LOGERROR => 3, LOGCRIT => 2, LOGALERT  => 1, LOGEMERG => 0, LOGRADAR => 0,
);
# Records a hook could not store because the store was locked stay in
# memory, this many at most, and go in with the next record or at the
# connection's end.
use constant KEPT_MAX => 1000;
# At the connection's end (the client has its answer) a locked store is
# waited for this many times busy_ms before its kept records are given up.
use constant END_TRIES => 3;

my $FS = "\t";
my %OPTION = map { $_ => 1 } qw(prefix loglevel db name busy_ms);

# register($plugin, $qp, @args): the arguments of the config/plugins line.
sub register {
    my ($plugin, $qp, @args) = @_;
    my %args;
    while (@args) {
        my ($k, $v) = splice @args, 0, 2;
        $args{$k} = $v;
    }
    my $st = $plugin->{_qpstat} = {
        prefix      => '`',
        loglevel    => LOGALERT,
        name        => 'logging::logterse',
        db          => undef,
        busy_ms     => 1000,
        master_pid  => $$,    # the process that loaded the plugins (forkserver/prefork parent)
        warned      => 0,
    };
    $st->{plugin} = $plugin;    # for END (the plugin lives as long as its process)
    # as logging/logterse 1.1
    $st->{prefix} = $1 if defined $args{prefix} && $args{prefix} =~ /^(.+)$/;
    if (defined $args{loglevel}) {
        if ($args{loglevel} =~ /^\d+$/) {
            $st->{loglevel} = $args{loglevel};
        }
        elsif (defined $LOG_LEVEL{ $args{loglevel} }) {
            $st->{loglevel} = $LOG_LEVEL{ $args{loglevel} };
        }
        else {
            $plugin->log(LOGWARN, "unknown loglevel '$args{loglevel}', using LOGALERT");
        }
    }
    # ours
    $st->{name} = $args{name} if defined $args{name} && $args{name} =~ /\A\S+\z/;
    $st->{db}   = $args{db}   if defined $args{db}   && length $args{db};
    $st->{busy_ms} = $args{busy_ms} if defined $args{busy_ms} && $args{busy_ms} =~ /\A[0-9]{1,6}\z/;
    for (sort keys %args) {
        $plugin->log(LOGWARN, "unknown option '$_' ignored") unless $OPTION{$_};
    }
    if ($st->{db}) {
        # the XS module is loaded here, in the parent, once
        eval { require Qpstat::Store; 1 } or do {
            $plugin->log(LOGWARN, "cannot load Qpstat::Store, recording to the log only: $@");
            $st->{db} = undef;
        };
    }
    if ($st->{db}) {
        $st->{max_conn} = forkserver_max_conn();
        _watch_waits($plugin) if defined $st->{max_conn};
    }
    return;
}

# The -c of the qpsmtpd-forkserver this process is (it logs "Accepted
# connection n/M" with it), parsed from its command line as the forkserver
# parses it; undef for any other server or a command line it cannot read.
sub forkserver_max_conn {
    my ($cmdline) = @_;
    unless (defined $cmdline) {
        return undef unless $0 =~ m{(?:\A|/)qpsmtpd-forkserver\z};
        open my $fh, '<', "/proc/$$/cmdline" or return undef;
        local $/;
        $cmdline = <$fh>;
        close $fh;
        return undef unless defined $cmdline;
    }
    my @argv = split /\0/, $cmdline;
    # perl [switches] /usr/bin/qpsmtpd-forkserver [options]
    shift @argv while @argv && $argv[0] !~ m{(?:\A|/)qpsmtpd-forkserver\z};
    return undef unless @argv;
    shift @argv;
    require Getopt::Long;
    my $max = 15;    # the forkserver's default
    my (@any, $flag);
    my $p = Getopt::Long::Parser->new(config => ['no_ignore_case']);
    local $SIG{__WARN__} = sub { };
    $p->getoptionsfromarray(\@argv, 'h|help' => \$flag, 'l|listen-address=s' => \@any,
        'c|limit-connections=i' => \$max, 'm|max-from-ip=i' => \$flag, 'p|port=s' => \@any,
        'u|user=s' => \$flag, 'pid-file=s' => \$flag, 'd|detach' => \$flag, 'H|no-rdns' => \$flag)
      or return undef;
    return $max =~ /\A[0-9]+\z/ ? $max : undef;
}

# The forkserver's parent logs its "Too many connections" waits through
# warn() (qpsmtpd's built-in logger) and runs no hook meanwhile: a warn
# handler sees the line, records it, and prints it as warn would have.
sub _watch_waits {
    my ($plugin) = @_;
    my $st   = $plugin->{_qpstat};
    my $prev = $SIG{__WARN__};
    $SIG{__WARN__} = sub {
        my ($msg) = @_;
        if ($$ == $st->{master_pid} && defined $msg && $msg =~ /\A(\d+ Too many connections: \d+ >= \d+\.  Waiting one second\.)\n\z/) {
            my $line = $1;
            eval { _record($plugin, $line); 1 };
        }
        if (ref $prev eq 'CODE') { $prev->(@_) }
        else                     { print STDERR @_ }
    };
    return;
}

# Would qpsmtpd's logger print a line of this level?
sub _logged {
    my ($plugin, $level) = @_;
    my $qp = $plugin->qp;
    no warnings 'once';
    my $trace = $qp && $qp->can('trace_level') ? $qp->trace_level : $Qpsmtpd::TraceLevel;
    return !defined $trace || $level <= $trace;
}

# hook_deny: logterse's record of a denial.
sub deny {
    my ($plugin, $transaction, $prev_plugin, $retval, $return_text) = @_;
    _accept_fact($plugin) if $plugin->{_qpstat}{pre};
    my $disposition = join($FS, $prev_plugin // '', $retval // '', $return_text // '');
    return _log_terse($plugin, $transaction, $disposition);
}

# hook_queue: logterse's record of a queued message. It goes into the
# store with the queue's acceptance (hook_ok), in one transaction.
sub queue {
    my ($plugin, $transaction) = @_;
    my $header = $transaction ? $transaction->header : undef;
    my $msg_id = ($header ? $header->get('Message-Id') : undef) || '';
    $msg_id =~ s/[\r\n].*//s;                             # don't allow newlines in the Message-Id here
    $msg_id = "<$msg_id>" unless $msg_id =~ /^<.*>$/;    # surround in <>'s
    return _log_terse($plugin, $transaction, "queued$FS$FS$msg_id", 1);
}

# The fields of logterse 1.1, byte for byte: the five connection and
# envelope values with TABs replaced, the disposition as it is, the spam
# field. Returns the text after the prefix.
sub terse_text {
    my ($plugin, $transaction, $disposition) = @_;
    my $conn = $plugin->qp ? $plugin->qp->connection : undef;
    my $recipients  = join(',', $transaction ? $transaction->recipients : ());
    my $remote_ip   = ($conn ? $conn->remote_ip : undef)   || '';
    my $remote_host = ($conn ? $conn->remote_host : undef) || '';
    my $hello_host  = ($conn ? $conn->hello_host : undef)  || '';
    my $tx_sender   = ($transaction ? $transaction->sender : undef) || '';
    my $spamscore   = 'msg denied before queued';
    if (substr($disposition, 0, 6) =~ 'queued|spamas') {
        my $header = $transaction ? $transaction->header : undef;
        $spamscore = ($header ? $header->get('X-Spam-Status') : undef) || '';
        # just pull out scores (logterse 1.1's arithmetic: without "tests",
        # index() is -1 and the last two characters go)
        $spamscore = substr($spamscore, 0, index($spamscore, 'tests') - 1);
        $spamscore =~ s/\n/_/g;
    }
    my @fields = map { my $v = "$_"; $v =~ s/$FS/_/g; $v } $remote_ip, $remote_host, $hello_host, $tx_sender,
      $recipients;
    return join($FS, @fields, $disposition, $spamscore);
}

# The line qpsmtpd's built-in logger writes for a plugin's log call
# (Qpsmtpd::varlog in 0.93+): "$$ ($hook) $plugin: @msg".
sub stderr_line {
    my ($hook, $name, @msg) = @_;
    my $prefix = defined $hook ? " ($hook) $name:" : " $name:";
    return join(' ', $$ . $prefix, @msg);
}

sub _log_terse {
    my ($plugin, $transaction, $disposition, $later) = @_;
    my $st   = $plugin->{_qpstat};
    my $text = terse_text($plugin, $transaction, $disposition);
    my $hook = $plugin->hook_name;
    # Plugin::log would print our own plugin name: qpsmtpd prints the name
    # it is given, so name the plugin logterse's (or the configured) name.
    $plugin->qp->varlog($st->{loglevel}, $hook, $st->{name}, $st->{prefix}, $text);
    _record($plugin, stderr_line($hook, $st->{name}, $st->{prefix}, $text), $later) if $st->{db};
    return DECLINED;
}

# hook_pre_connection (forkserver/prefork: runs before the child is forked,
# so the child inherits the time and the connections running) and
# hook_connect
# (tcpserver mode; in a forkserver child, the accept qpsmtpd logged).
sub connection_start {
    my ($plugin, %args) = @_;
    my $st = $plugin->{_qpstat} or return DECLINED;
    my $hook = $plugin->hook_name // '';
    _accept_fact($plugin) if $st->{pre};
    if ($hook eq 'pre-connection') {
        my @children = ref $args{child_addrs} eq 'ARRAY' ? @{ $args{child_addrs} } : ();
        $st->{conn_start} = Time::HiRes::time();
        $st->{pre} = { pid => $$, running => scalar @children, time => $st->{conn_start} };
        return DECLINED;
    }
    return DECLINED if $hook eq 'connect' && $st->{conn_start};
    $st->{conn_start} = Time::HiRes::time();
    return DECLINED;
}

# In a forkserver child, at its first hook (connect, or the deny of a
# connect plugin before ours): the "Accepted connection n/M from IP /
# HOST" line the forkserver logged after the fork, timed at the fork and
# kept to go into the store with the connection's first record.
sub _accept_fact {
    my ($plugin) = @_;
    my $st  = $plugin->{_qpstat};
    my $pre = $st->{pre};
    return unless $pre && $pre->{pid} != $$;
    delete $st->{pre};
    return unless $st->{db} && defined $st->{max_conn} && $pre->{pid} == getppid() && _logged($plugin, LOGINFO);
    my ($ip, $host) = ($ENV{TCPREMOTEIP} // '', $ENV{TCPREMOTEHOST} // '');
    _record($plugin, "$$ Accepted connection $pre->{running}/$st->{max_conn} from $ip / $host", 1, $pre->{time});
    return;
}

# hook_ok: the real queue plugin accepted the message (logterse's "queued"
# is written before the queue plugin runs). Stored as the reply qpsmtpd
# then logs, "250 Queued!", which an import of the log pairs with it.
sub queue_ok {
    my ($plugin, $transaction, $prev_plugin, $rc) = @_;
    my $st = $plugin->{_qpstat} or return DECLINED;
    return DECLINED unless $st->{db} && defined $prev_plugin && $prev_plugin =~ /^queue::/ && defined $rc && $rc == OK;
    _record($plugin, "$$ 250 Queued! (by $prev_plugin)");    # with the queued record kept
    return DECLINED;
}

# hook_post_connection: the connection's time. One rule, whatever the
# set-up: a connection time is a line of the log, and the store holds the
# same. Without the connection_time plugin (stock Debian) this plugin logs
# the line connection_time would ("(post-connection) connection_time:
# N.NNN s.", at its own loglevel) and records it; with connection_time
# loaded, it records its own measurement of the same connection, which
# `qpstat import` pairs with connection_time's line (same process), the
# logged value replacing it. Then every record still kept goes in: the
# client has its answer, so a locked store is waited for END_TRIES times
# busy_ms before they are given up.
sub connection_end {
    my ($plugin) = @_;
    my $st = $plugin->{_qpstat} or return DECLINED;
    _accept_fact($plugin) if $st->{pre};
    my $start = delete $st->{conn_start};
    if ($start && $st->{db}) {
        my $text = sprintf '%.3f s.', Time::HiRes::time() - $start;
        my $line;
        if (_has_connection_time_plugin($plugin)) {
            $line = stderr_line('post-connection', 'connection_time', $text) if _logged($plugin, LOGINFO);
        }
        else {
            $plugin->qp->varlog($st->{loglevel}, 'post-connection', 'connection_time', $text);
            $line = stderr_line('post-connection', 'connection_time', $text) if _logged($plugin, $st->{loglevel});
        }
        _record($plugin, $line, 1) if $line;
    }
    _flush($plugin, END_TRIES, 1) if $st->{db};
    return DECLINED;
}

sub _has_connection_time_plugin {
    my ($plugin) = @_;
    my $st = $plugin->{_qpstat};
    return $st->{conn_time_plugin} if defined $st->{conn_time_plugin};
    my $hooks = eval { $plugin->qp->hooks };
    my $list  = ref $hooks eq 'HASH' ? $hooks->{'post-connection'} : undef;
    return $st->{conn_time_plugin} =
      (ref $list eq 'ARRAY' && grep { ref $_ eq 'HASH' && ($_->{name} // '') =~ /^connection_time/ } @$list) ? 1 : 0;
}

# Every plugin state of this process, for the records still kept at exit.
my @STATES;

# Into the store, never failing: the line and its time join the records
# kept, and all of them go in at once (one transaction, one wait of at most
# busy_ms for the lock). A locked store keeps them for the next hook; a
# store that is missing, read-only or broken drops them. Records given up
# cost one warning per process (again after a success); their lines stay
# in the log for `qpstat import`.
sub _record {
    my ($plugin, $line, $later, $time) = @_;
    my $st = $plugin->{_qpstat};
    _kept($st);
    if (@{ $st->{kept} } < KEPT_MAX) {
        push @{ $st->{kept} }, [$line, $time // Time::HiRes::time()];
    }
    else {
        _give_up($plugin, $st, 'more than ' . KEPT_MAX . ' records wait for a locked store', 1);
    }
    # kept for the next record of the connection (one transaction for
    # both), except in the parent, whose next record may never come
    return 1 if $later && $$ != $st->{master_pid};
    return _flush($plugin, 1);
}

# The records kept by this process (a forked child drops its parent's:
# the parent stores them itself).
sub _kept {
    my ($st) = @_;
    if (($st->{kept_pid} // 0) != $$) {
        $st->{kept}     = [];
        $st->{kept_pid} = $$;
        push @STATES, $st unless grep { $_ == $st } @STATES;
    }
    return $st->{kept};
}

# Writes the kept records, trying up to $tries times; true when none is
# left. What a locked store leaves is kept, unless $last.
sub _flush {
    my ($plugin, $tries, $last) = @_;
    my $st   = $plugin->{_qpstat};
    my $kept = _kept($st);
    return 1 unless @$kept && $st->{db};
    my ($ok, $err);
    for (1 .. $tries) {
        $ok = eval {
            my $store = _store($st);
            if (@$kept == 1) {
                $store->record_line($kept->[0][0], time => $kept->[0][1], source => 'plugin');
            }
            else {
                $store->begin;
                my $done = eval {
                    $store->record_line($_->[0], time => $_->[1], source => 'plugin') for @$kept;
                    $store->commit;
                    1;
                };
                unless ($done) {
                    my $e = $@;
                    eval { $store->rollback };
                    die $e;
                }
            }
            1;
        };
        $err = $@;
        last if $ok || !_is_busy($err);
    }
    # The process that forks the connections keeps no handle open: a child
    # must never inherit one.
    _close($st) if $$ == $st->{master_pid};
    if ($ok) {
        @$kept = ();
        $st->{warned} = 0;
        return 1;
    }
    _close($st);
    _give_up($plugin, $st, $err) if $last || !_is_busy($err);
    return 0;
}

sub _is_busy { ($_[0] // '') =~ /database (?:table )?is locked|\bbusy\b/i }

# Drops the kept records (all, or with $new only the one arriving) and
# warns once.
sub _give_up {
    my ($plugin, $st, $err, $new) = @_;
    @{ $st->{kept} } = () unless $new;
    return if $st->{warned};
    $st->{warned} = 1;
    $err =~ s/ at \S+ line \d+(?:, <[^>]*> (?:line|chunk) \d+)?\.?\n?\z//;
    $err =~ s/\s+\z//;
    $err =~ s/\AQpstat::Store::\w+: (?:\Q$st->{db}\E: )?//;
    eval { $plugin->log(LOGWARN, "cannot record into $st->{db} (the line stays in the log for 'qpstat import'): $err"); 1 };
    return;
}

# A process that ends with records kept (a connection cut short by
# qpsmtpd's timeout exits without post-connection) tries once more.
END {
    for my $st (@STATES) {
        next unless ($st->{kept_pid} // 0) == $$ && @{ $st->{kept} || [] } && $st->{plugin};
        local $?;
        eval { _flush($st->{plugin}, END_TRIES, 1); 1 };
    }
}

# The store handle of this process: opened on first use, again after fork.
sub _store {
    my ($st) = @_;
    return $st->{store} if $st->{store} && $st->{store_pid} == $$;
    # a handle inherited from the parent is dropped without closing it
    $st->{store} = undef;
    $st->{store} = Qpstat::Store->open($st->{db}, create => 1, busy_ms => $st->{busy_ms}, prefix => $st->{prefix});
    $st->{store_pid} = $$;
    return $st->{store};
}

sub _close {
    my ($st) = @_;
    my $store = delete $st->{store} or return;
    eval { $store->close if $st->{store_pid} == $$; 1 };
    return;
}

1;

__END__

=head1 NAME

Qpstat::Plugin - the logic of the qpsmtpd plugin C<plugins/qpstat>

=head1 SYNOPSIS

In qpsmtpd's C<config/plugins>, where C<logging/logterse> was:

    qpstat db /var/lib/qpstat/qpstat.db

The plugin file C<plugins/qpstat> is a shim whose hooks call the functions
below with the qpsmtpd plugin object, and return C<DECLINED>.

=head1 DESCRIPTION

A drop-in for C<logging/logterse> 1.1 (the SME Server version): it writes
the same terse line, byte for byte, under the same name
C<logging::logterse>, so every script that selects C</logterse/> keeps
working; and it records each line at once into the qpstat store, so
statistics are live. It observes and never decides.

The functions take the qpsmtpd plugin object (anything with C<qp>,
C<hook_name> and C<log>, whose C<qp> has C<connection>, C<varlog> and
C<hooks>) and keep their state in C<< $plugin->{_qpstat} >>.

=head2 register

    Qpstat::Plugin::register($plugin, $qp, @args);

Reads the arguments as logterse does: C<prefix> (default C<`>) and
C<loglevel> (default C<LOGALERT>; digits as they are, else a level name);
and C<db PATH> (the store; default none: the terse line only), C<name NAME>
(the plugin name printed before the line; default C<logging::logterse>),
C<busy_ms N> (how long a record may wait for a store locked by another
process, default 1000).

=head2 deny, queue

    Qpstat::Plugin::deny($plugin, $transaction, $prev_plugin, $retval, $return_text);
    Qpstat::Plugin::queue($plugin, $transaction);

C<hook_deny> and C<hook_queue> of logterse 1.1: log the terse line, then
record it (see L</STORE>). Return C<DECLINED>.

=head2 connection_start, connection_end, queue_ok

C<hook_pre_connection>/C<hook_connect> note when the connection began (and,
in a forkserver, the connections running then); C<hook_ok> notes that the
real queue plugin accepted the message; C<hook_post_connection> records
the connection's time and writes every record still kept (see
L</WHAT IS RECORDED>).

=head2 terse_text, stderr_line

    my $text = Qpstat::Plugin::terse_text($plugin, $transaction, $disposition);
    my $line = Qpstat::Plugin::stderr_line($hook, $name, $prefix, $text);

The fields after the prefix, and the line qpsmtpd's built-in logger prints
(C<"$$ ($hook) $name: $prefix $text">); exposed for tests and scripts.

=head1 WHAT IS RECORDED

With C<db>, each record is the line qpsmtpd's logger prints for it (as
C<stderr_line> builds it), timed when the plugin saw it, and stored with
source C<plugin>. One rule for all of them: the store holds a line of the
log, the same line C<qpstat import> reads later, so C<qpstat report --db>
equals C<qpstat report> over the logs for every table once an import has
run, and for every table below before any import.

=over 4

=item a denial (C<hook_deny>)

The terse line, at once (with the accept below, in one transaction). In
the forkserver or prefork parent this is a C<hosts_allow> denial; the
parent writes each record at once and closes the store after it, so no
child inherits an open handle.

=item a queued message (C<hook_queue>, C<hook_ok>)

The terse line is logged before the queue plugin runs; its record waits
for the queue plugin's answer and goes in with C<250 Queued! (by
queue::...)> in one transaction when that plugin returned OK (the log's
C<250 Queued> reply, which counts as C<queue_accepted>). A queue plugin
that failed leaves the record alone, written at the connection's end.

=item the accept (forkserver)

C<Accepted connection n/M from IP / HOST>, the line qpsmtpd-forkserver
logs after the fork, timed at C<hook_pre_connection> with n = the
connections running then and M = its C<-c> (read from its command line).
It waits for the connection's first record. Recorded only under
qpsmtpd-forkserver, when its command line can be read and qpsmtpd logs at
LOGINFO or more: elsewhere the log has no such line.

=item the forkserver's waits

C<Too many connections: N E<gt>= N.  Waiting one second.>, which the
parent logs through C<warn> while every slot is busy: a C<__WARN__> handler
records it in the parent and prints it as before.

=item the connection's time (C<hook_post_connection>)

The same for every set-up: the store holds the connection-time line of
the log. Without the C<connection_time> plugin (Debian's stock
configuration) the log would have none, so this plugin logs the line
C<connection_time> would (C<(post-connection) connection_time: N.NNN s.>,
at its own C<loglevel>, LOGALERT unless set) and records it. With
C<connection_time> loaded (SME), that plugin logs the line and this one
records its own measurement of the same connection (when LOGINFO is
logged), which C<qpstat import> replaces with the logged value. Then every
record still kept goes in: the client has its answer, so a locked store is
waited for up to three times C<busy_ms>.

=back

A connection cut short (qpsmtpd's timeout exits without post-connection)
writes its kept records when the process exits. Nothing else is recorded:
lines of other plugins are left to C<qpstat import>.

=head1 PAIRING WITH THE LOG

Each record is in the log too, and C<qpstat import>, C<collect>, C<check
--fix> and multilog's C<qpstat processor --db> bring the log into the same
store. The two copies of one record are I<twins> and count once:

=over 4

=item *

A terse record's twin has the same pid and the same fields, from the other
source, within 30 seconds, and is not paired yet; two equal records of one
connection (a client refused twice for one recipient) pair with two
logged ones. Whichever copy comes second is not stored.

=item *

A connection fact's twin (accept, wait, connection time, the queue's OK)
has the same kind and pid within 30 seconds. When the log's copy comes
second, its values replace the plugin's (the logged connection time, the
logged n/M), so after an import the store holds what the log says.

=item *

The store remembers how far the imported rows reach (meta
C<imported_until>); a live record whose 30-second window starts above it
has no logged twin to look for, and skips the search. That is the common
case (logs imported at rotation or from cron, the plugin ahead of them),
and keeps a record's cost flat whatever the store's size.

=back

Records the plugin could not store (a store missing, read-only, broken,
or locked longer than C<busy_ms>) cost one warning per process (again
after a success); their lines stay in the log, and the next import adds
them, once.

=head1 STORE

Each process opens its own store handle on first use (a forked child
never uses its parent's). The process that loaded the plugins (the
forkserver or prefork parent) closes the handle after each record, so no
child inherits an open SQLite handle. Records of one connection that can
wait (the accept, a queued message until its queue's answer, the
connection time) go in together with the next one, in one transaction.

When the store is missing, locked, read-only or broken, the mail goes on
unchanged, one warning is logged per process (again after a success), and
the line stays in the log: C<qpstat import> adds it later, and a record the
plugin did store is not counted twice.

=head1 SEE ALSO

C<plugins/qpstat>, L<Qpstat::Store>, C<qpstat import> in L<qpstat(1)>.

=cut
