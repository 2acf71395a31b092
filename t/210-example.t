#!/usr/bin/perl
# t/210-example.t - the custom-report example of lib/Qpstat.pm's POD, run
# verbatim on the golden multilog fixture: its disposition lines equal the
# CLI's CSV, its "denied IPs" lines equal what a plain split of the terse
# lines gives. Then every POD of the binding and the plugin is checked.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use QpstatTest qw(%FIXTURE run_cli file_lines qpstat_bin slurp spew tmpdir);
use Pod::Checker ();
use Qpstat ();

my $pm = slurp('lib/Qpstat.pm');
my ($section) = $pm =~ /^=head1 A CUSTOM REPORT IN A FEW LINES\n(.*?)^=head1 /ms;
ok($section, 'the example section is in the POD') or BAIL_OUT('no example');
my $code = join '', map { s/^    //r } grep { /^    / || /^\s*$/ } split /^/, $section;
$code =~ s/\A\s+//;
like($code, qr/\A#!\/usr\/bin\/perl\n/, 'the example is a whole script');

my $dir = tmpdir();
spew("$dir/example.pl", $code);
my $ml = $FIXTURE{'multilog-094'};
my $out = `$^X -Mblib $dir/example.pl $ml 2>&1`;
is($?, 0, 'the example runs') or diag $out;
my @out = split /\n/, $out;

is(shift(@out), '17 transactions in 399 lines', 'its first line');

SKIP: {
    skip 'no qpstat binary', 1 unless qpstat_bin();
    my ($csv) = run_cli('report', '--format', 'csv', '--by', 'disposition', $ml);
    my @want = map { my ($k, $n, $p) = split /,/; sprintf "%-28s %5d %6.2f%%", $k, $n, $p }
      grep { !/^(?:disposition|queued),/ } split /\r\n/, $csv;
    is_deeply([@out[0 .. $#want]], \@want, 'its disposition lines are the CLI\'s numbers');
    splice @out, 0, scalar @want;
}

# the denied IPs, by a plain split of the logterse lines
my %denied;
for my $file (Qpstat::log_files($ml)) {
    for (file_lines($file)) {
        my ($fields) = /logging::logterse: ` (.*)/ or next;
        my @f = split /\t/, $fields, -1;
        next if $f[5] eq 'queued';
        $denied{ $f[5] }{ $f[0] || 'the parent process' }++;
    }
}
my @want = map {
    my $p = $_;
    "$p: " . join(', ', map { "$_ ($denied{$p}{$_})" } sort keys %{ $denied{$p} })
} sort keys %denied;
is_deeply(\@out, \@want, 'its denied-IP lines');
like($out, qr/^hosts_allow: the parent process \(2\)$/m, 'hosts_allow denials come from the parent');

# POD: no errors, every public method documented
for my $file (qw(lib/Qpstat.pm lib/Qpstat/Agg.pm lib/Qpstat/Store.pm lib/Qpstat/Plugin.pm plugins/qpstat)) {
    my $checker = Pod::Checker->new(-warnings => 1);
    open my $null, '>', '/dev/null' or die;
    $checker->parse_from_file($file, $null);
    is($checker->num_errors, 0, "$file: POD without errors");
    is($checker->num_warnings, 0, "$file: POD without warnings");
}
my %documented;
for my $file (qw(lib/Qpstat.pm lib/Qpstat/Agg.pm lib/Qpstat/Store.pm)) {
    my $text = slurp($file);
    $documented{$file}{$1} = 1 while $text =~ /^=(?:head2|item) (\w+)/mg;
    $documented{$file}{$_} = 1 for map { split /, / } $text =~ /^=head2 ((?:\w+, )+\w+)$/mg;
}
require Qpstat::Store;
for my $class (qw(Qpstat::Agg Qpstat::Store)) {
    (my $file = "lib/$class.pm") =~ s{::}{/}g;
    no strict 'refs';
    for my $sub (sort grep { /^[a-z]/ && defined &{"${class}::$_"} } keys %{"${class}::"}) {
        next if $sub eq 'import';    # (called by use; documented with import_logs)
        ok($documented{$file}{$sub}, "$class\::$sub is documented");
    }
}

done_testing;
