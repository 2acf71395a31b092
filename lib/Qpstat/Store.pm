package Qpstat::Store;

use strict;
use warnings;

use Carp ();
use Scalar::Util ();
use Qpstat ();
use Qpstat::Agg ();

our $VERSION = $Qpstat::VERSION;
our @CARP_NOT = qw(Qpstat Qpstat::Agg);

my %OPEN_OPTS   = map { $_ => 1 } qw(create readonly busy_ms prefix server);
my %RECORD_OPTS = map { $_ => 1 } qw(time server source);
my %AGG_OPTS    = map { $_ => 1 } qw(since until today yesterday days now utc prefix capacity where with);
my %REPORT_OPTS = (%AGG_OPTS, map { $_ => 1 } qw(format by top mail_date mail_to mail_from html));
my %SOURCE      = (import => 1, plugin => 2);    # QPS_SOURCE_*
use constant { READONLY => 1, CREATE => 2 };     # QPS_STORE_*

# An object holds a C pointer (and an SQLite handle): a thread clone must
# not share it.
sub CLONE_SKIP { 1 }

sub open {
    my ($class, $path, @args) = @_;
    my $m = 'Qpstat::Store::open';
    Carp::croak("$m: which file?") unless defined $path && !ref $path && length $path;
    my %o = Qpstat::Agg::_opts($m, \%OPEN_OPTS, @args);
    Carp::croak("$m: create and readonly exclude each other") if $o{create} && $o{readonly};
    my $busy = $o{busy_ms} // 5000;
    Carp::croak("$m: busy_ms must be a whole number of milliseconds, not '$busy'")
      unless !ref $busy && $busy =~ /\A[0-9]{1,9}\z/;
    Carp::croak("$m: prefix must be a non-empty string")
      if defined $o{prefix} && (ref $o{prefix} || $o{prefix} eq '');
    my $flags = ($o{readonly} ? READONLY : 0) | ($o{create} ? CREATE : 0);
    return eval { $class->_open($path, $flags, $busy, $o{prefix}, $o{server}, $o{server}) } || Qpstat::_rethrow($@);
}

sub record_line {
    my ($self, $line, @args) = @_;
    my $m = 'Qpstat::Store::record_line';
    my %o = Qpstat::Agg::_opts($m, \%RECORD_OPTS, @args);
    my $source = $o{source} // 'import';
    Carp::croak("$m: source is 'plugin' or 'import', not '$source'") unless exists $SOURCE{$source};
    my $time = $o{time} // 0;
    Carp::croak("$m: time must be unix seconds, not '$time'")
      unless !ref $time && $time =~ /\A[0-9]{1,15}(?:\.[0-9]*)?\z/;
    my $sec  = int $time;
    my $nsec = int(($time - $sec) * 1e9 + 0.5);
    $nsec = 999_999_999 if $nsec > 999_999_999;
    # one log line: a log would hold what follows a newline as a line of its own
    $line =~ s/\n.*//s if defined $line && !ref $line;
    my $added = eval { $self->_record_line($line, $sec, $nsec, $o{server}, $SOURCE{$source}) };
    return $added ? 1 : 0 if defined $added;
    Qpstat::_rethrow($@);
}

sub import_logs {
    my ($self, @paths) = @_;
    my $m = 'Qpstat::Store::import_logs';
    Carp::croak("$m: not an object") unless ref $self;
    my $server = ref $paths[0] eq 'HASH' ? shift(@paths)->{server} : undef;
    Carp::croak("$m: no path given") unless @paths;
    my $added = 0;
    for my $file (Qpstat::log_files(@paths)) {
        Carp::croak("$m: standard input cannot be resumed: name the files") if $file eq '-';
        $added += eval { $self->_import_file($file, $server) } // Qpstat::_rethrow($@);
    }
    return $added;
}

