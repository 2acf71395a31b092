#!/usr/bin/perl
# t/data/tools/make-tools-fixtures.pl - writes the fixtures of the operator
# tool tests (t/53x-*.t): hand-written qpsmtpd 0.93+ multilog lines in the
# shapes of formats.md 2.3-2.6 and 3.4-3.6. Deterministic: run it again and
# the files come out byte-identical.
#
#     perl t/data/tools/make-tools-fixtures.pl
#
# multilog-grep/   a multilog directory as SME has it: an old processed log
#                  (@....s, 2026-11-20), an unprocessed one left by a crash
#                  (@....u, 2026-11-21) whose last connection goes on in
#                  current (2026-11-22), state and lock. SME limits: n/40.
# dnsbl.log        logterse records from senders a test DNSBL lists or not
#                  (t/533-dnsbl.t runs the DNS server).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;

my $dir = dirname(File::Spec->rel2abs(__FILE__));
my $T = "\t";

# daemontools: label = 2^62 + 10 + unix, nanoseconds = 1000 * usec + 500
sub label {
    my ($unix, $usec) = @_;
    my $s = $unix + 10;
    return sprintf '@%08x%08x%08x', 0x40000000 + int($s / 4294967296), $s % 4294967296, $usec * 1000 + 500;
}

my @out;
my $usec = 0;
sub at {
    my ($t, $pid, $text) = @_;
    $usec = ($usec + 104729) % 1000000;
    push @out, label($t, $usec) . " $pid $text";
}

sub terse {
    my ($t, $pid, $hook, @f) = @_;
    at($t, $pid, "($hook) logging::logterse: ` " . join($T, @f));
}

sub write_file {
    my ($path, @lines) = @_;
    open my $fh, '>:raw', $path or die "cannot write $path: $!\n";
    print {$fh} map { "$_\n" } @lines;
    close $fh or die "cannot write $path: $!\n";
    printf "wrote %s (%d lines)\n", File::Spec->abs2rel($path), scalar @lines;
}

my $day20 = 1795132800;    # 2026-11-20 00:00:00 UTC
my $day21 = $day20 + 86400;
my $day22 = $day21 + 86400;
my $parent = 19990;

# ---- multilog-grep/@....s: 2026-11-20 ---------------------------------
@out = ();
my $t = $day20 + 9 * 3600;
at($t, $parent, 'Listening on 0.0.0.0:25');
# a sender with upper case letters, queued to two recipients
at($t + 1, 20001, 'Accepted connection 3/40 from 198.51.100.7 / mail.domain.tld');
at($t + 1, 20001, 'Connection from mail.domain.tld [198.51.100.7]');
at($t + 2, 20001, 'dispatching MAIL FROM:<User@Domain.TLD>');
at($t + 2, 20001, '(mail) badmailfrom: pass');
at($t + 3, 20001, '(data_post) spamassassin: pass, Ham, -0.4 < 12, learn=ham');
terse($t + 3, 20001, 'queue', '198.51.100.7', 'mail.domain.tld', 'mail.domain.tld', '<User@Domain.TLD>',
    '<alice@example.com>,<bob@example.com>', 'queued', '', '<abc.1@domain.tld>', 'No, score=-0.4 required=5.0');
at($t + 3, 20001, '250 Queued!');
at($t + 4, 20001, '(post-connection) connection_time: 2.500 s.');
at($t + 4, $parent, 'cleaning up after 20001');
# denied by dnsbl at connect
at($t + 60, 20002, 'Accepted connection 0/40 from 203.0.113.50 / Unknown');
at($t + 60, 20002, '(connect) dnsbl: fail, NAUGHTY');
terse($t + 60, 20002, 'deny', '203.0.113.50', 'Unknown', '', '', '', 'dnsbl', '903',
    'Blocked - see http://www.spamcop.net/bl.shtml?203.0.113.50', 'msg denied before queued');
at($t + 60, 20002, '(post-connection) connection_time: 0.300 s.');
at($t + 61, $parent, 'cleaning up after 20002');
write_file("$dir/multilog-grep/" . substr(label($t + 3600, 0), 0, 25) . '.s', @out);

# ---- multilog-grep/@....u: 2026-11-21, cut by a crash ----------------
@out = ();
$t = $day21 + 10 * 3600;
# spam from a .xyz sender to user@domain.tld, denied by spamassassin
at($t, 20003, 'Accepted connection 39/40 from 192.0.2.77 / Unknown');
at($t + 1, 20003, 'dispatching MAIL FROM:<promo@deals.xyz>');
at($t + 1, 20003, 'dispatching RCPT TO:<user@domain.tld>');
at($t + 2, 20003, '(data_post) spamassassin: fail, Spam, 14.2, > 12, learn=no');
terse($t + 2, 20003, 'deny', '192.0.2.77', 'Unknown', 'deals.xyz', '<promo@deals.xyz>', '<user@domain.tld>',
    'spamassassin', '901', 'spam score exceeded threshold', 'Yes, score=14.2 required=5.0');
