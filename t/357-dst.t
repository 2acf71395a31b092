# Issue 9 case 12: logs in local time (tai64nlocal text, logging/file,
# classic syslog) across the hour that repeats when DST ends (and the one
# skipped when it starts). The order of the lines decides which occurrence
# a local stamp names (qpstat.h, qps_parser_set_last_time): --utc --by hour,
# --since/--until in UTC, and the plugin's live copies (real UTC times,
# written through Qpstat::Store) pair with an import of the log: report --db
# = report, nothing doubled.
use strict;
use warnings;
use lib 't/lib', 'blib/lib', 'blib/arch';
use Test::More;
use JSON::PP ();
use POSIX ();
use QpstatTest qw(qpstat_bin run_cmd slurp spew tmpdir);

my $Q = qpstat_bin() or plan skip_all => 'qpstat not built';
my $have_store = eval { require Qpstat::Store; 1 };
my $TAI = -x '/usr/bin/tai64nlocal' ? '/usr/bin/tai64nlocal' : undef;
my $tmp = tmpdir();

# [zone, what, the instant of the change (UTC)]
my @changes = (
    [ 'Europe/Berlin',    'fall-back',     '2026-10-25 01:00' ],
    [ 'Europe/Berlin',    'spring-forward', '2026-03-29 01:00' ],
    [ 'America/New_York', 'fall-back',     '2026-11-01 06:00' ],
    [ 'America/New_York', 'spring-forward', '2026-03-08 07:00' ],
);

sub utc_epoch {
    my ($text) = @_;
    my ($y, $m, $d, $H, $M) = $text =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+)$/ or die $text;
    local $ENV{TZ} = 'UTC';
    POSIX::tzset();
    my $t = POSIX::mktime(0, $M, $H, $d, $m - 1, $y - 1900);
    return $t;
}

sub in_zone {
    my ($zone, $code) = @_;
    local $ENV{TZ} = $zone;
    POSIX::tzset();
    my @r = $code->();
    $ENV{TZ} = 'UTC';
    POSIX::tzset();
    return wantarray ? @r : $r[0];
}

sub label {
    my ($t, $ns) = @_;
    return sprintf('@%016x%08x', $t + 4611686018427387914, $ns);
}

sub hhmm_utc { POSIX::strftime('%Y-%m-%d %H:%MZ', gmtime $_[0]) }

sub hour_counts {
    my ($csv) = @_;
    my %h = map { (split /,/)[ 0, 1 ] } grep { /^\d/ } split /\r\n/, $csv;
    return join ' ', map { "$_=$h{$_}" } grep { $h{$_} } sort keys %h;
}

