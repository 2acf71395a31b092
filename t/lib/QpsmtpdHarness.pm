package QpsmtpdHarness;
# t/lib/QpsmtpdHarness.pm - run Debian's qpsmtpd 0.94 forkserver on loopback
# for the integration tests (t/600-qpsmtpd.t, t/610-qpsmtpd-concurrency.t)
# and the throughput benchmark (bench/qpsmtpd-throughput.sh).
#
# It installs nothing (scripts/deps.sh does): it checks what it needs and
# says what is missing. One harness object = one temporary directory with
#   config/     QPSMTPD_CONFIG (plugins, plugin_dirs, spool_dir, me, ...)
#   spool/      spool_dir (mode 0700)
#   maildir/    for queue/maildir (cur new tmp)
#   log/        the multilog directory (`multilog t s16777215 n20 <tmp>/log`)
# and one process group holding multilog, qpsmtpd-forkserver (and its
# children) and the optional fake spamd. A separate watchdog process kills
# that group when the test process disappears (even by SIGKILL) or when the
# harness lifetime is over; an END block kills it on any normal or failing
# exit. Everything listens on 127.0.0.1 only and every wait is bounded.
#
# Forked helpers (parallel clients) must leave with POSIX::_exit so that
# they do not run this END block (use QpsmtpdHarness::run_children).
use strict;
use warnings;
use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
# the tests' one binary lookup and slurp; required, not imported: a live
# server's tests keep the real clock and zone
require QpstatTest;

our $REPO = abs_path(dirname(__FILE__) . '/../..');
our $FORKSERVER = $ENV{QPSMTPD_FORKSERVER} || '/usr/bin/qpsmtpd-forkserver';
our $QP_PERL5   = $ENV{QPSMTPD_PERL5} || '/usr/share/perl5';
our $QP_PLUGINS = $ENV{QPSMTPD_PLUGINS} || '/usr/share/qpsmtpd/plugins';
our $VERBOSE    = $ENV{QPSTAT_HARNESS_VERBOSE} || 0;

my %LIVE;    # id -> harness, for END

sub note_ { print STDERR "# harness: @_\n" if $VERBOSE }

# ---------------------------------------------------------------- prerequisites

sub which {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} || '/usr/bin:/bin') {
        return "$d/$prog" if -x "$d/$prog" && !-d _;
    }
    return;
}

# Returns a list of human-readable problems; empty when qpsmtpd can be run.
sub prereq_problems {
    my @p;
    push @p, "$FORKSERVER not found (Debian package qpsmtpd)" unless -f $FORKSERVER;
    push @p, "$QP_PLUGINS not found (Debian package qpsmtpd)" unless -d $QP_PLUGINS;
    push @p, "multilog not found (Debian package daemontools)" unless which('multilog');
    push @p, "swaks not found (Debian package swaks)"          unless which('swaks');
    for my $m (['Net::DNS', 'libnet-dns-perl'], ['Mail::Header', 'libmailtools-perl']) {
        system($^X, "-I$QP_PERL5", "-M$m->[0]", '-e1') == 0 or push @p, "Perl module $m->[0] missing ($m->[1])";
    }
    push @p, "$REPO/csrc/qpstat not built (perl Makefile.PL && make)" unless QpstatTest::qpstat_bin();
    return @p;
}

# qpsmtpd-forkserver looks up the PTR name of every client (Net::DNS, 3 s
# timeout; -H has no effect in 0.94). Returns the seconds one such lookup of
# 127.0.1.10 takes here, so that a test can say why it is slow.
sub dns_probe_seconds {
    my $code = 'use Net::DNS; use Time::HiRes qw(time); my $t = time; my $r = Net::DNS::Resolver->new(dnsrch => 0);'
        . ' $r->tcp_timeout(3); $r->udp_timeout(3); $r->query("127.0.1.10", "PTR"); printf "%.3f\n", time - $t';
    my $r = capture_cmd(20, {}, $^X, "-I$QP_PERL5", '-e', $code);
    return $r->{exit} == 0 && $r->{stdout} =~ /^([\d.]+)/ ? $1 : 99;
}

sub diag_slow_dns {
    my $s = dns_probe_seconds();
    diag_once(sprintf "PTR lookups take %.1f s here (qpsmtpd makes one per connection): expect a slow test", $s)
        if $s > 0.5;
    return $s;
}

