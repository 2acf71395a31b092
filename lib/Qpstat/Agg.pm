package Qpstat::Agg;

use strict;
use warnings;

use Carp ();
use Qpstat ();

our $VERSION = $Qpstat::VERSION;
our @CARP_NOT = qw(Qpstat Qpstat::Store);

my %FORMAT = (text => 0, csv => 1, json => 2, mail => 3);    # qps_format
my %NEW_OPTS = map { $_ => 1 } qw(since until today yesterday days utc prefix capacity now where _mail_default);
my %REPORT_OPTS = map { $_ => 1 } qw(format by top mail_date mail_to mail_from html);

# An object holds a C pointer: a thread clone must not share it.
sub CLONE_SKIP { 1 }

sub _opts {
    my ($method, $allowed, @args) = @_;
    Carp::croak("$method: options come in name => value pairs") if @args % 2;
    my %o = @args;
    for (sort keys %o) {
        Carp::croak("$method: unknown option '$_'") unless $allowed->{$_};
    }
    return %o;
}

sub new {
    my $class = shift;
    return $class->_new_for('Qpstat::Agg::new', @_);
}

# new, croaking in the name of $m (Qpstat::Store's report and aggregate
# take the same options)
sub _new_for {
    my ($class, $m, @args) = @_;
    my %o = _opts($m, \%NEW_OPTS, @args);
    my $capacity = $o{capacity} // 0;
    Carp::croak("$m: capacity must be a whole number of keys, not '$capacity'")
      unless !ref $capacity && $capacity =~ /\A[0-9]{1,9}\z/;
    my $now = $o{now} // 0;
    Carp::croak("$m: now must be unix seconds, not '$now'")
      unless !ref $now && $now =~ /\A[0-9]{1,15}\z/;
    Carp::croak("$m: prefix must be a non-empty string")
      if defined $o{prefix} && (ref $o{prefix} || $o{prefix} eq '');
    my $where = !defined $o{where} ? [] : ref $o{where} eq 'ARRAY' ? $o{where} : [$o{where}];
    Carp::croak("$m: where takes KEY=VALUE strings (or an array of them)")
      if grep { !defined $_ || ref $_ } @$where;
    my ($since, $until, $label) = Qpstat::_time_range($m, \%o, $now, $o{_mail_default});
    return eval { $class->_new($since, $until, $o{utc} ? 1 : 0, $o{prefix}, $capacity, $now, $where, $label) }
      || Qpstat::_rethrow($@);
}

sub add_file {
    my ($self, @paths) = @_;
    Carp::croak('Qpstat::Agg::add_file: no path given') unless @paths;
    for my $log (Qpstat::_log_set('Qpstat::Agg::add_file', @paths)) {
        my $err = eval { $self->_add_log(@$log) };
        Qpstat::_rethrow($@) if $@;
        Carp::croak("Qpstat::Agg::add_file: $err") if defined $err;
    }
    return $self;
}

sub _dim {
    my ($method, $name) = @_;
    Carp::croak("$method: which dimension?") unless defined $name;
    my ($dim) = Qpstat::_dimensions($method, $name);
    Carp::croak("$method: one dimension, please") if Qpstat::_dimensions($method, $name) != 1;
    return $dim;
}

sub rows {
    my ($self, $name) = @_;
    my $dim = _dim('Qpstat::Agg::rows', $name);
    Carp::croak("Qpstat::Agg::rows: '$dim' has no rows: use conn_stats") if $Qpstat::METRIC{$dim};
    return eval { $self->_rows($Qpstat::DIM_NUMBER{$dim}) } || Qpstat::_rethrow($@);
}

sub total {
    my ($self, $name) = @_;
    my $dim = _dim('Qpstat::Agg::total', $name);
    return $self->_total($Qpstat::DIM_NUMBER{$dim});
}

sub approximate {
    my ($self, $name) = @_;
    my $dim = _dim('Qpstat::Agg::approximate', $name);
    return $self->_approximate($Qpstat::DIM_NUMBER{$dim});
}

