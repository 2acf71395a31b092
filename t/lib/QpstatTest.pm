package QpstatTest;
# Helpers shared by the Perl tests: the golden fixtures of t/data (the same
# the CLI and C tests read), the one lookup of the qpstat binary, running the
# CLI or any command, reading and writing files as bytes.
#
# `use QpstatTest qw(...)` also fixes the environment of the CLI tests (UTC,
# a fixed "now", C locale); `require QpstatTest` (QpsmtpdHarness, for tests
# against a live server) leaves the environment alone.
use strict;
use warnings;

use Cwd ();
use Exporter ();
use File::Basename ();
use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

our @EXPORT_OK = qw(%FIXTURE @FIXTURES NOW qpstat_bin run_cli run_cli_merged run_cmd slurp spew file_lines tmpdir
  parse_csv golden_csv_dims golden_path mail_seed_view free_port serve_start serve_stop);

# the repository, wherever the test runs from
my $REPO = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../..');

# 2026-11-25 21:00:00 UTC, the fixtures' day (as t/500-cli.t)
use constant NOW => 1795640400;

my $D = 't/data';
our %FIXTURE = (
    'multilog-094'    => "$D/multilog-094",
    'logfile-094'     => "$D/logfile-094.log",
    'dialect-08x'     => "$D/dialect-08x.log",
    'dialect-04x'     => "$D/dialect-04x.log",
    'tai64nlocal-093' => "$D/tai64nlocal-093.log",
    'syslog-093'      => "$D/syslog-093.log",
    'edge-cases'      => "$D/edge-cases.log",
);
our @FIXTURES = sort keys %FIXTURE;

# The golden outputs of `qpstat report` (t/500 compares the CLI, t/200 the
# Perl aggregator with them): text and JSON of every table for every
# fixture, CSV of these four tables (of every table for edge-cases), and
# edge-cases' --mail. A missing golden file is a failure, never a skip.
my @CSV_GOLDEN = ('disposition', 'dnsbl', 'tld', 'disposition,tld');
my @ALL_DIMS = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam', 'connections', 'connection-time');
sub golden_csv_dims { my ($fixture) = @_; return $fixture eq 'edge-cases' ? @ALL_DIMS : @CSV_GOLDEN }
# t/data/<fixture>.<by>.<fmt>.expected, "," in by written "_" ("all" = every table)
sub golden_path {
    my ($fixture, $by, $fmt) = @_;
    (my $tag = $by) =~ s/,/_/g;
    return "$D/$fixture.$tag.$fmt.expected";
}

# The environment of the CLI tests: UTC, a fixed "now", C locale.
sub import {
    $ENV{TZ}         = 'UTC';
    $ENV{QPSTAT_NOW} = NOW;
    $ENV{LC_ALL}     = 'C';
    delete $ENV{LANG};
    POSIX::tzset();
    goto &Exporter::import;
}

# The one binary every test runs: $QPSTAT, else the build's csrc/qpstat (make
# copies it to blib/script/qpstat, which may be older), as an absolute path
# so that a test may chdir. undef when there is none. Warns once when it is
# older than the XS module the plugin and Qpstat::Store load: the CLI and the
# Perl side would come from different builds.
my $warned;
sub qpstat_bin {
    my $bin = $ENV{QPSTAT} || (grep { -x } "$REPO/csrc/qpstat", "$REPO/blib/script/qpstat")[0];
    return undef unless defined $bin && -x $bin && !-d _;
    $bin = Cwd::abs_path($bin);
    my $so = "$REPO/blib/arch/auto/Qpstat/Qpstat.so";
    if (!$warned++ && -e $so && (stat $bin)[9] < (stat $so)[9] - 60) {
        print STDERR "# $bin is older than $so: the CLI and the plugin may come from different builds (run make)\n";
    }
    return $bin;
}

