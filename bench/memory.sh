#!/usr/bin/env bash
# bench/memory.sh - peak RSS of `qpstat report` for --jobs 1..16 on a log
# where every connection brings a new IP, HELO and sender (genlog
# --unique-keys: the worst case for the key tables), and whether each
# thread count prints the JSON of --jobs 1. Writes a markdown table to
# stdout and to bench/memory-latest.md.
#
# Environment:
#   BENCH_BYTES    size of the generated log (default 1073741824 = 1 GiB)
#   BENCH_WORKDIR  where the log goes (default ${TMPDIR:-/tmp}/qpstat-bench);
#                  reused when it exists for the same size and generator
#   BENCH_JOBS     the thread counts (default "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16")
#   QPSTAT         qpstat binary (default: ../csrc/qpstat next to this script)
#   QPSTAT_BEFORE  a second binary (an older build) measured in the same run,
#                  its column beside the first
#   CC             C compiler for genlog (default cc)
set -u
set -o pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BENCH_BYTES=${BENCH_BYTES:-1073741824}
BENCH_WORKDIR=${BENCH_WORKDIR:-${TMPDIR:-/tmp}/qpstat-bench}
BENCH_JOBS=${BENCH_JOBS:-"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"}
QPSTAT=${QPSTAT:-$BENCH_DIR/../csrc/qpstat}
QPSTAT_BEFORE=${QPSTAT_BEFORE:-}
CC=${CC:-cc}
RESULTS=$BENCH_DIR/memory-latest.md
export LC_ALL=C

die() { printf 'memory.sh: %s\n' "$*" >&2; exit 1; }
case $BENCH_BYTES in ''|*[!0-9]*) die "BENCH_BYTES must be a number of bytes";; esac
[ -x /usr/bin/time ] || die "needs /usr/bin/time (Debian package time)"
[ -x "$QPSTAT" ] || die "no qpstat at $QPSTAT (build first)"

if [ ! -x "$BENCH_DIR/genlog" ] || [ "$BENCH_DIR/genlog.c" -nt "$BENCH_DIR/genlog" ]; then
    "$CC" -O2 -Wall -Wextra -std=c99 -o "$BENCH_DIR/genlog" "$BENCH_DIR/genlog.c" || die "cannot build genlog"
fi
mkdir -p "$BENCH_WORKDIR" || die "cannot create $BENCH_WORKDIR"
gensum=$(cksum < "$BENCH_DIR/genlog.c" | cut -d' ' -f1)
LOG=$BENCH_WORKDIR/qpsmtpd-unique-keys-$BENCH_BYTES-$gensum.log
if [ ! -s "$LOG" ]; then
    printf 'generating %s\n' "$LOG" >&2
    "$BENCH_DIR/genlog" --unique-keys --size "$BENCH_BYTES" --output "$LOG.tmp" || die "genlog failed"
    mv "$LOG.tmp" "$LOG"
fi
cat "$LOG" > /dev/null # warm the page cache

# measure BINARY JOBS -> "peak_MB seconds digest"
measure() {
    local out=$BENCH_WORKDIR/memory-out.json stats=$BENCH_WORKDIR/memory-time.txt
    /usr/bin/time -f '%M %e' -o "$stats" "$1" report --format json --jobs "$2" "$LOG" > "$out" ||
        die "$1 report --jobs $2 failed"
    read -r kb secs < "$stats"
    printf '%s %s %s\n' "$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" "$secs" \
        "$(cksum < "$out" | cut -d' ' -f1)"
}

{
    printf 'Log: %s bytes, %s lines, every key new (genlog --unique-keys); load average %s\n\n' \
        "$(wc -c < "$LOG")" "$(wc -l < "$LOG")" "$(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "$QPSTAT_BEFORE" ]; then
        printf '| --jobs | before: peak RSS MB | before: same JSON as --jobs 1 | peak RSS MB | seconds | same JSON as --jobs 1 |\n'
        printf '|---:|---:|---|---:|---:|---|\n'
    else
        printf '| --jobs | peak RSS MB | seconds | same JSON as --jobs 1 |\n|---:|---:|---:|---|\n'
    fi
    ref="" bref=""
    for j in $BENCH_JOBS; do
        read -r mb secs sum < <(measure "$QPSTAT" "$j")
        [ -n "$ref" ] || ref=$sum
        same=$([ "$sum" = "$ref" ] && echo yes || echo NO)
        if [ -n "$QPSTAT_BEFORE" ]; then
            read -r bmb _ bsum < <(measure "$QPSTAT_BEFORE" "$j")
            [ -n "$bref" ] || bref=$bsum
            bsame=$([ "$bsum" = "$bref" ] && echo yes || echo NO)
            printf '| %s | %s | %s | %s | %s | %s |\n' "$j" "$bmb" "$bsame" "$mb" "$secs" "$same"
        else
            printf '| %s | %s | %s | %s |\n' "$j" "$mb" "$secs" "$same"
        fi
    done
} | tee "$RESULTS"
