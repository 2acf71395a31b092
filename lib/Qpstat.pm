package Qpstat;

use strict;
use warnings;

our $VERSION = '0.1.0';

require XSLoader;
XSLoader::load(__PACKAGE__, $VERSION);

use Carp ();

# Croaks from any Qpstat package are reported at the caller's line.
our @CARP_NOT = qw(Qpstat::Agg Qpstat::Store);

# Dimension names in the core's order (qps_dim_name), and the report order
# of the CLI when no --by is given.
our @DIMENSIONS = _dim_names();
our %DIM_NUMBER = map { $DIMENSIONS[$_] => $_ } 0 .. $#DIMENSIONS;
our @ALL_DIMENSIONS = (
    'disposition', 'dnsbl',  'tld',       'disposition,tld', 'hour', 'day',
    'sender',      'recipient', 'ip',     'helo',            'score', 'spam',
    'connections', 'connection-time',
);
our %METRIC = ('connections' => 1, 'connection-time' => 1);

# Rethrows a croak of the XS code (whose location is a line of a .pm file)
# at the line of the program that called the Qpstat method.
sub _rethrow {
    my ($err) = @_;
    $err =~ s/ at \S+ line \d+(?:, <[^>]*> (?:line|chunk) \d+)?\.?\n\z//;
    Carp::croak($err);
}

sub parse_line {
    my $line = shift;
    unless (@_) {
        my @r = eval { _parse_line($line, undef, 0) };
        _rethrow($@) unless @r;
        return $r[0];
    }
    Carp::croak('Qpstat::parse_line: options come in name => value pairs') if @_ % 2;
    my %o = @_;
    my $prefix = delete $o{prefix};
    my $now    = delete $o{now} // 0;
    Carp::croak("Qpstat::parse_line: unknown option '" . (sort keys %o)[0] . "'") if %o;
    Carp::croak('Qpstat::parse_line: prefix must be a non-empty string')
      if defined $prefix && (ref $prefix || $prefix eq '');
    Carp::croak('Qpstat::parse_line: now must be unix seconds') unless $now =~ /\A[0-9]+\z/;
    my @r = eval { _parse_line($line, $prefix, $now) };
    _rethrow($@) unless @r;
    return $r[0];
}