at($t + 5, 20003, '(post-connection) connection_time: 5.100 s.');
at($t + 5, $parent, 'cleaning up after 20003');
# the server is full
at($t + 30, $parent, 'Too many connections: 40 >= 40.  Waiting one second.');
# .xyz appears only inside a longer domain: not a ".xyz>" sender
at($t + 40, 20004, 'Accepted connection 1/40 from 192.0.2.88 / Unknown');
terse($t + 41, 20004, 'queue', '192.0.2.88', 'Unknown', 'mx.b.xyz.com', '<a@b.xyz.com>', '<carol@example.com>',
    'queued', '', '<q.4@b.xyz.com>', 'No, score=1.1 required=5.0');
at($t + 41, 20004, '(post-connection) connection_time: 1.100 s.');
at($t + 41, $parent, 'cleaning up after 20004');
# this connection goes on in current
at($t + 50, 20005, 'Accepted connection 2/40 from 192.0.2.99 / Unknown');
at($t + 50, 20005, 'dispatching MAIL FROM:<spam@win.xyz>');
write_file("$dir/multilog-grep/" . substr(label($t + 3600, 0), 0, 25) . '.u', @out);

# ---- multilog-grep/current: 2026-11-22 -------------------------------
@out = ();
$t = $day22 + 11 * 3600;
# the rest of 20005: denied at MAIL FROM, so the record has no sender
at($t, 20005, '(mail) badmailfrom: fail');
terse($t, 20005, 'deny', '192.0.2.99', 'Unknown', 'win.xyz', '', '', 'badmailfrom', '901',
    'Your envelope sender is in my badmailfrom list', 'msg denied before queued');
at($t + 1, 20005, '(post-connection) connection_time: 0.900 s.');
at($t + 1, $parent, 'cleaning up after 20005');
at($t + 20, $parent, '(pre-connection) hosts_allow: fail: too many connections from 192.0.2.66 (6 > 5)');
terse($t + 20, $parent, 'deny', '', '', '', '', '', 'hosts_allow', '902',
    'too many connections from 192.0.2.66, try again later', 'msg denied before queued');
at($t + 30, 20006, 'Accepted connection 0/40 from 2001:db8::25 / mail.v6.example');
at($t + 31, 20006, "dispatching EHLO evil\e[31m.example");
terse($t + 31, 20006, 'queue', '2001:db8::25', 'mail.v6.example', "evil\e[31m.example", '<ops@v6.example>',
    '<user@domain.tld>', 'queued', '', '<v6.1@v6.example>', 'No, score=0.2 required=5.0');
at($t + 32, 20006, '(post-connection) connection_time: 12.250 s.');
at($t + 32, $parent, 'cleaning up after 20006');
write_file("$dir/multilog-grep/current", @out);
write_file("$dir/multilog-grep/state");
write_file("$dir/multilog-grep/lock");

# ---- dnsbl.log -------------------------------------------------------
# test zone (t/533): 192.0.2.1 -> 127.0.0.2 + TXT; 192.0.2.2 not listed (but its
# sender contains "127.0", which the seed's grep took for a listing);
# 2001:db8::1 -> 127.0.0.4; 198.51.100.9 -> 127.255.255.254 (a refused
# query, not a listing); 203.0.113.5 -> 127.0.0.3 with two TXT records, one
# of two strings and one holding an ESC byte.
@out = ();
$t = $day22 + 8 * 3600;
my $n = 0;
sub rec {
    my ($when, $ip, $disp, $code, $sender, $rcpts, $spam) = @_;
    my $pid = 21000 + 2 * $n++;
    at($when, $pid, "Accepted connection 0/40 from $ip / Unknown");
    terse($when, $pid, $disp eq 'queued' ? 'queue' : 'deny', $ip, 'Unknown', 'helo.example', $sender, $rcpts,
        $disp, $code, $disp eq 'queued' ? "<m$n\@example>" : 'denied', $spam);
    at($when + 1, $pid, '(post-connection) connection_time: 1.000 s.');
}
rec($day20 + 3600, '192.0.2.1', 'queued', '', '<old@example.org>', '<a@example.com>', 'No, score=0.5 required=5.0');
rec($t, '192.0.2.1', 'queued', '', '<news@example.org>', '<a@example.com>,<b@example.com>',
    'No, score=1.5 required=5.0');
rec($t + 60, '192.0.2.2', 'queued', '', '<root@127.0.0.1.example.net>', '<a@example.com>',
    'No, score=-1.0 required=5.0');    # "127.0" in the line, yet not listed
rec($t + 120, '2001:db8::1', 'spamassassin', '901', '<x@v6.example>', '<a@example.com>',
    'Yes, score=9.9 required=5.0');
rec($t + 180, '192.0.2.1', 'dnsbl', '903', '', '', 'msg denied before queued');
rec($t + 240, '198.51.100.9', 'queued', '', '<y@example.com>', '<a@example.com>', 'No, hits=2.0 required=5.0_');
rec($t + 300, '::ffff:192.0.2.1', 'check_earlytalker', '901', '', '', 'msg denied before queued');
rec($t + 360, '203.0.113.5', 'queued', '', '<127.0.0.9@example.com>', '<a@example.com>',
    'No, score=3.0 required=5.0');
terse($t + 400, $parent, 'deny', '', '', '', '', '', 'hosts_allow', '902', 'too many connections', 'msg denied before queued');
write_file("$dir/dnsbl.log", @out);
