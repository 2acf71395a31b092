#!/usr/bin/perl
# t/534-received.t - `qpstat received`: recent Maildir messages and the IP
# that delivered them. A temporary users/ tree with two Maildirs (and a
# Maildir++ subfolder) holds messages with qpsmtpd, Exim and Postfix
# Received: headers, folded and CRLF headers, local hops to skip, an old
# message, and odd files: empty, binary, a FIFO (must not hang), a symlink
# (not followed), files in tmp/, then unreadable files and directories (run
# as nobody when the test runs as root).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin run_cmd slurp);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG mkfifo);
use Time::HiRes qw(sleep time);

my $Q = qpstat_bin();
plan skip_all => 'no qpstat binary (build first or set QPSTAT)' unless $Q;
$ENV{LC_ALL} = 'C';
my $NOW = 1795640400;    # 2026-11-25 21:00 UTC
$ENV{QPSTAT_NOW} = $NOW;

my $TMP = tempdir(CLEANUP => 1);
chmod 0755, $TMP;
my $U = "$TMP/users";

# Writes a message delivered $age seconds before now.
sub msg {
    my ($path, $age, $text) = @_;
    open my $fh, '>:raw', $path or die "cannot write $path: $!";
    print {$fh} $text;
    close $fh or die;
    utime $NOW - $age, $NOW - $age, $path or die;
}

# Runs qpstat (optionally as uid); (stdout, stderr, status, seconds).
sub run {
    my ($args, %o) = @_;
    return (run_cmd([$Q, @$args], %o))[0 .. 3];
}

my $A = "$U/alice/Maildir";
my $B = "$U/bob/Maildir";
make_path("$A/$_", "$B/$_", "$B/.Sent/$_") for qw(new cur tmp);

# 1. qpsmtpd, folded; the second hop (inside the sender's network) is older
msg("$A/new/1795640000.M1P1.mx", 400, <<'EOF');
Return-Path: <a@sender.example>
Delivered-To: alice@example.com
Received: (qmail 4121 invoked by uid 453); 25 Nov 2026 20:53:20 -0000
Received: from mail.sender.example (HELO mail.sender.example) (198.51.100.23)
  by mx.example.com (qpsmtpd/0.94) with ESMTP; Wed, 25 Nov 2026 20:53:20 +0000
Received: from pc (HELO pc.lan) (10.1.1.5)
  by mail.sender.example; Wed, 25 Nov 2026 20:53:19 +0000
Subject: one

Received: from body (HELO body) (1.1.1.1)
EOF
# 2. webmail relayed through localhost first; CRLF; a name with a colon
msg("$A/cur/1795639000.M2P2.mx:2,S", 1400, join "\r\n",
    'Received: from localhost (HELO localhost) (127.0.0.1)',
    '  by mx.example.com (qpsmtpd/0.94) with ESMTP; Wed, 25 Nov 2026 20:36:40 +0000',
    'Received: from out.example.net (HELO out.example.net) (203.0.113.40)',
    '  by relay.example.com with ESMTP',
    'Subject: two', '', 'body', '');
# 3. the server's own LocalIP first; then a HELO that names the LocalIP
#    (the seed's grep -v LocalIP dropped such a header)
msg("$B/new/1795638000.M3P3.mx", 2400, <<'EOF');
Received: from mx.example.com (HELO mx.example.com) (192.168.1.10)
  by mx.example.com (qpsmtpd/0.94) with ESMTP
Received: from liar (HELO 192.168.1.10) (198.51.100.99)
  by mx.example.com (qpsmtpd/0.94) with ESMTP
Subject: three

EOF
# 4. Exim style: the HELO argument is an IP literal, the peer in brackets
msg("$B/cur/1795637000.M4P4.mx:2,", 3400, <<'EOF');
Received: from host.example ([203.0.113.9] helo=5.5.5.5)
	by mx.example.com with esmtp (Exim 4.96)
Subject: four

EOF
# 5. IPv6 qpsmtpd header, in a Maildir++ subfolder
msg("$B/.Sent/cur/1795636000.M5P5.mx:2,S", 4400, <<'EOF');
Received: from v6.example (HELO v6.example) (2001:db8::7)
  by mx.example.com (qpsmtpd/0.94) with ESMTP
Subject: five

EOF
# 6. Postfix style, no HELO/EHLO: not listed (as in the seed)
msg("$B/new/1795635000.M6P6.mx", 5400, "Received: from mx.other.example (mx.other.example [192.0.2.77])\n\tby mx (Postfix)\n\nx\n");
# 7. only local hops: not listed
msg("$B/new/1795634000.M7P7.mx", 6400, "Received: from localhost (HELO localhost) (::1)\n by mx\n\nx\n");
# 8. three days old
msg("$A/cur/1795380000.M8P8.mx:2,S", 3 * 86400, "Received: from old.example (HELO old.example) (192.0.2.200)\n by mx\n\nx\n");
# odd files
msg("$A/new/empty", 10, '');
msg("$A/new/binary", 10, join('', map { chr(($_ * 7919) % 256) } 1 .. 5000));
msg("$A/new/long", 10, 'Received: from x (HELO ' . ('y' x 20000) . ") (192.0.2.250)\n\n");
msg("$A/tmp/1795640300.M9P9.mx", 10, "Received: from tmp (HELO tmp) (192.0.2.9)\n\n");    # still being delivered
msg("$TMP/outside", 10, "Received: from out (HELO out) (192.0.2.66)\n\n");
symlink "$TMP/outside", "$A/new/link" or die;
mkfifo("$A/new/fifo", 0644) or die "mkfifo: $!";
msg("$A/maildirsize", 10, "Received: from no (HELO no) (192.0.2.8)\n\n");    # not in new/ or cur/

