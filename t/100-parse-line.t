#!/usr/bin/perl
# t/100-parse-line.t - Qpstat::parse_line: every kind, framing and dialect
# (table-driven), bytes in and out, and the golden fixtures: the kinds of
# the lines of each t/data fixture equal the "kinds" counts of the CLI's
# JSON report on the same file.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE @FIXTURES NOW run_cli file_lines qpstat_bin);
use JSON::PP ();

use Qpstat;

my $T = "\t";
my $terse9 = join $T, '127.0.0.1', 'Unknown', 'client.sender.example', '<alice@sender.example>', '', 'rcpt_ok',
  '901', 'Relaying denied (#5.7.1)', 'msg denied before queued';
my $terse8 = join $T, '128.220.32.40', 'miami.deuvis.com', 'miami.deuvis.com', '<aapple@deuvis.com>',
  '<c.wolf@ncxr.org>', 'queued', '', '<200709270344.l8R3iq0b010299@deuvis.com>';

# [ name, line, { expected key => value }, [ keys that must be absent ] ]
my @CASES = (
    [   'multilog 0.93 terse, 9 fields',
        "\@400000006b07390e20f6398c 8911 (deny) logging::logterse: ` $terse9",
        {   kind => 'terse', framing => 'multilog', dialect => '0.93', pid => 8911, hook => 'deny',
            plugin => 'logging::logterse', time => 1795635460, nsec => 553007500,
            stamp => '@400000006b07390e20f6398c', nfields => 9, ip => '127.0.0.1', rhost => 'Unknown',
            helo => 'client.sender.example', sender => '<alice@sender.example>', recipients => '',
            disposition => 'rcpt_ok', code => '901', text => 'Relaying denied (#5.7.1)',
            spam => 'msg denied before queued', message => "` $terse9",
        },
    ],
    [   'bare 0.4x terse, 8 fields, no time',
        "15587 logging::logterse plugin: ` $terse8",
        {   kind => 'terse', framing => 'none', dialect => '0.4x', pid => 15587, plugin => 'logging::logterse',
            nfields => 8, disposition => 'queued', code => '', text => '<200709270344.l8R3iq0b010299@deuvis.com>',
        },
        [qw(time nsec stamp spam hook)],
    ],
    [   '0.8x terse with the old SpamAssassin field',
        "\@40000000582033e43560d92c 28003 logging::logterse plugin (deny): ` 46.21.172.157${T}vserver3.axc.nl"
          . "${T}ashwinbihari.nl${T}<freja\@ashwinbihari.nl>${T}<bg\@skibsgaarden.dk>${T}spamassassin${T}901"
          . "${T}spam score exceeded threshold (#5.6.1)${T}Yes, hits=13.1 required=3.0_",
        {   kind => 'terse', dialect => '0.8x', hook => 'deny', disposition => 'spamassassin', nfields => 9,
            spam => 'Yes, hits=13.1 required=3.0_', time => 1478505434,
        },
    ],
    [   'tai64nlocal framing',
        "2016-04-21 15:02:29.006734500 26288 (deny) logging::logterse: ` 1.2.3.4${T}mx.bad.biz${T}mx.bad.biz"
          . "${T}<fws\@bad.biz>${T}<dani\@home.org>${T}naughty${T}903${T}very bad karma: -7${T}msg denied before queued",
        {   kind => 'terse', framing => 'tai64nlocal', time => 1461250949, nsec => 6734500,
            disposition => 'naughty', code => '903', text => 'very bad karma: -7',
        },
    ],
    [   'logging/file framing: no space after the prefix',
        "Wed Nov 25 19:39:54 2026 vm[9413]: `127.0.0.1${T}Unknown${T}client.sender.example${T}<alice\@sender.example>"
          . "${T}<bob\@example.com>${T}queued${T}${T}<file.1\@sender.example>${T}No, score=-1.0 required=5.0",
        {   kind => 'terse', framing => 'logfile', host => 'vm', pid => 9413, ip => '127.0.0.1',
            spam => 'No, score=-1.0 required=5.0', time => 1795635594,
        },
    ],
    [   'syslog framing around stderr',
        "Nov 25 19:37:27 mx qpsmtpd-forkserver[8801]: 8873 Accepted connection 0/3 from 127.0.0.1 / Unknown",
        { kind => 'accept', framing => 'syslog', host => 'mx', pid => 8873, running => 0, max => 3 },
    ],
    [   'deny text with TABs',
        "8909 (deny) logging::logterse: ` 10.0.0.1${T}h${T}e${T}<a\@b.c>${T}${T}rcpt_ok${T}901${T}one${T}two"
          . "${T}msg denied before queued",
        { kind => 'terse', nfields => 9, text => "one${T}two", spam => 'msg denied before queued' },
    ],
    [   'accepted connection',
        "\@400000006b07390d20b8750c 8911 Accepted connection 1/3 from 127.0.0.1 / Unknown",
        { kind => 'accept', running => 1, max => 3, remote_ip => '127.0.0.1', remote_host => 'Unknown' },
    ],
    [   'too many connections',
        "8801 Too many connections: 3 >= 3.  Waiting one second.",
        { kind => 'too_many', running => 3, max => 3 },
    ],
    [   'hosts_allow, 0.93 wording',
        "8801 (pre-connection) hosts_allow: fail: too many connections from 127.0.0.1 (3 > 2)",
        { kind => 'hosts_allow', running => 3, max => 2, remote_ip => '127.0.0.1', verdict => 'fail' },
    ],
    [   'connection_time, 0.93 wording',
        "8911 (post-connection) connection_time: 1.017 s.",
        { kind => 'connection_time', millis => 1017, hook => 'post-connection', plugin => 'connection_time' },
    ],
    [   'connection_time, 0.4x wording',
        "\@4000000048641d5c0951f6a4 15110 connection_time plugin: Connection time from 209.74.246.66: 1.566 sec.",
        { kind => 'connection_time', millis => 1566, remote_ip => '209.74.246.66' },
    ],
    [   'plugin result',
        "8911 (rcpt) rcpt_ok: fail: elsewhere.example not in morercpthosts",
        { kind => 'result', verdict => 'fail', plugin => 'rcpt_ok', hook => 'rcpt' },
    ],
    [ 'dispatch', "8911 dispatching HELO client.sender.example", { kind => 'dispatch' } ],
    [ 'reply',    "8911 250 test.example Hi Unknown [127.0.0.1]", { kind => 'reply', reply_code => 250 } ],
    [ 'cleanup',  "8801 cleaning up after 8911", { kind => 'cleanup', child_pid => 8911 } ],
    [   'continuation (framed, no pid)',
        "\@400000006b069c931cb91894 (helo) Plain IP is invalid HELO hostname${T}msg denied before queued",
        { kind => 'continuation' },
    ],
    [ 'other', "8801 Listening on 127.0.0.1:2525", { kind => 'other', message => 'Listening on 127.0.0.1:2525' } ],
    [ 'trailing newline ignored', "8801 cleaning up after 42\n", { kind => 'cleanup', child_pid => 42 } ],
);