for my $c (@changes) {
    my ($zone, $what, $at) = @$c;
    my $t0 = utc_epoch($at);
    # a record every 13 s from two hours before the change to two after
    my @rec;
    for (my $t = $t0 - 7200, my $i = 0; $t < $t0 + 7200; $t += 13, $i++) {
        my $disp = $i % 3 ? 'queued' : 'naughty';
        my $fields = join "\t", "10.0." . ($i >> 8) . "." . ($i & 255), 'Unknown', "h$i.example",
          "<s$i\@sender.example>", '<bob@example.com>', $disp, $i % 3 ? '' : '903', 'text',
          'No, score=1.0 required=5.0';
        push @rec, { t => $t, ns => 1000 * $i, pid => 20000 + $i, fields => $fields };
    }
    my %want_hours;
    $want_hours{ POSIX::strftime('%H', gmtime $_->{t}) }++ for @rec;
    my $want_hours = join ' ', map { "$_=$want_hours{$_}" } sort keys %want_hours;
    my ($w0, $w1) = ($t0 + 1800, $t0 + 3600);    # the second half of the repeated hour's second pass
    my $want_window = grep { $_->{t} >= $w0 && $_->{t} < $w1 } @rec;

    my $stderr = sub { "$_->{pid} (deny) logging::logterse: ` $_->{fields}" };
    my %log;
    my $multilog = join '', map { label($_->{t}, $_->{ns}) . ' ' . $stderr->() . "\n" } @rec;
    spew("$tmp/multilog", $multilog);
    # tai64nlocal text from the reference tool, checked against strftime
    my $text = in_zone($zone, sub {
        join '', map { POSIX::strftime('%Y-%m-%d %H:%M:%S', localtime $_->{t}) . sprintf('.%09d ', $_->{ns}) . $stderr->() . "\n" } @rec
    });
    if ($TAI) {
        my ($tai) = run_cmd([$TAI], stdin => "$tmp/multilog", env => { TZ => $zone });
        is($tai, $text, "$zone $what: tai64nlocal's text is the expected local time");
        $text = $tai;
    }
    $log{tai64nlocal} = $text;
    $log{logfile} = in_zone($zone, sub {
        join '', map { POSIX::strftime('%a %b %d %H:%M:%S %Y', localtime $_->{t}) . " vm[$_->{pid}]: `$_->{fields}\n" } @rec
    });
    $log{syslog} = in_zone($zone, sub {
        join '', map { POSIX::strftime('%b %e %H:%M:%S', localtime $_->{t}) . " mx qpsmtpd-forkserver[8801]: " . $stderr->() . "\n" } @rec
    });
    if ($what eq 'fall-back') {
        # the log really repeats an hour: the test is about something
        my @stamps = in_zone($zone, sub { map { POSIX::strftime('%H:%M:%S', localtime $_->{t}) } @rec });
        my $back = grep { $stamps[$_] lt $stamps[ $_ - 1 ] } 1 .. $#stamps;
        is($back, 1, "$zone $what: the local time goes back once in the log");
    }

    for my $framing (sort keys %log) {
        my $name = "$zone $what $framing";
        my $file = "$tmp/$framing.log";
        spew($file, $log{$framing});
        my %env = (TZ => $zone);
        my ($out, $err, $rc) = run_cmd([ $Q, 'report', '--utc', '--by', 'hour', '--format', 'csv', $file ], env => \%env);
        is($rc, 0, "$name: report exits 0") or diag $err;
        is(hour_counts($out), $want_hours, "$name: --utc --by hour counts");
        my $logs_hours = $out;
        ($out) = run_cmd([ $Q, 'report', '--format', 'json', '--since', hhmm_utc($w0), '--until', hhmm_utc($w1), $file ],
            env => \%env);
        my $j = JSON::PP->new->decode($out);
        is($j->{transactions}, $want_window, "$name: --since " . hhmm_utc($w0) . " --until " . hhmm_utc($w1) . " selects $want_window");
        is($j->{lines}{invalid}, 0, "$name: no line invalid");

      SKIP: {
            skip 'Qpstat::Store not built', 3 unless $have_store;
            # the plugin's live copies, at their real UTC times, then an import
            my $db = "$tmp/$framing-" . ($zone =~ s/\W/_/gr) . "-$what.db";
            my $store = Qpstat::Store->open($db, create => 1);
            $store->begin;
            $store->record_line($stderr->(), time => $_->{t} + 0.25, source => 'plugin') for @rec;
            $store->commit;
            undef $store;
            (undef, $err, $rc) = run_cmd([ $Q, 'import', '--db', $db, $file ], env => \%env);
            is($rc, 0, "$name: import exits 0") or diag $err;
            ($out) = run_cmd([ $Q, 'report', '--db', $db, '--format', 'json' ], env => \%env);
            is(JSON::PP->new->decode($out)->{transactions}, scalar @rec, "$name: plugin + import store each record once");
            ($out) = run_cmd([ $Q, 'report', '--db', $db, '--utc', '--by', 'hour', '--format', 'csv' ], env => \%env);
            is($out, $logs_hours, "$name: report --db = report (--utc --by hour)");
        }
    }
}

done_testing;