# True when the store-writing plugin can be used: plugins/qpstat exists and
# `perl -Mblib -MQpstat::Store -e1` works (run in the repository). Returns
# (ok, reason).
sub qpstat_plugin_status {
    return (0, "plugins/qpstat does not exist yet") unless -f "$REPO/plugins/qpstat";
    my $out = capture_cmd(60, { cwd => $REPO }, $^X, '-Mblib', '-MQpstat::Store', '-e1');
    return (0, "perl -Mblib -MQpstat::Store -e1 fails: " . ($out->{stderr} =~ s/\s+\z//r))
        if $out->{exit} != 0;
    return (1, 'plugins/qpstat and Qpstat::Store available');
}

# ---------------------------------------------------------------- construction

sub new {
    my ($class, %o) = @_;
    my $keep = $ENV{QPSTAT_KEEP_TMP} ? 1 : 0;
    my $name = $o{name} || 'qps';
    my $tmp  = File::Temp::tempdir("qpstat-$name-XXXXXX", TMPDIR => 1, CLEANUP => !$keep);
    my $self = bless {
        tmp      => $tmp,
        lifetime => $o{lifetime} || 600,
        procs    => {},
        parent   => $$,
        id       => "$tmp",
    }, $class;
    # When started as root qpsmtpd drops to a user (-u); the Debian package
    # creates "qpsmtpd". Everything it writes lives under $tmp.
    if ($> == 0) {
        my @pw = getpwnam($o{user} || 'qpsmtpd');
        @pw = getpwnam('nobody') unless @pw;
        croak "no user to run qpsmtpd as (qpsmtpd or nobody)" unless @pw;
        @{$self}{qw(user uid gid)} = ($pw[0], $pw[2], $pw[3]);
    }
    else {
        @{$self}{qw(user uid gid)} = ((getpwuid $>)[0], $>, $) + 0);
    }
    chmod 0755, $tmp;
    $self->own($tmp);
    note_("tmp $tmp (kept: $keep), qpsmtpd runs as $self->{user}");
    diag_once("temporary files kept in $tmp") if $keep;
    $LIVE{$self->{id}} = $self;
    return $self;
}

sub tmp     { $_[0]{tmp} }
sub logdir  { "$_[0]{tmp}/log" }
sub confdir { "$_[0]{tmp}/config" }
sub maildir { "$_[0]{tmp}/maildir" }
sub port    { $_[0]{port} }
sub user    { $_[0]{user} }

sub own {
    my ($self, @paths) = @_;
    return unless $> == 0;
    chown $self->{uid}, $self->{gid}, @paths;
}

my %DIAGGED;
sub diag_once {
    my ($msg) = @_;
    return if $DIAGGED{$msg}++;
    print STDERR "# $msg\n";
}

# A free TCP port on 127.0.0.1 (bind to 0, read, close).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "cannot bind 127.0.0.1:0: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub write_file {
    my ($path, $content, $mode) = @_;
    make_path(dirname($path));
    open my $fh, '>:raw', $path or croak "cannot write $path: $!";
    print $fh $content;
    close $fh or croak "cannot write $path: $!";
    chmod $mode, $path if defined $mode;
    return $path;
}

# ---------------------------------------------------------------- configuration

# write_config(plugins => [lines], files => {name => content}, plugin_dirs => [extra dirs])
# Writes QPSMTPD_CONFIG. Defaults: me, rcpthosts (example.com), loglevel 6,
# spool_dir (0700), plugin_dirs = Debian's plugins + the repository's
# plugins/ + t/data/qpsmtpd/plugins (the reference logging/logterse).
sub write_config {
    my ($self, %o) = @_;
    my $c = $self->confdir;
    make_path($c, $self->maildir . '/cur', $self->maildir . '/new', $self->maildir . '/tmp', $self->logdir);
    make_path("$self->{tmp}/spool");
    chmod 0700, "$self->{tmp}/spool";
    $self->own("$self->{tmp}/spool", $self->maildir, map { $self->maildir . "/$_" } qw(cur new tmp));
    my @dirs = ($QP_PLUGINS, "$REPO/plugins", "$REPO/t/data/qpsmtpd/plugins", @{ $o{plugin_dirs} || [] });
    my %files = (
        me          => "test.example\n",
        rcpthosts   => "example.com\n",
        loglevel    => "6\n",
        spool_dir   => "$self->{tmp}/spool\n",
        plugin_dirs => join('', map {"$_\n"} @dirs),
        %{ $o{files} || {} },
    );
    $files{plugins} = join('', map {"$_\n"} @{ $o{plugins} || croak "write_config: plugins missing" });
    write_file("$c/$_", $files{$_}) for sort keys %files;
    $self->{plugins_text} = $files{plugins};
    return $c;
}

