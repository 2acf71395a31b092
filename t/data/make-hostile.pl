#!/usr/bin/perl
# t/data/make-hostile.pl - writes t/data/hostile.log, the hostile corpus of
# t/545-hostile.t: qpsmtpd 0.93+ multilog lines whose remote-controlled
# fields (HELO, sender, recipients, deny text, spam field) carry what must
# never act on a terminal, a spreadsheet or a JSON parser. Deterministic;
# run from anywhere:
#
#     perl t/data/make-hostile.pl
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;

my $dir = dirname(File::Spec->rel2abs(__FILE__));
my $t = 0x6b07390d;    # 2026-11-23, the fixtures' days
my $n = 0;
my @out;
sub line {
    my ($pid, $text) = @_;
    push @out, sprintf('@4000000%09x%08x %d %s', $t + $n, 0x1f43b72c, $pid, $text) . "\n";
    $n++;
}
sub terse {
    my ($pid, $ip, $helo, $from, $rcpt, $disp, $code, $text, $spam) = @_;
    line($pid, '(' . ($disp eq 'queued' ? 'queue' : 'deny') . ') logging::logterse: ` '
        . join("\t", $ip, 'Unknown', $helo, $from, $rcpt, $disp, $code, $text, $spam));
}
my $big = '9' x 400;    # overflows a double: strtod gives inf

# 1: terminal escape sequences, raw C1 (0x9b = CSI), UTF-8 U+009B, invalid UTF-8,
#    a 400-digit spam score
line(4001, 'Accepted connection 0/15 from 192.0.2.10 / evil.example');
line(4001, "dispatching HELO evil\e[2J\e]0;pwned\a.example");
terse(4001, '192.0.2.10', "evil\e[2J\e]0;pwned\a.example", "<a\x9b" . "31m\@b.example>",
    "<r\xc2\x9b" . "31m\@x.org>", 'queued', '', "<id\xff\xfe\xc3\x28\@evil>", "Yes, score=$big required=5.0");
line(4001, '(post-connection) connection_time: 1.500 s.');
line(4000, 'cleaning up after 4001');

# 2: spreadsheet formulas, TABs in the deny text, a negative score
line(4002, 'Accepted connection 1/15 from 192.0.2.11 / calc.example');
terse(4002, '192.0.2.11', '=1+2', '@SUM(A1:A9)', " -2+3\@x.example", 'spamassassin', '550',
    "spam\tscore\texceeded", 'No, score=-2.0 required=5.0');
terse(4002, '192.0.2.11', '+cmd|calc', "\r=HYPERLINK(\"http://evil/\")", '<r@x.org>', 'queued', '', '<id2@x>',
    'No, score=-3.5 required=5.0');
line(4002, '(post-connection) connection_time: 0.250 s.');

# 3: bidirectional overrides and isolates, line/paragraph separators, a
#    literal backslash-x1b that must not pass for an escaped ESC
line(4003, 'Accepted connection 2/15 from 192.0.2.12 / bidi.example');
terse(4003, '192.0.2.12', "gpj\xe2\x80\xae" . 'exe.example', "<x\xe2\x80\xa8y\@z.example>",
    "<p\xe2\x80\xa9q\@r.example>", 'check_earlytalker', '554', 'see \x1b[31m here \\ and \\\\',
    'msg denied before queued');
terse(4003, '192.0.2.12', "iso\xe2\x81\xa6late\xe2\x81\xa9\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c", "<a\@b.\xe2\x80\xaegro>",
    '<r@x.org>', 'dnsbl', '550', "see \xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x81\xa7\xe2\x81\xa8",
    'msg denied before queued');
line(4003, '(post-connection) connection_time: 2.000 s.');

# 4: a NUL byte (an invalid line), DEL, and a connection that never ends
line(4004, "Accepted connection 3/15 from 192.0.2.13 / nul\x00.example");
line(4005, 'Accepted connection 3/15 from 192.0.2.14 / never.example');
terse(4005, '192.0.2.14', "del\x7f\x01\x1f", '<>', '<r@x.org>', 'queued', '', '<id5@x>', '');

open my $fh, '>:raw', "$dir/hostile.log" or die "cannot write $dir/hostile.log: $!\n";
print {$fh} @out;
close $fh or die "cannot write $dir/hostile.log: $!\n";
