# Issue 9 case 6: a read error while importing is a message and exit 1,
# not "0 new records": a directory named current, EIO, a truncated .gz
# (what was intact before the cut is kept). The processor, whose input
# multilog needs back, still copies it and exits 0.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Compress::Gzip qw(gzip $GzipError);
use QpstatTest qw(qpstat_bin run_cmd tmpdir slurp spew);
use ImportCheck qw(genlog same_reports stored);

my $Q = qpstat_bin() or plan skip_all => 'build qpstat first';
my $tmp = tmpdir();
my $sample = 't/data/multilog-094/@400000006b07398735c119cc.s';

# a directory named current in a multilog directory
{
    my $dir = "$tmp/ml";
    mkdir $dir or die;
    mkdir "$dir/current" or die;
    spew("$dir/\@400000006b07398735c119cc.s", slurp($sample));
    my $db = "$tmp/dir.db";
    for my $door (['import'], ['collect', '--once']) {
        my ($out, $err, $rc) = run_cmd([$Q, @$door, '--db', $db, $dir]);
        is($rc, 1, "@$door: a directory named current: exit 1");
        like($err, qr/current: .*directory/, "@$door: ... says so");
    }
    my ($tx) = stored($db);
    ok($tx > 0, 'the files before it are imported');
}

# EIO: /proc/self/mem cannot be read at offset 0
SKIP: {
    skip 'no /proc/self/mem', 2 unless -e '/proc/self/mem';
    my ($out, $err, $rc) = run_cmd([$Q, 'import', '-v', '--db', "$tmp/eio.db", '/proc/self/mem']);
    is($rc, 1, 'a read error (EIO): exit 1');
    like($err, qr/cannot read \/proc\/self\/mem: Input\/output error/, '... with the system\'s message');
}

# a truncated .gz: the intact part stored, a message, exit 1
{
    my $log = genlog("$tmp", "$tmp/big.log", '--connections', 3000, '--seed', 9);
    my $gz;
    gzip(\slurp($log) => \$gz) or die $GzipError;
    spew("$tmp/cut.log.gz", substr($gz, 0, int(length($gz) * 0.7)));
    my $db = "$tmp/gz.db";
    my ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, "$tmp/cut.log.gz"]);
    is($rc, 1, 'a truncated .gz: exit 1');
    like($err, qr/cannot read \S*cut\.log\.gz: unexpected end of gzip data/, '... says it is cut short (as report does)');
    my ($tx) = stored($db);
    ok($tx > 1000, "... and keeps what was intact ($tx transactions)");
    same_reports($db, ["$tmp/cut.log.gz"], 'a truncated .gz', log_error => 1);
    ($out, $err, $rc) = run_cmd([$Q, 'import', '--db', $db, "$tmp/cut.log.gz"]);
    is($rc, 1, 'imported again: exit 1 again');
    is((stored($db))[0], $tx, '... and nothing doubled');
    ($out, $err, $rc) = run_cmd([$Q, 'check', '--db', $db, "$tmp/cut.log.gz"]);
    isnt($rc, 0, 'check does not say OK on a truncated .gz') or diag $out;
}

# the processor with a directory or a read error on fd 0: exit 0 always
{
    my ($out, $err, $rc) = run_cmd([$Q, 'processor', '--db', "$tmp/p.db"], stdin => $tmp);
    is($rc, 0, 'processor with a directory on fd 0: exit 0');
    like($err, qr/directory/, '... and says why it stored nothing');
}

done_testing;