# lines that are not qpsmtpd lines
my @INVALID = (
    [ 'empty',            '' ],
    [ 'junk',             'hello world' ],
    [ 'NUL byte',         "8801 cleaning\0up" ],
    [ 'bad label',        '@4000zz006b07390d20b8750c 8911 Accepted connection 1/3 from 127.0.0.1 / Unknown' ],
    [ 'short label',      '@4000 8911 x' ],
    [ 'truncated terse',  "8909 (deny) logging::logterse: ` 127.0.0.1${T}Unknown${T}helo" ],
    [ 'over 64 KiB',      '8801 ' . ('x' x 70000) ],
);

for my $c (@CASES) {
    my ($name, $line, $want, $absent) = @$c;
    my $r = Qpstat::parse_line($line);
    ok($r, "$name: parsed") or next;
    is(ref $r, 'HASH', "$name: a plain hash");
    for my $k (sort keys %$want) {
        is($r->{$k}, $want->{$k}, "$name: $k");
    }
    ok(!exists $r->{$_}, "$name: no $_") for @{ $absent || [] };
}

for my $c (@INVALID) {
    is(Qpstat::parse_line($c->[1]), undef, "invalid: $c->[0]");
}

# options
{
    my $line = "8909 (deny) logging::logterse: ~ $terse9";
    is(Qpstat::parse_line($line)->{kind}, 'other', 'another prefix is not the default one');
    my $r = Qpstat::parse_line($line, prefix => '~');
    is($r->{kind},        'terse',   'prefix option');
    is($r->{disposition}, 'rcpt_ok', 'prefix option: fields');
    eval { Qpstat::parse_line($line, prefix => '') };
    like($@, qr/^Qpstat::parse_line: prefix must be a non-empty string/, 'empty prefix croaks');
    eval { Qpstat::parse_line($line, colour => 1) };
    like($@, qr/^Qpstat::parse_line: unknown option 'colour'/, 'unknown option croaks');
}