# `use Qpstat::Store` calls Qpstat::Store->import: only an object imports logs.
sub import {
    my $self = shift;
    return unless ref $self;
    return $self->import_logs(@_);
}

# The store and those of `with` (other servers' stores) into one aggregate.
sub _stores {
    my ($self, $m, $o) = @_;
    my $with = delete $o->{with} // [];
    $with = [$with] unless ref $with eq 'ARRAY';
    my %seen = ($$self => 1);
    for (@$with) {
        Carp::croak("$m: with takes Qpstat::Store objects") unless Scalar::Util::blessed($_) && $_->isa(__PACKAGE__);
        Carp::croak("$m: a store given twice (in with, or the store itself) would count twice") if $seen{$$_}++;
    }
    return ($self, @$with);
}

sub _aggregate_all {
    my ($agg, @stores) = @_;
    for my $s (@stores) {
        eval { $s->_aggregate($agg); 1 } or Qpstat::_rethrow($@);
    }
    return $agg;
}

sub aggregate {
    my ($self, @args) = @_;
    my %o = Qpstat::Agg::_opts('Qpstat::Store::aggregate', \%AGG_OPTS, @args);
    my @stores = $self->_stores('Qpstat::Store::aggregate', \%o);
    return _aggregate_all(Qpstat::Agg->_new_for('Qpstat::Store::aggregate', %o), @stores);
}

