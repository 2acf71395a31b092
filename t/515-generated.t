# The seed's disposition and DNSBL one-liners, verbatim, under gawk and mawk,
# against qpstat on logs from the project's deterministic generator
# (bench/genlog.c) in every dialect and framing: a realistic mix of
# dispositions, URL and zone-only DNSBL texts, TABs in deny texts and
# continuation lines that the small real samples do not have.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(qpstat_bin slurp);
use File::Temp qw(tempdir);

my $Q = qpstat_bin() or BAIL_OUT('no qpstat binary: build first');
my @AWKS = grep { my $a = $_; grep { -x "$_/$a" } split /:/, $ENV{PATH} } qw(gawk mawk);
plan skip_all => 'neither gawk nor mawk installed' unless @AWKS;
$ENV{LC_ALL} = 'C';
$ENV{TZ} = 'UTC';

my $tmp = tempdir(CLEANUP => 1);
system('cc', '-O2', '-std=c99', '-o', "$tmp/genlog", 'bench/genlog.c') == 0 or BAIL_OUT('cannot build genlog');

# verbatim from the SME wiki (seed), as t/510 runs them: fields split on TAB
my ($SEED_DISPOSITION, $SEED_DNSBL) = map { slurp("t/data/seed/$_.awk") } qw(disposition dnsbl);

sub awk_counts {
    my ($awk, $prog, $file) = @_;
    my %c;
    open my $fh, '-|', $awk, '-F[\t]', $prog, $file or die "$awk: $!";
    while (<$fh>) {
        chomp;
        my ($n, $k) = split /\t/, $_, 2;
        $c{$k // ''} = $n;
    }
    close $fh;
    return \%c;
}

sub qpstat_counts {
    my ($by, $file) = @_;
    my %c;
    my $total = 0;
    for (split /\r\n/, `$Q report --format csv --by $by $file`) {
        next if /^$by,count,percent$/;
        my ($k, $n) = /^(.*),(\d+),[\d.]+$/ or next;
        $k =~ s/^"(.*)"$/$1/;
        $c{$k} = $n;
        $total += $n;
    }
    return (\%c, $total);
}

for my $dialect (qw(093 08x 04x)) {
    for my $framing (qw(multilog tai64nlocal syslog)) {
        my $log = "$tmp/$dialect-$framing.log";
        system("$tmp/genlog --dialect $dialect --framing $framing --connections 6000 --seed 5 > $log") == 0
            or die "genlog failed";
        my ($q, $qt) = qpstat_counts('disposition', $log);
        cmp_ok($qt, '>', 1000, "$dialect/$framing: qpstat finds the records");
        my ($dq, $dqt) = qpstat_counts('dnsbl', $log);
        for my $awk (@AWKS) {
            my $seed = awk_counts($awk, $SEED_DISPOSITION, $log);
            my $total = delete $seed->{Total};
            is_deeply($seed, $q, "$awk, $dialect/$framing: the seed's disposition counts = qpstat's");
            is($total, $qt, "$awk, $dialect/$framing: Total = $qt");

            # DNSBL: the seed keys a denial by the third '/'-piece of its text:
            # the URL's host, or "" when the text has no URL, where qpstat
            # names the DNS zone; the totals and URL hosts agree.
            my $sd = awk_counts($awk, $SEED_DNSBL, $log);
            my $sd_total = delete $sd->{Total} // 0;
            is($sd_total, $dqt, "$awk, $dialect/$framing: DNSBL Total = qpstat's ($dqt)");
            my @hosts = grep { $_ ne '' } keys %$sd;
            is_deeply({ map { $_ => $dq->{$_} } @hosts }, { map { $_ => $sd->{$_} } @hosts },
                "$awk, $dialect/$framing: URL hosts counted alike");
            my $by_url = 0;
            $by_url += $sd->{$_} for @hosts;
            cmp_ok($sd->{''} // 0, '>', 0, "$awk, $dialect/$framing: some texts name no URL");
            is($sd->{''} // 0, $dqt - $by_url, "$awk, $dialect/$framing: the seed's '' = qpstat's zone-only texts");
        }
    }
}

# logging/file has no plugin names: the seed's /logterse/ sees nothing there,
# while qpstat counts the same records as in the multilog framing
my $lf = "$tmp/093-logfile.log";
system("$tmp/genlog --framing logfile --connections 6000 --seed 5 > $lf") == 0 or die;
my ($lq, $lqt) = qpstat_counts('disposition', $lf);
my ($mq, $mqt) = qpstat_counts('disposition', "$tmp/093-multilog.log");
is_deeply($lq, $mq, 'logging/file framing: the same dispositions as multilog');
for my $awk (@AWKS) {
    my $seed = awk_counts($awk, $SEED_DISPOSITION, $lf);
    is($seed->{Total} // 0, 0, "$awk: the seed's /logterse/ finds nothing in logging/file lines");
}

done_testing;