my $E1 = "$A/new/1795640000.M1P1.mx\t198.51.100.23\tmail.sender.example\n";
my $E2 = "$A/cur/1795639000.M2P2.mx:2,S\t203.0.113.40\tout.example.net\n";
my $E3 = "$B/new/1795638000.M3P3.mx\t198.51.100.99\t192.168.1.10\n";
my $E3local = "$B/new/1795638000.M3P3.mx\t192.168.1.10\tmx.example.com\n";
my $E4 = "$B/cur/1795637000.M4P4.mx:2,\t203.0.113.9\t5.5.5.5\n";
my $E5 = "$B/.Sent/cur/1795636000.M5P5.mx:2,S\t2001:db8::7\tv6.example\n";
my $E8 = "$A/cur/1795380000.M8P8.mx:2,S\t192.0.2.200\told.example\n";
my $ELONG = "$A/new/long\t192.0.2.250\t" . ('y' x 255) . "\n";

my ($out, $err, $rc, $secs) = run(['received', '--local-ip', '192.168.1.10', $U]);
is($rc, 0, 'received: exit 0') or diag $err;
is($err, '', 'nothing on stderr');
is($out, $E5 . $E4 . $E3 . $E2 . $E1 . $ELONG,
    'oldest first: IPv6, Exim helo=, LocalIP skipped, localhost skipped + CRLF, folded qpsmtpd; '
        . 'odd files skipped, FIFO not opened, symlink and tmp/ ignored, whole names with ":2,S"');
cmp_ok($secs, '<', 10, 'no hang on the FIFO');

($out) = run(['received', $U]);
like($out, qr/^\Q$E3local\E/m, 'without --local-ip the LocalIP hop is taken as external');
($out) = run(['received', '--local-ip', '192.168.1.10', '--days', '5', $U]);
is($out, $E8 . $E5 . $E4 . $E3 . $E2 . $E1 . $ELONG, '--days 5 takes in the old message');
($out) = run(['received', '--local-ip', '192.168.1.10', $B, "$A/new/1795640000.M1P1.mx"]);
is($out, $E5 . $E4 . $E3 . $E1, 'a Maildir and a message file named directly');
($out) = run(['received', '--local-ip', '::ffff:192.168.1.10', $B]);
is($out, $E5 . $E4 . $E3, '--local-ip in IPv4-mapped form matches too');

# ---- bad input ------------------------------------------------------------------
($out, $err, $rc) = run(['received', "$TMP/none"]);
is($rc, 1, 'a missing Maildir: exit 1');
like($err, qr/^qpstat received: cannot read \Q$TMP\E\/none: No such file or directory$/m, '... with a clear message');
($out, $err, $rc) = run(['received']);
is($rc, 2, 'no Maildir: exit 2');
($out, $err, $rc) = run(['received', '--local-ip', 'mx.example.com', $U]);
is($rc, 2, 'a --local-ip that is not an address: exit 2');
($out, $err, $rc) = run(['received', '--days', '-1', $U]);
is($rc, 2, 'a bad --days: exit 2');
($out, $err, $rc) = run(['received', "$A/new/fifo"]);
is($rc, 1, 'a FIFO named directly: exit 1, no hang');
SKIP: {
    skip 'needs root to run as nobody', 5 unless $> == 0;
    my $uid = getpwnam('nobody');
    skip 'no user nobody', 5 unless defined $uid;
    my $q = $Q =~ m{^/} ? $Q : "./$Q";
    skip "$Q not runnable by nobody", 5 unless (stat $q)[2] & 01;
    system('chmod', '-R', 'a+rX', $TMP) == 0 or die;
    chmod 0000, "$B/.Sent";
    chmod 0000, "$A/new/1795640000.M1P1.mx";
    ($out, $err, $rc) = run(['received', '--local-ip', '192.168.1.10', $U], uid => $uid);
    is($rc, 1, 'an unreadable directory and file: exit 1');
    like($err, qr/^qpstat received: cannot read directory \Q$B\E\/\.Sent: Permission denied$/m, '... names the directory');
    like($err, qr/^qpstat received: cannot open \Q$A\E\/new\/1795640000\.M1P1\.mx: Permission denied$/m, '... names the file');
    is($out, $E4 . $E3 . $E2 . $ELONG, '... and lists the rest');
    chmod 0755, "$B/.Sent";
    chmod 0644, "$A/new/1795640000.M1P1.mx";
    ($out, $err, $rc) = run(['received', '--local-ip', '192.168.1.10', $U], uid => $uid);
    is($rc, 0, '... exit 0 once readable');
}

done_testing;