# A template from t/data/qpsmtpd/<name>, with @VAR@ replaced from %vars.
sub template {
    my ($name, %vars) = @_;
    my $t = QpstatTest::slurp("$REPO/t/data/qpsmtpd/$name");
    croak "template t/data/qpsmtpd/$name missing" unless defined $t;
    $t =~ s/\@(\w+)\@/exists $vars{$1} ? $vars{$1} : croak "template $name: no value for \@$1\@"/ge;
    return $t;
}

# ---------------------------------------------------------------- processes

# Forks and execs @cmd in the harness process group. %o: stdin, stdout,
# stderr (file handles or paths), cwd, env (hash), name.
sub spawn {
    my ($self, $o, @cmd) = @_;
    my $pgid = $self->{pgid};
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        eval {
            POSIX::setpgid(0, $pgid || 0);
            for my $fd (['stdin', \*STDIN, '<'], ['stdout', \*STDOUT, '>'], ['stderr', \*STDERR, '>']) {
                my ($k, $fh, $mode) = @$fd;
                next unless exists $o->{$k};
                my $v = $o->{$k};
                if (ref $v) { open $fh, "$mode&", $v or die "dup $k: $!" }
                else        { open $fh, $mode, $v or die "open $k $v: $!" }
            }
            chdir $o->{cwd} or die "chdir $o->{cwd}: $!" if $o->{cwd};
            %ENV = (%ENV, %{ $o->{env} || {} });
            exec { $cmd[0] } @cmd or die "exec $cmd[0]: $!";
        };
        print STDERR "harness child: $@";
        POSIX::_exit(127);
    }
    $pgid ||= $pid;
    POSIX::setpgid($pid, $pgid);    # also from the parent: no race
    $self->{pgid} = $pgid;
    $self->{procs}{$pid} = $o->{name} || $cmd[0];
    $self->start_watchdog;
    return $pid;
}

# A process outside the group that kills the group when the test process
# is gone or the lifetime is over.
sub start_watchdog {
    my ($self) = @_;
    return if $self->{watchdog};
    my ($parent, $pgid, $deadline) = ($$, $self->{pgid}, time + $self->{lifetime});
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        POSIX::setpgid(0, 0);
        $0 = "qpstat-harness-watchdog $pgid";
        $SIG{TERM} = sub { POSIX::_exit(0) };
        open STDIN, '<', '/dev/null';
        POSIX::close($_) for 3 .. 255;    # e.g. the write end of multilog's pipe
        while (1) {
            sleep 1;
            last if getppid() != $parent || !kill(0, $parent) || time > $deadline;
            POSIX::_exit(0) unless kill 0, -$pgid;
        }
        print STDERR "# harness watchdog: killing process group $pgid\n";
        kill 'TERM', -$pgid;
        sleep 2;
        kill 'KILL', -$pgid;
        POSIX::_exit(0);
    }
    $self->{watchdog} = $pid;
}

# Waits up to $timeout seconds for $pid (a child of ours); returns its wait
# status, or undef when it is still running.
sub wait_pid {
    my ($pid, $timeout) = @_;
    my $end = time + $timeout;
    while (1) {
        my $r = waitpid($pid, POSIX::WNOHANG());
        return $? if $r == $pid;
        return -1 if $r == -1;    # not our child / already reaped
        return undef if time > $end;
        sleep 0.05;
    }
}

# Polls $cond->() until true or $timeout seconds passed; returns its value.
sub wait_until {
    my ($timeout, $cond, $step) = @_;
    my $end = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return if time > $end;
        sleep($step || 0.05);
    }
}

