package Qpsmtpd::Constants;
# A stand-in of qpsmtpd 0.94's Qpsmtpd::Constants for t/400-plugin.t: the same
# values and exports, nothing else.
use strict;
use warnings;
use Exporter 'import';

my %log_levels = (
    LOGDEBUG => 7, LOGINFO => 6, LOGNOTICE => 5, LOGWARN  => 4, LOGERROR => 3,
    LOGCRIT  => 2, LOGALERT => 1, LOGEMERG => 0, LOGRADAR => 0,
);
my %return_codes = (
    OK => 900, DENY => 901, DENYSOFT => 902, DENYHARD => 903, DENY_DISCONNECT => 903,
    DENYSOFT_DISCONNECT => 904, DECLINED => 909, DONE => 910, CONTINUATION => 911, YIELD => 911,
);
our @EXPORT = (keys(%return_codes), keys(%log_levels), 'return_code', 'log_level');
{
    no strict 'refs';
    while (my ($k, $v) = each %return_codes) { *{$k} = sub () { $v } }
    while (my ($k, $v) = each %log_levels)   { *{$k} = sub () { $v } }
}
sub return_code { my %r = reverse %return_codes; $_[0] =~ /^\d+$/ ? $r{ $_[0] } : $return_codes{ $_[0] } }
sub log_level   { $_[0] =~ /^\d+$/ ? undef : $log_levels{ $_[0] } }

1;