# bytes in, bytes out
{
    my $bytes = "8909 (deny) logging::logterse: ` 10.0.0.1${T}h\xe9${T}e${T}<a\@b.c>${T}${T}x${T}901${T}t\xff${T}s";
    my $r = Qpstat::parse_line($bytes);
    is($r->{rhost}, "h\xe9", 'high bytes come back unchanged');
    ok(!utf8::is_utf8($r->{rhost}) && !utf8::is_utf8($r->{text}), 'results are byte strings');
    my $upgraded = $bytes;
    utf8::upgrade($upgraded);
    is_deeply(Qpstat::parse_line($upgraded), $r, 'an upgraded string is read as the same bytes');
    ok(utf8::is_utf8($upgraded), 'the caller\'s string is left as it was');
    eval { Qpstat::parse_line("8801 caf\x{263a}") };
    like($@, qr/^Qpstat::parse_line: the line has characters above 255/, 'wide characters croak');
}

# log_files: the CLI's order of multilog and logrotate directories
{
    my $d = QpstatTest::tmpdir();
    mkdir "$d/ml";
    mkdir "$d/lr";
    QpstatTest::spew("$d/ml/$_", "x\n") for '@400000006b0000000000000a.s', '@400000006a0000000000000b.u', 'current', 'state', 'lock';
    QpstatTest::spew("$d/lr/$_", "x\n") for 'qpsmtpd.log', 'qpsmtpd.log.1', 'qpsmtpd.log.2.gz', 'qpsmtpd.log.10.gz', 'other.txt';
    is_deeply([Qpstat::log_files("$d/ml")], ["$d/ml/\@400000006a0000000000000b.u", "$d/ml/\@400000006b0000000000000a.s", "$d/ml/current"],
        'log_files: multilog directory in label order, then current');
    is_deeply([Qpstat::log_files("$d/lr/", "$d/lr/other.txt")],
        ["$d/lr/qpsmtpd.log.10.gz", "$d/lr/qpsmtpd.log.2.gz", "$d/lr/qpsmtpd.log.1", "$d/lr/qpsmtpd.log", "$d/lr/other.txt"],
        'log_files: logrotate directory oldest first, files as given');
}

# The golden fixtures: kinds per line, as the aggregator counts them (a
# continuation only right after a logterse record), equal the CLI's.
SKIP: {
    skip 'no qpstat binary (build first)', scalar @FIXTURES unless qpstat_bin();
    for my $fx (@FIXTURES) {
        my %kinds;
        my $prev_terse = 0;
        my @files = Qpstat::log_files($FIXTURE{$fx});
        for my $file (@files) {
            for my $line (file_lines($file)) {
                my $r = Qpstat::parse_line($line, now => NOW);
                my $kind = $r ? $r->{kind} : 'invalid';
                $kind = 'other' if $kind eq 'continuation' && !$prev_terse;
                $prev_terse = $kind eq 'terse' || $kind eq 'continuation';
                $kinds{$kind}++;
            }
        }
        my ($json) = run_cli('report', '--format', 'json', $FIXTURE{$fx});
        my $cli = JSON::PP->new->decode($json)->{kinds};
        my %cli = map { $cli->{$_} ? ($_ => $cli->{$_}) : () } keys %$cli;
        is_deeply(\%kinds, \%cli, "$fx: kinds equal the CLI's");
    }
}

done_testing;
