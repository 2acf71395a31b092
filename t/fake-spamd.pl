#!/usr/bin/perl
# t/fake-spamd.pl - a tiny stand-in for SpamAssassin's spamd, for tests only.
#
# Speaks enough of the SPAMC/SPAMD protocol for qpsmtpd 0.94's spamassassin
# plugin (plugins/spamassassin: it sends "HEADERS SPAMC/1.4", Content-length,
# User, a blank line and the message, shuts down its write side, and then
# expects "SPAMD/1.1 0 EX_OK" followed by lines; it keeps every line that
# looks like "X-Spam-<Name>: <value>" and folded continuation lines).
#
# Verdict: "Yes, score=1000.0 required=5.0 tests=GTUBE" when the message
# contains the GTUBE string, else "No, score=-1.0 required=5.0 tests=NONE".
#
# Usage: fake-spamd.pl [--port N] [--port-file FILE] [--lifetime SECONDS]
#   --port 0 (default) picks a free port; the port is written to --port-file
#   (atomically, via rename) and printed on stdout as "port N".
#   Listens on 127.0.0.1 only; exits by itself after --lifetime seconds
#   (default 900) so a crashed test can never leave it behind. One child per
#   connection; each connection is bounded to 30 s.
use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Getopt::Long;

my ($port, $port_file, $lifetime) = (0, undef, 900);
GetOptions('port=i' => \$port, 'port-file=s' => \$port_file, 'lifetime=i' => \$lifetime)
    or die "usage: $0 [--port N] [--port-file FILE] [--lifetime S]\n";

my $GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

my $server = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1',
    LocalPort => $port,
    Proto     => 'tcp',
    Listen    => 64,
    ReuseAddr => 1,
) or die "fake-spamd: cannot listen on 127.0.0.1:$port: $!\n";
$port = $server->sockport;

if ($port_file) {
    open my $fh, '>', "$port_file.tmp" or die "fake-spamd: $port_file.tmp: $!\n";
    print $fh "$port\n";
    close $fh or die "fake-spamd: $port_file.tmp: $!\n";
    rename "$port_file.tmp", $port_file or die "fake-spamd: rename $port_file: $!\n";
}
$| = 1;
print "port $port\n";

my $deadline = time + $lifetime;
$SIG{CHLD} = sub { 1 while waitpid(-1, POSIX::WNOHANG()) > 0 };
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{ALRM} = sub { exit 0 };
alarm $lifetime;

while (time < $deadline) {
    my $client = $server->accept or next;    # EINTR from SIGCHLD: loop
    my $pid = fork;
    if (!defined $pid) { close $client; next }
    if ($pid) { close $client; next }
    close $server;
    $SIG{CHLD} = 'DEFAULT';
    alarm 30;
    serve($client);
    exit 0;
}
exit 0;

sub serve {
    my ($c) = @_;
    binmode $c;
    my $request = <$c>;
    return unless defined $request;
    $request =~ s/\r?\n\z//;
    my ($command) = $request =~ /^(\w+)\s+SPAMC\/[\d.]+$/ or do {
        print $c "SPAMD/1.1 76 Bad header line: $request\r\n";
        return;
    };
    my %head;
    while (my $line = <$c>) {
        $line =~ s/\r?\n\z//;
        last if $line eq '';
        $head{lc $1} = $2 if $line =~ /^([\w-]+):\s*(.*)$/;
    }
    if ($command eq 'PING') {
        print $c "SPAMD/1.5 0 PONG\r\n";
        return;
    }
    my $length = $head{'content-length'};
    return print $c "SPAMD/1.1 76 Missing Content-length\r\n" unless defined $length && $length =~ /^\d+$/;
    my $body = '';
    while (length $body < $length) {
        my $n = read $c, $body, $length - length $body, length $body;
        last unless $n;
    }
    my $spam = index($body, $GTUBE) >= 0;
    my ($score, $tests) = $spam ? ('1000.0', 'GTUBE') : ('-1.0', 'NONE');
    my $status = ($spam ? 'Yes' : 'No') . ", score=$score required=5.0 tests=$tests\r\n"
               . "\tautolearn=no autolearn_force=no version=3.4.6";
    my $headers = join '',
        "X-Spam-Checker-Version: SpamAssassin 3.4.6 (2021-04-09) on fake-spamd\r\n",
        ($spam ? "X-Spam-Flag: YES\r\n" : ()),
        'X-Spam-Level: ' . ($spam ? '*' x 50 : '') . "\r\n",
        "X-Spam-Status: $status\r\n";
    my $out = $command eq 'PROCESS' || $command eq 'HEADERS' ? $headers . "\r\n" : '';
    print $c "SPAMD/1.1 0 EX_OK\r\n",
        "Content-length: " . length($out) . "\r\n",
        "Spam: " . ($spam ? 'True' : 'False') . " ; $score / 5.0\r\n",
        "\r\n", $out;
    return;
}