sub prune {
    my ($self, $before) = @_;
    my $m = 'Qpstat::Store::prune';
    Carp::croak("$m: before must be unix seconds, not '" . ($before // 'undef') . "'")
      unless defined $before && !ref $before && $before =~ /\A-?[0-9]{1,15}\z/;
    return eval { $self->_prune($before) } // Qpstat::_rethrow($@);
}

sub report {
    my ($self, @args) = @_;
    my %o = Qpstat::Agg::_opts('Qpstat::Store::report', \%REPORT_OPTS, @args);
    my %r = map { exists $o{$_} ? ($_ => delete $o{$_}) : () } qw(format by top mail_date mail_to mail_from html);
    # as `qpstat report --mail`: today and yesterday unless a time is given
    $o{_mail_default} = 1 if ($r{format} // '') eq 'mail';
    my @stores = $self->_stores('Qpstat::Store::report', \%o);
    return _aggregate_all(Qpstat::Agg->_new_for('Qpstat::Store::report', %o), @stores)->report(%r);
}

1;

__END__

=head1 NAME

Qpstat::Store - the qpstat SQLite store: record, import, report

=head1 SYNOPSIS

    use Qpstat::Store;

    my $store = Qpstat::Store->open('/var/lib/qpstat/qpstat.db', create => 1);
    my $new   = $store->import_logs('/var/log/qpsmtpd');     # as `qpstat import`
    $store->record_line($line, time => $epoch, source => 'plugin');
    print $store->report(by => 'disposition', since => time - 86400);
    my $agg = $store->aggregate(since => $since);           # a Qpstat::Agg

=head1 DESCRIPTION

One SQLite file holds the logterse records and the connection facts
(accepted connections, "too many connections" waits, hosts_allow denials,
connection times, the queue's acceptances) with the fields a report
reads, and the bookkeeping that makes every import resumable and
idempotent (the schema is in the README; a store of an older schema is
migrated when it is first opened for writing). The qpsmtpd plugin
records live; C<qpstat import> (or L</import_logs>) adds what is in the
logs. A record written by the plugin and the same record read later from
the log are stored once (same process id and fields within 30 seconds).

Errors croak C<Qpstat::Store::E<lt>methodE<gt>: E<lt>messageE<gt>>, with the
store's own message (a locked, read-only, corrupt or foreign file, a newer
schema). A failed call changes nothing.

=head1 METHODS

=head2 open

    my $store = Qpstat::Store->open($path, %options);

Options: C<create> (create the file, mode 0640, and its schema when missing;
the directory must exist), C<readonly> (reports only), C<busy_ms> (how long
to wait for a lock held by another process, default 5000), C<prefix> (the
logterse prefix of the lines given to L</record_line>, default C<`>),
C<server> (the host name stored with each record whose line names none,
default none; a store this call creates is named after it, see
L</server, set_server>).

Croaks C<Qpstat::Store::open: PATH: MESSAGE>, e.g. C<not a qpstat store>,
C<the store has schema version 99, newer than this qpstat (6)>, C<cannot
write the store: it is read-only>. The file is left as it was.

=head2 record_line

    my $added = $store->record_line($line, time => $epoch, source => 'plugin', server => $host);

Parses one log line (up to its first newline) and stores it if it is a
logterse record or a connection fact; returns 1 when a row was added, 0 for
any other line and for the second copy of a record (the log's copy of a
record the plugin stored, or the reverse). C<time> (unix seconds, may be
fractional) is used when the line carries no time of its own; C<source> is
C<plugin> or C<import> (default). Outside L</begin, commit, rollback> each line is
committed at once.

=head2 begin, commit, rollback

    $store->begin;
    $store->record_line($_) for @lines;
    $store->commit;

Groups writes: stored all at once or not at all.

=head2 import_logs

    my $added = $store->import_logs(@paths);
    my $added = $store->import_logs({ server => 'mx1' }, @paths);

Imports log files, gzip files and directories (L<Qpstat/log_files>) as
C<qpstat import> does: each file from where the last import left it, in
batches committed with the file's offset, so running it again, or after a
kill, counts nothing twice. Returns the number of new records. Because
C<use> calls a package's C<import>, C<< $store->import(@paths) >> is the
same call on an object and does nothing on the class.

=head2 aggregate

    my $agg = $store->aggregate(since => $t0, until => $t1, utc => 1);
    my $all = $mx1->aggregate(with => [$mx2, $mx3], where => 'server=mx2');

A new L<Qpstat::Agg> filled with the stored records inside the time
selection (C<since>/C<until> or C<today>, C<yesterday>, C<days>) (and the daily totals of pruned days), whose line counters are
those of the imported files: a report from it equals the report from the
same logs. Options are those of L<Qpstat::Agg/new>, and C<with>: other
stores (of other mail servers) aggregated with this one, as C<qpstat report
--db A --db B> reads them; each record counts under its server (the
C<server> table, C<< where => 'server=NAME' >>).

=head2 report

    print $store->report(format => 'csv', by => 'disposition', since => $t0);

The report of C<qpstat report --db>: the options of L</aggregate> and of
L<Qpstat::Agg/report>. C<format =E<gt> 'mail'> covers today and yesterday
unless a time option is given, and its Subject names the dates, as
C<qpstat report --mail> does.

=head2 server, set_server

    my $name = $store->server;      # 'mx2'
    $store->set_server('mx2');

The name of the mail server whose records the store holds (those whose
lines name no host): kept in the store, set when it is created (the
machine's name, or the C<server> option of L</open>), so a store copied to
another host keeps its server's name. C<undef> for a store of an earlier
qpstat opened read-only.

=head2 prune

    my $removed = $store->prune($before_epoch);

Deletes records older than C<$before_epoch>, keeping their daily totals by
disposition and sender TLD. Returns the number of transactions removed.

=head2 info

A new hash: C<transactions connection_facts files daily_rows first last>.

=head2 close

Closes the handle now (it is closed when the object goes away anyway).
Every later call croaks C<the store is closed>.

=head1 FORK AND THREADS

A store handle belongs to the process that opened it: after C<fork>, open
it again in the child. Using the parent's handle croaks; dropping it in the
child leaves the parent's SQLite connection untouched. Handles are not
copied into new threads (C<CLONE_SKIP>).

=head1 SEE ALSO

L<Qpstat>, L<Qpstat::Agg>, L<Qpstat::Plugin>, C<qpstat import> in
L<qpstat(1)>.

=cut