# A file's bytes. Dies when it cannot be read, unless missing_ok => 1: then
# undef (a file a process has not written yet).
sub slurp {
    my ($path, %o) = @_;
    open my $fh, '<:raw', $path or do {
        return undef if $o{missing_ok};
        die "cannot read $path: $!";
    };
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub spew {
    my ($path, $data, $append) = @_;
    open my $fh, $append ? '>>:raw' : '>:raw', $path or die "cannot write $path: $!";
    print {$fh} $data;
    close $fh or die "cannot write $path: $!";
}

# The lines of a file as the core splits them: on "\n" only; a last line
# without its newline is a line too.
sub file_lines {
    my ($path) = @_;
    my $data = slurp($path);
    my @lines = split /\n/, $data, -1;
    pop @lines if @lines && $lines[-1] eq '';
    return @lines;
}

# Runs `qpstat ARGS` (list form); returns (stdout, exit status).
sub run_cli {
    my (@args) = @_;
    my $bin = qpstat_bin() or die "no qpstat binary: build first";
    my $out = File::Temp->new;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN,  '<', '/dev/null' or POSIX::_exit(126);
        open STDOUT, '>', "$out"      or POSIX::_exit(126);
        open STDERR, '>', '/dev/null' or POSIX::_exit(126);
        exec $bin, @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return (slurp("$out"), $? >> 8);
}

# Runs `qpstat ARGS` (list form) with stderr merged into stdout, as 2>&1;
# returns (exit status, output).
sub run_cli_merged {
    my (@args) = @_;
    my $bin = qpstat_bin() or die "no qpstat binary: build first";
    my ($out, undef, $rc) = run_cmd([$bin, @args], merge => 1);
    return ($rc, $out);
}

# Runs a command (list form) with stdin from the file $o{stdin} (default
# /dev/null), the extra environment $o{env}, as the user $o{uid} if given,
# stderr into stdout's file when $o{merge};
# kills it after $o{timeout} seconds (default 30; status -1), so no test can
# hang. Returns (stdout, stderr, exit status, seconds, signal).
sub run_cmd {
    my ($cmd, %o) = @_;
    # opened here, so a child that drops its privileges can still write them
    my ($out, $err) = (File::Temp->new, File::Temp->new);
    open my $in, '<', $o{stdin} // '/dev/null' or die "cannot read $o{stdin}: $!";
    my $t0 = Time::HiRes::time();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        @ENV{ keys %{ $o{env} } } = values %{ $o{env} } if $o{env};
        open STDIN,  '<&', $in  or POSIX::_exit(126);
        open STDOUT, '>&', $out or POSIX::_exit(126);
        open STDERR, '>&', $o{merge} ? $out : $err or POSIX::_exit(126);
        if (defined $o{uid}) {
            $) = "$o{uid} $o{uid}";
            $( = $o{uid};
            $> = $< = $o{uid};
            die "cannot drop privileges\n" if $> != $o{uid};
        }
        exec @$cmd or POSIX::_exit(127);
    }
    # a blocking wait (no polling delay) that a timer cuts short
    my $timed_out = 0;
    local $SIG{ALRM} = sub { $timed_out = 1; kill 'KILL', $pid };
    Time::HiRes::alarm($o{timeout} // 30);
    waitpid $pid, 0;
    Time::HiRes::alarm(0);
    my ($status, $signal) = $timed_out ? (-1, 0) : ($? >> 8, $? & 127);
    return (slurp("$out"), slurp("$err"), $status, Time::HiRes::time() - $t0, $signal);
}

# RFC 4180 CSV (CRLF records, quoted fields) -> list of rows (array refs).
sub parse_csv {
    my ($text) = @_;
    my (@rows, @row, $field);
    my $pos = 0;
    while ($pos < length $text) {
        if ($text =~ /\G"((?:[^"]|"")*)"/gc) {
            ($field = $1) =~ s/""/"/g;
        } elsif ($text =~ /\G([^,"\r\n]*)/gc) {
            $field = $1;
        }
        push @row, $field;
        if ($text =~ /\G,/gc) {
            # next field
        } elsif ($text =~ /\G\r\n/gc) {
            push @rows, [@row];
            @row = ();
        } else {
            die 'malformed CSV at offset ' . pos($text) . "\n";
        }
        $pos = pos $text;
    }
    die "CSV does not end with CRLF\n" if @row;
    return @rows;
}

# The seed's "Email Disposition" mail inside `report --mail`'s message: its
# Subject header, an empty line, then the disposition x TLD table that ends
# the text part (what the seed's pipeline mailed). The message itself when
# it has no such parts.
sub mail_seed_view {
    my ($msg) = @_;
    my ($head, $body) = split /\n\n/, $msg, 2;
    my ($subject) = ($head // '') =~ /^(Subject: [^\n]*)$/m;
    my ($matrix) = ($body // '') =~ /^== Email Disposition on [^\n]* ==\n(.*)\z/ms;
    return defined $subject && defined $matrix ? "$subject\n\n$matrix" : $msg;
}

# A loopback TCP port nobody listens on (now).
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die "socket: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Starts `qpstat serve` on a free loopback port with its stderr in a file
# of $dir; waits until it listens (or exits). Returns (pid, base URL,
# stderr file).
sub serve_start {
    my ($dir, @args) = @_;
    my $bin = Cwd::abs_path(qpstat_bin()) // die "no qpstat binary\n";
    my $port = free_port();
    my $err = "$dir/serve-$port.err";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $err;
        exec $bin, 'serve', '--listen', "127.0.0.1:$port", @args or POSIX::_exit(127);
    }
    my $t0 = Time::HiRes::time();
    until ((-e $err && slurp($err) =~ /listening on/) || Time::HiRes::time() - $t0 > 10) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.02);
    }
    return ($pid, "http://127.0.0.1:$port", $err);
}

# SIGTERM, then SIGKILL after 10 s; returns serve's wait status (-1 if killed).
sub serve_stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < 10) {
        return $? if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return -1;
}

sub tmpdir { File::Temp->newdir('t/tmp-XXXXXX', CLEANUP => 1) }

1;