# Dimension names ("disposition,tld" is one) from an arrayref or a
# comma-separated string, as the CLI's --by reads them. Croaks in the name
# of $method.
sub _dimensions {
    my ($method, $by) = @_;
    my @words = map { split /,/, $_, -1 } ref $by eq 'ARRAY' ? @$by : ($by);
    my @dims;
    while (@words) {
        my $w = shift @words;
        # a two-key table (disposition,tld, hour,category, ...) is one name
        $w .= ',' . shift @words if defined $w && @words && exists $DIM_NUMBER{"$w,$words[0]"};
        Carp::croak("$method: unknown dimension '" . ($w // '') . "'")
          unless defined $w && exists $DIM_NUMBER{$w};
        push @dims, $w;
    }
    return @dims;
}

# The time options of Qpstat::Agg->new and Qpstat::Store (today,
# yesterday, days => N, since and until in unix seconds) through the core's
# range (qps_range, as the CLI's --today, --yesterday, --days, --since,
# --until): the same limits, messages and mail date label. With
# $mail_default and no option, yesterday and today (the mail report's
# days). Returns (since, until, label), a bound undef when open; croaks in
# the name of $method.
sub _time_range {
    my ($method, $o, $now, $mail_default) = @_;
    my @epoch;
    for my $name (qw(since until)) {
        my $v = $o->{$name};
        Carp::croak("$method: $name must be unix seconds (an integer), not '$v'")
          if defined $v && (ref $v || $v !~ /\A-?[0-9]{1,15}\z/);
        push @epoch, $v;
    }
    my ($err, @range) = _time_range_xs($o->{today} ? 1 : 0, $o->{yesterday} ? 1 : 0, $o->{days}, @epoch,
        $now || time, $mail_default ? 1 : 0);
    Carp::croak("$method: $err") if defined $err;
    return @range;
}

# The core's log set (qps_logset): the files paths stand for, in time
# order, each file once, as [path, from_dir, is_stdin]. Special files found
# in a directory are skipped with a warning; an unreadable directory croaks
# in the name of $method.
sub _log_set {
    my ($method, @paths) = @_;
    my ($entries, $notes) = _log_set_xs(@paths);
    for my $n (@$notes) {
        my ($kind, $path, $why) = @$n;
        Carp::croak("$method: cannot read directory $path: $why") if $kind eq 'error';
        Carp::carp("$method: $path is not a regular file (a FIFO, device or socket): skipped")
          if $kind eq 'skipped';
    }
    return @$entries;
}

sub log_files {
    return map { $_->[0] } _log_set('Qpstat::log_files', @_);
}

1;

__END__

=head1 NAME

Qpstat - qpsmtpd log statistics through the qpstat C core

=head1 SYNOPSIS

    use Qpstat;

    my $rec = Qpstat::parse_line($line) or next;   # undef: not a qpsmtpd line
    print "$rec->{disposition}\n" if $rec->{kind} eq 'terse';

    # a custom report: the denying plugins of today, from the live store
    use Qpstat::Store;
    my $store = Qpstat::Store->open('/var/lib/qpstat/qpstat.db', readonly => 1);
    my $agg   = $store->aggregate(since => time - 86400);
    for my $row (@{ $agg->rows('disposition') }) {
        printf "%6d  %5.1f%%  %s\n", $row->{count}, $row->{percent}, $row->{key};
    }

=head1 DESCRIPTION

The Perl side of qpstat. It loads the same C core that the C<qpstat>
command uses, so a script gets the CLI's numbers: the same parser, the same
aggregator, the same renderers, the same store.

=over

=item L<Qpstat::Agg>

statistics over log lines you feed it (C<qpstat report> in an object);

=item L<Qpstat::Store>

the SQLite store that C<qpstat import> and the qpsmtpd plugin fill;

=item L<Qpstat::Plugin>

the logic of the qpsmtpd plugin C<plugins/qpstat>.

=back

Log lines are bytes. Nothing here decodes them, and every string handed
back is a byte string. A string with characters above 255 is refused with
an error, because it cannot have come from a log.

Errors croak with the name of the method, e.g.
C<Qpstat::Store::open: /tmp/x.db: not a qpstat store: file is not a database>.
A line the parser does not understand is never an error: it is data
(C<parse_line> returns undef, an aggregator counts it as invalid).

=head1 FUNCTIONS

=head2 library_version

    my $v = Qpstat::library_version();

The version of the C library, which equals C<$Qpstat::VERSION>.

=head2 parse_line

    my $rec = Qpstat::parse_line($line);
    my $rec = Qpstat::parse_line($line, prefix => '~', now => time);

Parses one log line (a trailing newline is ignored) in any framing qpstat
understands (raw multilog, tai64nlocal, logging/file, syslog, bare C<pid text>)
and any qpsmtpd prefix dialect. Returns undef for a line that is not a
qpsmtpd line (junk, NUL bytes, bad label, a truncated logterse record), else
a new hash with

=over

=item kind

C<terse>, C<accept>, C<too_many>, C<hosts_allow>, C<connection_time>,
C<result>, C<dispatch>, C<reply>, C<cleanup>, C<continuation> or C<other>;

=item framing, dialect

C<none>, C<multilog>, C<tai64nlocal>, C<logfile>, C<syslog>; and C<none>,
C<0.4x>, C<0.8x>, C<0.93>;

=item time, nsec, stamp

unix seconds, nanoseconds and the time as written, when the line carries a
time;

=item host, pid, hook, plugin, message, verdict

each when present: the frame's host, qpsmtpd's process id, the hook and
(escaped) plugin name of the prefix, the text after the prefix, and
C<pass>/C<fail>/C<skip>/C<error>/C<info> for a plugin result;

=item for C<terse>

C<ip rhost helo sender recipients disposition code text> and, in 9-field
records only, C<spam>; C<nfields> is 8 or 9;

=item for C<accept>, C<too_many>, C<hosts_allow>

C<running> and C<max> (the C<n/M> of the line; 0/0 for a hosts_allow rule),
C<remote_ip> and for C<accept> C<remote_host>;

=item for C<connection_time>

C<millis>, and C<remote_ip> in the old wording;

=item for C<reply> and C<cleanup>

C<reply_code>; C<child_pid>.

=back

Options: C<prefix>, the logterse prefix (default C<`>); C<now>, the unix
time that year-less syslog stamps are read against (default: now).

=head2 log_files

    my @files = Qpstat::log_files('/var/log/qpsmtpd', 'old.log.gz');

The files that paths stand for, in time order, as C<qpstat> reads them (the
same C code): a multilog directory gives its C<@E<lt>labelE<gt>.s>/C<.u> files
in label order, then C<current>; a logrotate directory gives C<x.log.N[.gz]>
oldest first, then C<x.log>. Other paths are returned unchanged. A file named
twice (by any name: the same device and inode) is returned once. A FIFO,
device or socket found in a directory is left out with a warning (reading it
could block or never end); named directly, it is returned.

=head1 A CUSTOM REPORT IN A FEW LINES

The tables of C<qpstat report> come ready made; anything else is a loop
away. This script prints the denials by plugin, then which remote IPs each
plugin denied, which no table shows (C<t/210-example.t> runs it, verbatim,
on the test logs):

    #!/usr/bin/perl
    use strict;
    use warnings;
    use Qpstat;
    use Qpstat::Agg;

    my @logs = @ARGV ? @ARGV : ('/var/log/qpsmtpd');

    # the aggregator: what qpstat report counts
    my $agg = Qpstat::Agg->new->add_file(@logs);
    my $c   = $agg->counts;
    print "$c->{transactions} transactions in $c->{lines_read} lines\n";
    for my $row (@{ $agg->rows('disposition') }) {
        next if $row->{key} eq 'queued';
        printf "%-28s %5d %6.2f%%\n", $row->{key}, $row->{count}, $row->{percent};
    }

    # the parser: anything else (plain files here; add_file also reads .gz)
    my %denied;
    for my $file (Qpstat::log_files(@logs)) {
        open my $fh, '<:raw', $file or die "$file: $!\n";
        while (my $line = <$fh>) {
            my $r = Qpstat::parse_line($line) or next;
            next unless $r->{kind} eq 'terse' && $r->{disposition} ne 'queued';
            $denied{ $r->{disposition} }{ $r->{ip} || 'the parent process' }++;
        }
    }
    for my $plugin (sort keys %denied) {
        my $ips = $denied{$plugin};
        print "$plugin: ", join(', ', map {"$_ ($ips->{$_})"} sort keys %$ips), "\n";
    }

=head1 SEE ALSO

L<qpstat(1)>, L<Qpstat::Agg>, L<Qpstat::Store>, L<Qpstat::Plugin>.

=cut
