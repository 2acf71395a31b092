#!/bin/bash
# Peak memory of `qpstat grep` (and `tail`) on connections that never end:
# N connections (default 60,000) each opened and given records, none ever
# closed (no connection_time, no cleanup), all matching the pattern, so
# grep must hold every connection's output until the end or until the
# joiner's memory budget ends the oldest early. Prints peak RSS in MB.
# The default text length (240) puts each connection's held output just
# over 1 KiB, where a doubling buffer allocates twice what it holds: the
# worst case for a budget that counts bytes held instead of allocated.
# Usage: bench/grep-memory.sh [N [TEXT_LEN]]   (QPSTAT=path, BENCH_WORKDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-60000}
text_len=${2:-240}
work=${BENCH_WORKDIR:-/tmp/qpstat-bench}
Q=${QPSTAT:-$PWD/csrc/qpstat}
mkdir -p "$work"
export TZ=UTC LC_ALL=C
log="$work/never-ending-$n-$text_len.log"
if [ ! -s "$log" ]; then
    perl -e '
        my ($n, $len) = @ARGV;
        my $text = "x" x $len;
        for my $i (1 .. $n) {
            my $pid = 100000 + $i;
            my $ip = sprintf "10.%d.%d.%d", $i >> 16, ($i >> 8) & 255, $i & 255;
            my $l = sprintf "\@4000000069%06x00000000", $i & 0xffffff;
            print "$l $pid Accepted connection 1/40 from $ip / host$i.example\n";
            print "$l $pid dispatching MAIL FROM:<a$i\@example.com>\n";
            for my $r (1 .. 3) {
                print "$l $pid (deny) logging::logterse: ` $ip\thost$i\thelo$i\t<a$i\@example.com>\t"
                    . "<b\@example.org>\tspamassassin\t550\t$text $r\tYes, score=15.0 required=5.0\n";
            }
        }' "$n" "$text_len" > "$log"
fi
peak() { /usr/bin/time -f '%M' "$@" 2>&1 > /dev/null | tail -n 1 | awk '{ printf "%.1f", $1 / 1024 }'; }
size=$(du -m "$log" | cut -f1)
echo "log: $n never-ending connections, $size MB"
echo "grep . (whole connections, held):  $(peak "$Q" grep . "$log") MB peak RSS"
echo "grep --lines . (nothing held):     $(peak "$Q" grep --lines . "$log") MB peak RSS"
echo "tail -n all:                       $(peak "$Q" tail -n all "$log") MB peak RSS"
