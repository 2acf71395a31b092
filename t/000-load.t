use strict;
use warnings;
use Test::More;

use_ok('Qpstat');
use_ok('Qpstat::Agg');
use_ok('Qpstat::Store');
use_ok('Qpstat::Plugin');
is(Qpstat::library_version(), $Qpstat::VERSION, 'the C library and the Perl module have one version');
like(Qpstat::library_version(), qr/^\d+\.\d+\.\d+$/, 'version looks like x.y.z');

done_testing;
