package Qpstat;

use strict;
use warnings;

our $VERSION = '0.1.0';

require XSLoader;
XSLoader::load(__PACKAGE__, $VERSION);

1;

__END__

=head1 NAME

Qpstat - qpsmtpd log statistics through the qpstat C core

=head1 SYNOPSIS

    use Qpstat;
    print Qpstat::library_version(), "\n";

=head1 DESCRIPTION

The Perl side of qpstat. It loads the same C core that the C<qpstat>
command uses.

=head2 library_version

Returns the version of the C library, which equals C<$Qpstat::VERSION>.

=cut
