package QpstatTest;
# Helpers shared by the Perl tests: the golden fixtures of t/data (the same
# the CLI and C tests read), running the CLI or any command, reading and
# writing files as bytes.
use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use POSIX ();
use Time::HiRes ();

our @EXPORT_OK = qw(%FIXTURE @FIXTURES NOW qpstat_bin run_cli run_cmd slurp spew file_lines tmpdir parse_csv);

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

# The same environment as the CLI tests: UTC, a fixed "now", C locale.
$ENV{TZ}         = 'UTC';
$ENV{QPSTAT_NOW} = NOW;
$ENV{LC_ALL}     = 'C';
delete $ENV{LANG};
POSIX::tzset();

sub qpstat_bin {
    my $bin = $ENV{QPSTAT} || (-x 'csrc/qpstat' ? 'csrc/qpstat' : 'blib/script/qpstat');
    return -x $bin ? $bin : undef;
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "cannot read $path: $!";
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

# Runs a command (list form) with stdin from the file $o{stdin} (default
# /dev/null), the extra environment $o{env}, as the user $o{uid} if given;
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
        open STDERR, '>&', $err or POSIX::_exit(126);
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

sub tmpdir { File::Temp->newdir('t/tmp-XXXXXX', CLEANUP => 1) }

1;
