# Issue 9 case 8: a TAI64N label that decodes far outside the years a mail
# log can have (qpstat.h: [QPS_TIME_MIN, QPS_TIME_MAX) = 1990..2200) is an
# invalid line of reason "label" in report, in the store (import + report
# --db), in summary and in the processor's state, never a time.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use QpstatTest qw(qpstat_bin run_cli run_cmd slurp spew tmpdir);

my $Q = qpstat_bin() or plan skip_all => 'qpstat not built';
my $tmp = tmpdir();

my $good_label = '@400000006b07399f1706f754';    # 2026-11-25 19:40:05 UTC
my $rec = "9534 (deny) logging::logterse: ` 127.0.0.1\tUnknown\tclient.example\t<a\@bad.example>\t\tnaughty\t903\tno\tmsg denied before queued";
my %hostile = (
    'all zero'             => '@000000000000000000000000',
    'all f'                => '@ffffffffffffffffffffffff',
    '7fff...'              => '@7fffffffffffffffffffffff',
    '8000...'              => '@800000000000000000000000',
    'just below 2^62'      => '@3fffffffffffffff00000000',
    'unix 0 (1970)'        => '@400000000000000a00000000',
    'year 2242'            => '@40000002000000000000000a',
);

sub json { JSON::PP->new->decode($_[0]) }

for my $name (sort keys %hostile) {
    my $log = "$tmp/" . ($name =~ s/\W/_/gr) . '.log';
    # the hostile record first: it would become the epoch, the start of spans
    spew($log, "$hostile{$name} $rec\n$good_label $rec\n");

    my ($out, $rc) = run_cli('report', '--format', 'json', $log);
    is($rc, 0, "$name: report exits 0");
    my $j = json($out);
    is($j->{lines}{invalid}, 1, "$name: report counts the line invalid");
    is($j->{invalid}{label}, 1, "$name: ... with reason label");
    is($j->{transactions}, 1, "$name: only the good record is a transaction");

    my $db = "$tmp/" . ($name =~ s/\W/_/gr) . '.db';
    my (undef, $err, $irc) = run_cmd([ $Q, 'import', '--db', $db, $log ]);
    is($irc, 0, "$name: import exits 0") or diag $err;
    ($out, $rc) = run_cli('report', '--db', $db, '--format', 'json');
    my $s = json($out);
    is($s->{transactions}, 1, "$name: the store holds the good record only");
    is($s->{lines}{invalid}, 1, "$name: report --db counts the line invalid");
    ($out) = run_cli('report', '--db', $db, '--by', 'day', '--format', 'csv');
    is($out, "day,count,percent\r\n2026-11-25,1,100.00\r\n", "$name: no day of year 2106 or -146e9 in the store");
    my ($logs_csv) = run_cli('report', '--by', 'day', '--format', 'csv', $log);
    is($out, $logs_csv, "$name: report --db = report");

    for my $src ([ 'logs', $log ], [ 'store', '--db', $db ]) {
        my ($label, @args) = @$src;
        my ($sum, $src_rc) = run_cli('summary', @args);
        is($src_rc, 0, "$name: summary ($label) exits 0");
        unlike($sum, qr/unknown/, "$name: summary ($label) has no unknown start");
        my @el = $sum =~ /^# Elapsed: (\d+) days/mg;
        ok(@el && !grep({ $_ != 0 } @el), "$name: summary ($label) elapsed 0 days, not billions")
            or diag $sum;
    }

    # the processor: the epoch it writes is the good line's label
    my $state = "$tmp/state";
    unlink $state;
    my $r = system("$Q processor 5>'$state' <'$log' >/dev/null 2>&1");
    is($r, 0, "$name: processor exits 0");
    my $st = slurp($state);
    like($st, qr/^LOGFILE_EPOCH\s+\Q$good_label\E\s+0$/m, "$name: processor's LOGFILE_EPOCH is the good label");
    unlike($st, qr/\Q$hostile{$name}\E/, "$name: the hostile label is not in the state");

    # a state an older qpstat wrote from such a label is not taken as the epoch
    my $old = "$tmp/old-state";
    spew($old, sprintf("%-30.30s %s %12d\n%-30.30s %s %12d\n", 'LOGFILE_EPOCH', $hostile{$name}, 0,
        'naughty', $hostile{$name}, 5));
    $r = system("$Q processor 4<'$old' 5>'$state' <'$log' >/dev/null 2>&1");
    is($r, 0, "$name: processor with a hostile old state exits 0");
    $st = slurp($state);
    like($st, qr/^LOGFILE_EPOCH\s+\Q$good_label\E\s+0$/m, "$name: a hostile old epoch is dropped");
    my @el = $st =~ /^# Elapsed: (\d+) days/mg;
    ok(@el && !grep({ $_ != 0 } @el), "$name: the state's spans stay sane") or diag $st;
}

# every hostile label in one stream, around good lines
{
    my $log = "$tmp/all.log";
    spew($log, join('', map { "$_ $rec\n" } $good_label, values(%hostile), $good_label));
    my ($out) = run_cli('report', '--format', 'json', $log);
    my $j = json($out);
    is($j->{invalid}{label}, scalar(keys %hostile), 'a stream: every hostile label is invalid (label)');
    is($j->{transactions}, 2, 'a stream: the good records around them count');
    ($out) = run_cli('report', '--utc', '--by', 'hour', '--format', 'csv', $log);
    my %h = map { (split /,/)[ 0, 1 ] } grep { /^\d/ } split /\r\n/, $out;
    is(join(' ', map { "$_=$h{$_}" } grep { $h{$_} } sort keys %h), '19=2', 'a stream: hours only from the good labels');
}

done_testing;
