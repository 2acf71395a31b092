package ImportCheck;
# Helpers of the import engine's tests (t/36x): generated logs, the store's
# counts, and the check that a report from the store equals the report over
# the logs for every table.
use strict;
use warnings;

use Exporter 'import';
use Test::More ();
use QpstatTest qw(run_cli run_cmd);

our @EXPORT_OK = qw(@TABLES genlog same_reports stored multilog_bin);

# every table `qpstat report --by` prints
our @TABLES = ('disposition', 'dnsbl', 'tld', 'disposition,tld', 'hour', 'day', 'sender', 'recipient', 'ip',
    'helo', 'score', 'spam', 'connections', 'connection-time');

my %built;

# A generated multilog log (bench/genlog.c) in $file: genlog(dir, file, args...).
sub genlog {
    my ($dir, $file, @args) = @_;
    my $bin = "$dir/genlog";
    if (!$built{$bin}) {
        system('cc', '-O2', '-std=c99', '-o', $bin, 'bench/genlog.c') == 0 or die "cannot build genlog\n";
        $built{$bin} = 1;
    }
    system($bin, @args, '--output', $file) == 0 or die "genlog @args failed\n";
    return $file;
}

# Transactions and connection facts in the store (as a report sees them).
sub stored {
    my ($db) = @_;
    my ($json, $rc) = run_cli('report', '--format', 'json', '--db', $db);
    my ($tx) = $json =~ /^\{"lines":\{[^}]*\},"transactions":(\d+)/ or return (-1, -1);
    my $facts = 0;
    $facts += $1 while $json =~ /"(?:accept|too_many|hosts_allow|connection_time)":(\d+)/g;
    return ($tx, $facts);
}

# report --db equals report over @logs, CSV, every table; both exit 0
# unless $o{log_error} (a truncated .gz: report exits 1 too).
sub same_reports {
    my ($db, $logs, $label, %o) = @_;
    my @differ;
    for my $by (@TABLES) {
        my ($want, $wrc) = run_cli('report', '--format', 'csv', '--by', $by, @$logs);
        my ($got, $grc) = run_cli('report', '--format', 'csv', '--by', $by, '--db', $db);
        push @differ, "--by $by" if $got ne $want || ($wrc != 0 && !$o{log_error}) || $grc != 0;
    }
    # the line counters too (the store keeps them per file)
    my ($jw) = run_cli('report', '--format', 'json', @$logs);
    my ($jg) = run_cli('report', '--format', 'json', '--db', $db);
    my @want = $jw =~ /^\{("lines":\{[^}]*\},"transactions":\d+)/;
    my @got  = $jg =~ /^\{("lines":\{[^}]*\},"transactions":\d+)/;
    push @differ, "lines: @got, logs: @want" if !@want || "@got" ne "@want";
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::is_deeply(\@differ, [], "$label: report --db = report over the logs, every table");
}

sub multilog_bin { (grep { -x } map {"$_/multilog"} split /:/, $ENV{PATH})[0] }

1;