sub report {
    my $self = shift;
    my $m = 'Qpstat::Agg::report';
    my %o = _opts($m, \%REPORT_OPTS, @_);
    my $format = $o{format} // 'text';
    Carp::croak("$m: format is text, csv, json or mail, not '$format'")
      unless !ref $format && exists $FORMAT{$format};
    my @dims = defined $o{by} ? Qpstat::_dimensions($m, $o{by}) : ();
    @dims = $format eq 'csv' ? ('disposition') : @Qpstat::ALL_DIMENSIONS unless @dims;
    Carp::croak("$m: csv prints one table: give one dimension in by") if $format eq 'csv' && @dims != 1;
    my $top = $o{top};
    Carp::croak("$m: top must be a whole number, not '$top'")
      if defined $top && (ref $top || $top !~ /\A[0-9]{1,9}\z/);
    # as the CLI: without top, tables keyed by remote input show 20 rows
    my $remote_top = defined $top || $format eq 'csv' ? 0 : 20;
    for my $h (qw(mail_to mail_from)) {
        Carp::croak("$m: $h takes printable ASCII (an address)")
          if defined $o{$h} && (ref $o{$h} || $o{$h} !~ /\A[\x20-\x7e]+\z/);
    }
    my $out = eval {
        $self->_render($FORMAT{$format}, [map { $Qpstat::DIM_NUMBER{$_} } @dims], $top // 0, $remote_top,
            # the mail's Date: 0 = the aggregator's now (or the clock)
            $o{mail_date}, 0, $o{mail_from}, $o{mail_to}, $o{html} ? 1 : 0);
    };
    return defined $out ? $out : Qpstat::_rethrow($@);
}

1;

__END__

=head1 NAME

Qpstat::Agg - mail statistics over qpsmtpd log lines (qpstat report as an object)

=head1 SYNOPSIS

    use Qpstat::Agg;

    my $agg = Qpstat::Agg->new(since => $midnight, utc => 1);
    $agg->add_file('/var/log/qpsmtpd');          # multilog dir, files, .gz
    $agg->add_line($line);                       # or line by line
    $agg->merge($other_agg);

    my $counts = $agg->counts;                   # lines read, parsed, by kind
    for my $row (@{ $agg->rows('disposition') }) {
        print "$row->{key} $row->{count} $row->{percent}\n";
    }
    print $agg->report(format => 'csv', by => 'dnsbl');

=head1 DESCRIPTION

An aggregator counts every dimension of C<qpstat report> in one pass over
the lines it is given: dispositions, DNSBL services, sender TLDs, the
disposition x TLD matrix, hours, days, senders, recipient domains, remote
IPs, HELO names, SpamAssassin scores and verdicts, connection facts and
connection times. Memory stays bounded: each keyed table keeps at most
C<capacity> keys (then counts become estimates, see L</approximate>).

Every line is counted: a line that is not a qpsmtpd line is counted as
invalid, never an error. The numbers equal those of C<qpstat report> on
the same lines with the same options.

=head1 METHODS

=head2 new

    my $agg = Qpstat::Agg->new(%options);

Options (all optional):

=over

=item since, until

unix seconds: keep only lines with C<since E<lt>= time E<lt> until> (lines
without a time are then counted as C<untimed> and skipped);

=item today, yesterday, days

as the CLI's C<--today>, C<--yesterday> and C<--days N> (one of the three;
N from 1 to 100000): local calendar days, or the last N*24 hours, counted
from now; since and until, when given too, replace the start and the end.
The core reads them as it reads the CLI's options, so the same values are
taken and refused with the same words; a range whose start is not before
its end croaks;

=item utc

true: hour and day tables in UTC instead of local time (C<TZ>);

=item prefix

