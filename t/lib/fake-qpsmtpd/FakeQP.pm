package FakeQP;
# The qpsmtpd objects a plugin meets, as small as t/400-plugin.t needs:
# FakeQP (the Qpsmtpd object: connection, hooks, varlog with 0.94's
# built-in stderr logger, captured), FakeQP::Connection,
# FakeQP::Transaction, FakeQP::Address (stringifies as Qpsmtpd::Address)
# and FakeQP::Header (Mail::Header's get: values keep their newline, the
# first one in scalar context).
use strict;
use warnings;

our $TraceLevel = 6;

sub new {
    my ($class, %a) = @_;
    return bless { connection => $a{connection}, hooks => $a{hooks} || {}, stderr => [], calls => [] }, $class;
}
sub connection { $_[0]{connection} }
sub hooks      { $_[0]{hooks} }

# Qpsmtpd::varlog of 0.94, no logging plugin: the line goes to stderr
# (captured here instead of warn()).
sub varlog {
    my ($self, $trace) = (shift, shift);
    my ($hook, $plugin, @log);
    if    ($#_ == 0) { (@log) = @_ }
    elsif ($#_ == 1) { ($hook, @log) = @_ }
    else             { ($hook, $plugin, @log) = @_ }
    push @{ $self->{calls} }, [$trace, $hook, $plugin, @log];
    return if $trace > $TraceLevel;
    my $prefix =
        defined $plugin && defined $hook ? " ($hook) $plugin:"
      : defined $plugin ? " $plugin:"
      : defined $hook   ? " ($hook) running plugin:"
      :                   '';
    push @{ $self->{stderr} }, join(' ', $$ . $prefix, @log);
}

package FakeQP::Connection;
sub new { my ($c, %a) = @_; bless {%a}, $c }
sub remote_ip   { $_[0]{remote_ip} }
sub remote_host { $_[0]{remote_host} }
sub hello_host  { $_[0]{hello_host} }
sub notes       { my ($s, $k, $v) = @_; $s->{notes}{$k} = $v if @_ > 2; $s->{notes}{$k} }

package FakeQP::Address;
use overload '""' => sub { $_[0]->format }, fallback => 1;
sub new { my ($c, $addr) = @_; bless { addr => $addr }, $c }
sub format { my $a = $_[0]{addr}; defined $a && length $a ? "<$a>" : '<>' }

package FakeQP::Header;
sub new { my ($c, @pairs) = @_; bless { h => [@pairs] }, $c }
sub get {
    my ($self, $tag) = @_;
    my @h = @{ $self->{h} };
    my @v;
    while (my ($k, $v) = splice @h, 0, 2) { push @v, $v if lc $k eq lc $tag }
    return wantarray ? @v : $v[0];
}

package FakeQP::Transaction;
sub new { my ($c, %a) = @_; bless { recipients => [], %a }, $c }
sub sender     { $_[0]{sender} }
sub recipients { @{ $_[0]{recipients} } }
sub header     { $_[0]{header} }
sub notes      { my ($s, $k, $v) = @_; $s->{notes}{$k} = $v if @_ > 2; $s->{notes}{$k} }

1;
