package QpstatJournal;
# Journal files made from the fixtures, as journald would have stored
# qpsmtpd's stderr: one entry per line, its realtime the line's TAI64N
# label, MESSAGE the text after the label ("PID text"), _PID the
# forkserver's (journald records a stream's sender), _SYSTEMD_UNIT the unit.
# The export-format stream is turned into a journal file by
# systemd-journal-remote (Debian's systemd-journal-remote), so no journald
# is needed.
use strict;
use warnings;

use Exporter 'import';
our @EXPORT_OK = qw(journal_remote journal_support label_lines export_stream make_journal);

my @REMOTE = ('/lib/systemd/systemd-journal-remote', '/usr/lib/systemd/systemd-journal-remote');

# The systemd-journal-remote binary, or undef.
sub journal_remote { (grep { -x } @REMOTE)[0] }

# Whether qpstat was built with journal support (libsystemd).
sub journal_support {
    my ($bin) = @_;
    my $err = `$bin report --journal-dir /nonexistent-qpstat 2>&1`;
    return $err !~ /built without journal support/;
}

# The lines of a multilog-framed file that have a label and text: [unix usec, text].
sub label_lines {
    my (@lines) = @_;
    my @out;
    for my $l (@lines) {
        next unless $l =~ /^\@([0-9a-f]{16})([0-9a-f]{8}) (.*)\z/s;
        my ($s, $n, $text) = ((hex(substr $1, 0, 8) << 32) + hex(substr $1, 8), hex $2, $3);
        my $unix = $s - 4611686018427387904 - 10;
        next if $unix < 631152000 || $n >= 1e9;    # labels no mail log has (invalid lines)
        push @out, [$unix * 1_000_000 + int($n / 1000), $text];
    }
    return @out;
}

sub field {
    my ($name, $value) = @_;
    # binary form for every value: a message may hold any byte
    return "$name\n" . pack('Q<', length $value) . $value . "\n";
}

# Export format of entries [usec, text] (%o: unit, host, pid = the
# forkserver's, default the first line's pid; seq = first monotonic value;
# transport; extra => [[name, value]...]).
sub export_stream {
    my ($entries, %o) = @_;
    my $unit = $o{unit} // 'qpsmtpd.service';
    my $host = $o{host} // 'mx';
    my ($first) = map { $_->[1] =~ /^(\d+) / ? $1 : () } @$entries;
    my $pid  = $o{pid} // $first // 1;
    my $mono = $o{seq} // 1;
    my $out  = '';
    for my $e (@$entries) {
        $out .= "__REALTIME_TIMESTAMP=$e->[0]\n__MONOTONIC_TIMESTAMP=" . $mono++ . "\n"
            . "_BOOT_ID=" . ($o{boot} // '0123456789abcdef0123456789abcdef') . "\n"
            . "_HOSTNAME=$host\n_SYSTEMD_UNIT=$unit\n_PID=$pid\nSYSLOG_IDENTIFIER=qpsmtpd-forkserver\n"
            . "_TRANSPORT=" . ($o{transport} // 'stdout') . "\n"
            . join('', map { field(@$_) } @{ $o{extra} // [] })
            . field('MESSAGE', $e->[1]) . "\n";
    }
    return $out;
}

# Writes the journal file $file (its name must end in .journal) from an
# export stream; dies when systemd-journal-remote fails.
sub make_journal {
    my ($file, $stream) = @_;
    my $remote = journal_remote() or die "no systemd-journal-remote\n";
    open my $fh, '|-', "$remote -o '$file' - 2>/dev/null" or die "$remote: $!";
    print $fh $stream;
    close $fh or die "systemd-journal-remote failed ($?)\n";
    return $file;
}

1;