the logterse prefix, default C<`>;

=item capacity

distinct keys kept per table, default 20000;

=item now

unix seconds that year-less syslog stamps and the relative time options
are read against, default now;

=item where

C<'KEY=VALUE'> or an array of them, as the CLI's C<--where> (all must
match): only the transactions a table counts under that key, KEY a table
(C<disposition>, C<dnsbl>, C<tld>, C<sender>, C<recipient>, C<ip>, C<helo>,
C<hour>, C<day>, C<score>, C<spam>, C<server>) or C<code>.

=back

Croaks C<Qpstat::Agg::new: ...> on an unknown option or a bad value.

=head2 add_line

    my $parsed = $agg->add_line($line);

Adds one line (bytes; a trailing newline is ignored). Returns true when the
line was a qpsmtpd line, false when it was counted as invalid.

=head2 add_lines

    my $parsed = $agg->add_lines(@lines);

Adds many lines in one call; returns how many were not invalid.

=head2 add_file

    $agg->add_file(@paths);

Reads files, gzip files (recognised by content) and directories (see
L<Qpstat/log_files>) in time order, with the reader and line splitter of
C<qpstat report>, so the counts are its counts. Returns the aggregator.
Croaks C<Qpstat::Agg::add_file: cannot read FILE: why> for a read error, a
truncated C<.gz> or a bad CRC, after counting every intact line before it.

=head2 feed, finish

    $agg->feed($chunk) while read($fh, $chunk, 65536);
    $agg->finish;

Adds a byte stream cut anywhere: complete lines are added, a partial last
line waits for the next chunk. Call C<finish> at the end of each stream.

=head2 merge

    $agg->merge($other);

Adds every count of C<$other> (another C<Qpstat::Agg>) into C<$agg>. Merging
two aggregators of the two halves of a log equals aggregating the whole.

=head2 counts

    my $c = $agg->counts;

A new hash: C<lines_read lines_parsed lines_invalid out_of_range untimed
transactions>, C<first> and C<last> (the unix times of the earliest and latest
timed transaction counted; 0 when none), C<kinds> (a hash of line counts by kind, the names of
L<Qpstat/parse_line>) and C<invalid> (counts by reason: C<empty nul too_long
label time no_pid truncated>), as in the JSON report.

=head2 rows

    my $rows = $agg->rows('tld');

The rows of a keyed dimension in report order, as a new array of hashes
with C<key> (also under the dimension's own name, as in the JSON report),
C<count>, C<percent> (of L</total>, unrounded) and C<error> (0, or the
bound of the overcount when the table overflowed). The rows of
C<disposition,tld> have C<disposition> and C<tld> instead of C<key>.
The metric dimensions C<connections> and C<connection-time> have no rows:
see L</conn_stats>.

=head2 total

    my $n = $agg->total('dnsbl');

What the percentages of a dimension refer to: transactions for most, DNSBL
denials for C<dnsbl>, recipients for C<recipient>.

=head2 approximate

True when a table of the dimension overflowed its capacity: its counts are
then estimates (Space-Saving), each with its C<error> bound.

=head2 conn_stats

    my $c = $agg->conn_stats;

A new hash: C<accepted> connections, C<peak> concurrency, the configured
C<limit>, C<too_many> waits, C<hosts_allow> denials, C<queue_accepted> messages, C<timed> connections
and their time in seconds: C<mean p50 p90 p99 max>.

=head2 spam_stats

A new hash: C<spam>, C<ham>, C<none> (transactions by SpamAssassin verdict)
and C<spam_mean>, C<ham_mean> (mean scores).

=head2 report

    my $text = $agg->report(format => 'text', by => ['disposition', 'tld'], top => 10);

The report C<qpstat report> prints, as a byte string. Options:

=over

=item format

C<text> (default), C<csv> (one table), C<json>, C<mail> (the daily mail
of C<qpstat report --mail>, a complete message for C<sendmail -t>;
C<mail_date> is the date text of its Subject, by default the dates of the
aggregator's time selection, as the CLI writes them; C<mail_to> and
C<mail_from> its To and From, default C<admin> and C<qpstat>; C<html>
true makes it multipart/alternative with an HTML part; its Date is the
aggregator's C<now>);

=item by

dimension names, as an array or a comma-separated string
(C<'disposition,tld'> is one table); default all (C<disposition> for csv);

=item top

rows per table; default all, and 20 for sender, recipient, ip and helo.

=back

=head1 THREADS AND FORK

An aggregator is plain memory: it may be used in a forked child. It is not
copied into new threads (C<CLONE_SKIP>).

=head1 SEE ALSO

L<Qpstat>, L<Qpstat::Store>, L<qpstat(1)>.

=cut