# Runs @cmd with a time limit; returns {exit, stdout, stderr, timed_out}.
# exit is the exit status (or 128+signal, or -1 on timeout).
sub capture_cmd {
    my ($timeout, $o, @cmd) = @_;
    my $out = File::Temp->new;
    my $err = File::Temp->new;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if (!$pid) {
        POSIX::setpgid(0, 0);
        open STDIN, '<', ($o->{stdin} || '/dev/null');
        open STDOUT, '>&', $out;
        open STDERR, '>&', $err;
        chdir $o->{cwd} if $o->{cwd};
        %ENV = (%ENV, %{ $o->{env} || {} });
        exec { $cmd[0] } @cmd or print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    POSIX::setpgid($pid, $pid);
    my $st = wait_pid($pid, $timeout);
    my $timed_out = 0;
    if (!defined $st) {
        $timed_out = 1;
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        $st = wait_pid($pid, 5);
    }
    my $exit = $timed_out ? -1 : !defined $st || $st < 0 ? -1 : ($st & 127) ? 128 + ($st & 127) : $st >> 8;
    return { exit => $exit, stdout => QpstatTest::slurp("$out"), stderr => QpstatTest::slurp("$err"), timed_out => $timed_out };
}

# ---------------------------------------------------------------- fake spamd

sub start_spamd {
    my ($self) = @_;
    my $pf = "$self->{tmp}/spamd.port";
    my $pid = $self->spawn({ name => 'fake-spamd', stdout => '/dev/null', stdin => '/dev/null' },
        $^X, "$REPO/t/fake-spamd.pl", '--port', 0, '--port-file', $pf, '--lifetime', $self->{lifetime});
    $self->{spamd_pid} = $pid;
    my $port = wait_until(10, sub { my $s = QpstatTest::slurp($pf, missing_ok => 1); $s && $s =~ /^(\d+)/ ? $1 : undef })
        or croak "fake spamd did not start within 10 s";
    $self->{spamd_port} = $port;
    note_("fake spamd on 127.0.0.1:$port");
    return $port;
}
sub spamd_port { $_[0]{spamd_port} }

# ---------------------------------------------------------------- qpsmtpd

# start(max_conn => N, max_per_ip => M, port => P): starts
#   perl -Tw -I<repo>/blib/lib -I<repo>/blib/arch -I/usr/share/perl5 \
#        /usr/bin/qpsmtpd-forkserver -l 127.0.0.1 -p P -c N -m M [-u USER]
# with stdout+stderr into `multilog t s16777215 n20 <tmp>/log` (multilog's
# default s99999 n10 keeps only ~1 MB: a busy test would lose its first
# lines to rotation), and waits for "Listening on". Options: env (extra
# environment), multilog (the size/number actions), start_timeout,
# installed (1: no -I of the repository's blib, the Qpstat module comes from
# the system: t/720 runs the installed package), log_file (the file that
# logging/file writes, read by log_text after the multilog directory),
# multilog_prefix (a command multilog runs under, e.g. setpriv to run it as
# SME's smelog would: t/735).
# The multilog process id is $h->{ml_pid} (SIGALRM rotates).
sub start {
    my ($self, %o) = @_;
    croak "already started" if $self->{qp_pid};
    croak "write_config first" unless -f $self->confdir . '/plugins';
    $self->{log_file} = $o{log_file};
    my $port = $self->{port} = $o{port} || free_port();
    pipe(my $r, my $w) or croak "pipe: $!";
    my $ml = $self->spawn({ name => 'multilog', stdin => $r, stdout => '/dev/null' },
        @{ $o{multilog_prefix} || [] }, which('multilog'), 't', @{ $o{multilog} || ['s16777215', 'n20'] }, $self->logdir);
    $self->{ml_pid} = $ml;
    my @cmd = ($^X, '-Tw', ($o{installed} ? () : ("-I$REPO/blib/lib", "-I$REPO/blib/arch")), "-I$QP_PERL5", $FORKSERVER,
        '-l', '127.0.0.1', '-p', $port,
        '-c', $o{max_conn} || 15, '-m', defined $o{max_per_ip} ? $o{max_per_ip} : 5,
        ($> == 0 ? ('-u', $self->{user}) : ()));
    $self->{qp_cmd} = "@cmd";
    my $qp = $self->spawn({ name => 'qpsmtpd-forkserver', stdin => '/dev/null', stdout => $w, stderr => $w,
            cwd => $self->{tmp}, env => { QPSMTPD_CONFIG => $self->confdir, %{ $o{env} || {} } } }, @cmd);
    close $r;
    close $w;
    $self->{qp_pid} = $qp;
    my $ok = wait_until($o{start_timeout} || 30, sub {
        return 'dead' unless kill 0, $qp;
        return 'up' if ($self->log_text =~ /Listening on 127\.0\.0\.1:\Q$port\E/);
        return;
    });
    if (!$ok || $ok eq 'dead') {
        my $log = $self->log_text;
        $self->stop;
        croak "qpsmtpd-forkserver did not start (" . ($ok ? 'exited' : 'no "Listening on" within 30 s')
            . ")\ncommand: $self->{qp_cmd}\nlog:\n$log";
    }
    note_("qpsmtpd pid $qp on 127.0.0.1:$port");
    return $port;
}

# Stops qpsmtpd (TERM: it INTs its children), lets multilog drain the pipe and
# exit on EOF, then stops the fake spamd and the rest of the group.
sub stop {
    my ($self) = @_;
    my $t0 = time;
    if (my $qp = delete $self->{qp_pid}) {
        kill 'TERM', $qp;
        defined wait_pid($qp, 15) or do { kill 'KILL', $qp; wait_pid($qp, 5) };
        delete $self->{procs}{$qp};
    }
    if (my $ml = delete $self->{ml_pid}) {
        # EOF reaches multilog once the last qpsmtpd child is gone
        if (!defined wait_pid($ml, 15)) {
            warn "# harness: multilog still running 15 s after qpsmtpd stopped: killing the group\n";
            $self->kill_group('TERM');
            wait_pid($ml, 5) // do { $self->kill_group('KILL'); wait_pid($ml, 5) };
        }
        delete $self->{procs}{$ml};
    }
    if (my $sp = delete $self->{spamd_pid}) {
        kill 'TERM', $sp;
        wait_pid($sp, 5) // do { kill 'KILL', $sp; wait_pid($sp, 5) };
        delete $self->{procs}{$sp};
    }
    $self->kill_group('KILL') if $self->{pgid} && kill 0, -$self->{pgid};
    for my $pid (keys %{ $self->{procs} }) { wait_pid($pid, 1); delete $self->{procs}{$pid} }
    if (my $wd = delete $self->{watchdog}) { kill 'TERM', $wd; wait_pid($wd, 5) }
    delete $self->{pgid};
    return time - $t0;
}

# Stops every harness of this process that is still running (after a
# failed run, so that the next run starts clean).
sub stop_all {
    for my $h (values %LIVE) {
        next unless $h->{parent} == $$ && $h->{pgid};
        eval { $h->stop };
    }
}

sub kill_group {
    my ($self, $sig) = @_;
    kill $sig, -$self->{pgid} if $self->{pgid};
}

END {
    my $status = $?;
    for my $h (values %LIVE) {
        next unless $h->{parent} == $$;    # forked helpers must not clean up
        local $@;
        eval {
            if ($h->{pgid}) { kill 'TERM', -$h->{pgid}; sleep 0.3; kill 'KILL', -$h->{pgid} }
            for my $pid (keys %{ $h->{procs} }) { waitpid($pid, POSIX::WNOHANG()) }
            if ($h->{watchdog}) { kill 'TERM', $h->{watchdog}; waitpid($h->{watchdog}, 0) }
            for my $pid (@{ $h->{children} || [] }) { kill 'KILL', $pid; waitpid($pid, 0) }
        };
    }
    $? = $status;
}

# ---------------------------------------------------------------- logs

# Text of the multilog directory: @*.s / @*.u in label order, then current.
sub log_text {
    my ($self) = @_;
    my $d = $self->logdir;
    opendir my $dh, $d or return '';
    my @old = sort grep { /^@[0-9a-f]{24}\.[su]$/ } readdir $dh;
    return join '', (map { QpstatTest::slurp("$d/$_", missing_ok => 1) // '' } @old, 'current'),
        ($self->{log_file} ? QpstatTest::slurp($self->{log_file}, missing_ok => 1) // '' : ());
}

# Waits until the log matches $re (or $timeout s); returns the match or undef.
sub wait_log {
    my ($self, $re, $timeout) = @_;
    return wait_until($timeout || 10, sub { my @m = $self->log_text =~ $re; @m ? ($m[0] // 1) : undef }, 0.05);
}

# Log lines that show a Perl problem: warnings and dies with a source
# location, "FATAL PLUGIN ERROR", uninitialized values, missing modules.
sub perl_problems {
    my ($self) = @_;
    return grep { / at \S+ line \d+|Use of uninitialized|FATAL PLUGIN ERROR|Can't locate |plugin .* failed/ }
        split /\n/, $self->log_text;
}

# Terse records of the log: list of hashes {pid, hook, plugin, ip, host,
# helo, sender, rcpts, disposition, code, text, spam, line}.
sub terse_records {
    my ($self, %o) = @_;
    my $prefix = defined $o{prefix} ? $o{prefix} : '`';
    my @r;
    for my $line (split /\n/, $self->log_text) {
        next unless $line =~ /^@[0-9a-f]{24} (\d+) \(([\w-]+)\) (\S+): \Q$prefix\E (.*)\z/s;
        my ($pid, $hook, $plugin, $rest) = ($1, $2, $3, $4);
        my @f = split /\t/, $rest, -1;
        my %h = (pid => $pid, hook => $hook, plugin => $plugin, line => $line, nfields => scalar @f);
        @h{qw(ip host helo sender rcpts disposition code text spam)} = @f;
        push @r, \%h;
    }
    return @r;
}

# ---------------------------------------------------------------- qpstat CLI

sub qpstat {
    my ($self, @args) = @_;
    my $o = ref $args[0] eq 'HASH' ? shift @args : {};
    return capture_cmd($o->{timeout} || 120, { env => { LC_ALL => 'C', %{ $o->{env} || {} } } }, QpstatTest::qpstat_bin() // croak('no qpstat binary: build first'), @args);
}

# "name,count,percent" CSV (CRLF) -> { name => count }. The header is checked.
sub csv_counts {
    my ($csv, $dim) = @_;
    my @lines = split /\r?\n/, $csv;
    my $head = shift @lines;
    croak "unexpected CSV header: " . ($head // '(none)') if !defined $head || $head !~ /^\Q$dim\E,count,percent$/;
    my %c;
    for (@lines) {
        next if $_ eq '';
        my ($name, $count);
        if (/^"((?:[^"]|"")*)",(\d+),/) { ($name, $count) = ($1 =~ s/""/"/gr, $2) }
        elsif (/^([^,]*),(\d+),/)        { ($name, $count) = ($1, $2) }
        else { croak "unexpected CSV line: $_" }
        $c{$name} += $count;
    }
    return \%c;
}

# ---------------------------------------------------------------- SMTP clients

# Runs swaks against the server. %o: from, to (string or list), helo, data
# (file path), local (bind address), extra (list), timeout.
# Returns {exit, out, answers => [[stage, code, text], ...]} where stage is
# connect, ehlo, helo, mail, rcpt, data, dot, quit, rset, other.
sub swaks {
    my ($self, %o) = @_;
    my @to = ref $o{to} ? @{ $o{to} } : ($o{to});
    my @cmd = (which('swaks'), '--server', '127.0.0.1', '--port', $self->{port},
        '--timeout', $o{timeout} || 20, '--helo', $o{helo} || 'client.sender.example',
        '--from', $o{from}, '--to', join(',', @to),
        ($o{data} ? ('--data', '@' . $o{data}) : ()),
        ($o{local} ? ('--local-interface', $o{local}) : ()),
        @{ $o{extra} || [] });
    my $r = capture_cmd(($o{timeout} || 20) * 3, {}, @cmd);
    my $t = $r->{stdout} . $r->{stderr};
    return { exit => $r->{exit}, out => $t, answers => parse_swaks($t), timed_out => $r->{timed_out} };
}

sub parse_swaks {
    my ($t) = @_;
    # swaks prints client lines as " -> ...", server replies as "<-  ..." or
    # "<** ..." (error); after a 354 the message lines are printed as " -> "
    # too, and the next reply belongs to the end of data ("dot").
    my ($stage, $in_body, @a) = ('connect', 0);
    for my $line (split /\n/, $t) {
        if ($line =~ /^ *-> (.*)/) {
            next if $in_body;
            my $c = $1;
            $stage = $c =~ /^EHLO\b/i ? 'ehlo'
                   : $c =~ /^HELO\b/i ? 'helo'
                   : $c =~ /^MAIL FROM:/i ? 'mail'
                   : $c =~ /^RCPT TO:/i ? 'rcpt'
                   : $c =~ /^DATA$/i ? 'data'
                   : $c =~ /^QUIT$/i ? 'quit'
                   : $c =~ /^RSET$/i ? 'rset'
                   : 'other';
            next;
        }
        next unless $line =~ /^ *(?:<-|<\*\*) +(\d{3})([ -])(.*)/;
        my ($code, $cont, $text) = ($1, $2, $3);
        next if $cont eq '-';
        if ($in_body) { push @a, ['dot', $code, $text]; $in_body = 0; $stage = 'dot'; next }
        push @a, [$stage, $code, $text];
        $in_body = 1 if $stage eq 'data' && $code eq '354';
    }
    return \@a;
}

# Waits until every qpsmtpd child that the log shows as accepted has been
# reaped by the parent ("cleaning up after PID"); the forkserver reaps at
# least once a second. Returns true when idle.
sub wait_idle {
    my ($self, $timeout) = @_;
    return wait_until($timeout || 10, sub {
        my $log = $self->log_text;
        my %open;
        $open{$1} = 1 while $log =~ /^@[0-9a-f]{24} (\d+) Accepted connection /mg;
        delete $open{$1} while $log =~ /^@[0-9a-f]{24} \d+ cleaning up after (\d+)$/mg;
        return !%open;
    }, 0.1);
}

sub client {
    my ($self, %o) = @_;
    return QpsmtpdHarness::Client->new(port => $self->{port}, %o);
}

# Sends $o{messages} messages over connections of $o{per_conn} messages each
# (EHLO, then MAIL/RCPT/DATA per message, QUIT) with Message-Ids
# <$o{id}.N@sender.example>. Returns a one-line summary
#   "sent=N ok=N fail=N conn_fail=N max_ms=N ids=ID,ID,..."
# followed by the transcript of the first failure, if any. Every read is
# bounded by $o{timeout} seconds (default 60).
sub send_messages {
    my ($self, %o) = @_;
    my ($n, $per, $id) = ($o{messages}, $o{per_conn} || 10, $o{id});
    my ($sent, $ok, $fail, $cfail, $max, @ids, $first) = (0, 0, 0, 0, 0);
    my $t = $o{timeout} || 60;
    while ($sent < $n) {
        my $c = $self->client(timeout => $t);
        my @r = $c ? $c->reply($t) : ();
        if (!$c || ($r[0] // '') ne '220' || (($c->cmd('EHLO client.sender.example', $t))[0] // '') ne '250') {
            $cfail++;
            $first //= $c ? $c->transcript : "connect: $!";
            $c->close if $c;
            last if $cfail > 20;
            Time::HiRes::sleep(0.2);
            next;
        }
        for (1 .. $per) {
            last if $sent >= $n;
            $sent++;
            my $mid = "$id.$sent\@sender.example";
            my $t0 = time;
            my @a = ($c->cmd('MAIL FROM:<alice@sender.example>', $t))[0] // 'EOF';
            push @a, ($c->cmd("RCPT TO:<$o{rcpt}>", $t))[0] // 'EOF' if $a[-1] eq '250';
            push @a, ($c->cmd('DATA', $t))[0] // 'EOF' if $a[-1] eq '250';
            if ($a[-1] eq '354') {
                push @a, ($c->data_body("From: <alice\@sender.example>\nTo: <$o{rcpt}>\nSubject: load $sent\n"
                    . "Message-Id: <$mid>\n\nmessage $sent of client $id\n", $t))[0] // 'EOF';
            }
            my $ms = (time - $t0) * 1000;
            $max = $ms if $ms > $max;
            if ("@a" eq '250 250 354 250') { $ok++; push @ids, $mid }
            else {
                $fail++;
                $first //= "answers @a\n" . $c->transcript;
                last if $a[-1] eq 'EOF';
            }
        }
        $c->cmd('QUIT', 10);
        $c->close;
    }
    return sprintf("sent=%d ok=%d fail=%d conn_fail=%d max_ms=%d ids=%s\n", $sent, $ok, $fail, $cfail, $max,
        join(',', @ids)) . ($first // '');
}

# Parses send_messages summaries: {sent, ok, fail, conn_fail, max_ms, ids => [...], errors => [...]}
sub sum_results {
    my (@res) = @_;
    my %t = (sent => 0, ok => 0, fail => 0, conn_fail => 0, max_ms => 0, ids => [], errors => []);
    for my $r (@res) {
        if (!defined $r || $r !~ /^sent=(\d+) ok=(\d+) fail=(\d+) conn_fail=(\d+) max_ms=(\d+) ids=(\S*)\n(.*)\z/s) {
            push @{ $t{errors} }, defined $r ? substr($r, 0, 2000) : 'client process gave no result';
            next;
        }
        $t{sent} += $1; $t{ok} += $2; $t{fail} += $3; $t{conn_fail} += $4;
        $t{max_ms} = $5 if $5 > $t{max_ms};
        push @{ $t{ids} }, split /,/, $6;
        push @{ $t{errors} }, substr($7, 0, 2000) if length $7;
    }
    return \%t;
}

# Forks one process per job: $code->($i) runs in the child, must return a
# string (written to a result file); the child leaves with POSIX::_exit.
# Returns the list of results (undef for a child that failed or timed out).
sub run_children {
    my ($self, $n, $timeout, $code) = @_;
    my @pids;
    my $dir = File::Temp::tempdir("qpstat-children-XXXXXX", TMPDIR => 1, CLEANUP => 1);
    for my $i (0 .. $n - 1) {
        my $pid = fork;
        croak "fork: $!" unless defined $pid;
        if (!$pid) {
            my $res = eval { $code->($i) };
            $res = "ERROR: $@" unless defined $res;
            if (open my $fh, '>', "$dir/$i.tmp") { print $fh $res; close $fh; rename "$dir/$i.tmp", "$dir/$i" }
            POSIX::_exit(0);
        }
        push @pids, $pid;
        push @{ $self->{children} }, $pid;
    }
    my $end = time + $timeout;
    for my $pid (@pids) {
        my $left = $end - time;
        defined wait_pid($pid, $left > 0 ? $left : 0) or do { kill 'KILL', $pid; wait_pid($pid, 5) };
    }
    @{ $self->{children} } = ();
    return map { QpstatTest::slurp("$dir/$_", missing_ok => 1) } 0 .. $n - 1;
}

# ==================================================================== client
package QpsmtpdHarness::Client;
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
use Errno qw(EINTR EAGAIN);

# new(port, local_addr, timeout): connects to 127.0.0.1:port (optionally
# binding the client side to local_addr, e.g. 127.0.0.3).
sub new {
    my ($class, %o) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $o{port}, Proto => 'tcp', Timeout => $o{timeout} || 10,
        ($o{local_addr} ? (LocalAddr => $o{local_addr}) : ()),
    ) or return;
    binmode $s;
    $s->autoflush(1);
    return bless { s => $s, buf => '', timeout => $o{timeout} || 30, log => [] }, $class;
}

sub sock { $_[0]{s} }

sub send_raw {
    my ($self, $data) = @_;
    my $s = $self->{s} or return;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $s, $data, length($data) - $off, $off;
        if (!defined $n) { next if $! == EINTR; return }
        $off += $n;
    }
    return 1;
}

# Reads one (possibly multi-line) reply; returns (code, text) or () on
# EOF/timeout (then $self->{eof} or $self->{timed_out} is set).
sub reply {
    my ($self, $timeout) = @_;
    my $s = $self->{s} or return;
    my $end = time + ($timeout || $self->{timeout});
    my @lines;
    while (1) {
        while ($self->{buf} =~ s/\A([^\n]*)\n//) {
            my $l = $1;
            $l =~ s/\r\z//;
            push @lines, $l;
            if ($l =~ /^(\d{3})(?: |\z)/) {
                my $code = $1;
                my $text = join "\n", map { substr($_, 4) // '' } @lines;
                push @{ $self->{log} }, "<- $code $text";
                return ($code, $text);
            }
            if ($l !~ /^\d{3}-/) {    # not SMTP
                push @{ $self->{log} }, "<- ?? $l";
                return ('???', $l);
            }
        }
        my $left = $end - time;
        if ($left <= 0) { $self->{timed_out} = 1; return }
        my $sel = IO::Select->new($s);
        next unless $sel->can_read($left);
        my $n = sysread $s, $self->{buf}, 65536, length $self->{buf};
        if (!defined $n) { next if $! == EINTR || $! == EAGAIN; $self->{eof} = 1; return }
        if ($n == 0) { $self->{eof} = 1; return }
    }
}

# Sends one command line and returns its reply (code, text).
sub cmd {
    my ($self, $line, $timeout) = @_;
    push @{ $self->{log} }, "-> $line";
    $self->send_raw("$line\r\n") or do { $self->{eof} = 1; return };
    return $self->reply($timeout);
}

# Sends a message body after a 354 (dot-stuffing, CRLF) and returns the reply.
sub data_body {
    my ($self, $msg, $timeout) = @_;
    $msg =~ s/\r?\n/\r\n/g;
    $msg .= "\r\n" unless $msg =~ /\r\n\z/;
    $msg =~ s/^\./../mg;
    push @{ $self->{log} }, "-> (" . length($msg) . " bytes) .";
    $self->send_raw($msg . ".\r\n") or do { $self->{eof} = 1; return };
    return $self->reply($timeout);
}

# True when the server closed the connection (waits up to $timeout s).
sub closed_by_server {
    my ($self, $timeout) = @_;
    my $s = $self->{s} or return 1;
    return 1 if $self->{eof};
    my $sel = IO::Select->new($s);
    return 0 unless $sel->can_read($timeout || 2);
    my $n = sysread $s, my $b, 4096;
    if (!$n) { $self->{eof} = 1; return 1 }
    $self->{buf} .= $b;
    return 0;
}

sub transcript { join "\n", @{ $_[0]{log} } }

sub close {
    my ($self) = @_;
    close $self->{s} if $self->{s};
    delete $self->{s};
}

1;
