#!/usr/bin/env bash
# bench/speed.sh - issue 15's table: the full report (every table, every
# line classified) against the seed's disposition one-liner under mawk and
# gawk and against `wc -l`, on a log of each dialect and each framing,
# measured side by side: every round runs every command once, in turn, and
# the medians of BENCH_ROUNDS rounds are compared (other jobs on a shared
# machine slow all the commands of a round alike; the CPU columns, user +
# system time, are what the load disturbs least). Writes a markdown table
# to stdout and to bench/speed-latest.md.
#
# Environment:
#   BENCH_WORKDIR  where the logs go (default ${TMPDIR:-/tmp}/qpstat-bench); reused
#   BENCH_ROUNDS   rounds (default 5)
#   BENCH_LOGS     which logs (default "all"; or a list of the names below)
#   BENCH_SCALE    multiplies every log's size (default 1; 0.1 for a quick look)
#   QPSTAT         qpstat binary (default: ../csrc/qpstat next to this script)
#   QPSTAT_BEFORE  an older build whose full report is timed in the same rounds
#   CC             C compiler for genlog (default cc)
set -u
set -o pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BENCH_WORKDIR=${BENCH_WORKDIR:-${TMPDIR:-/tmp}/qpstat-bench}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_LOGS=${BENCH_LOGS:-all}
BENCH_SCALE=${BENCH_SCALE:-1}
QPSTAT=${QPSTAT:-$BENCH_DIR/../csrc/qpstat}
QPSTAT_BEFORE=${QPSTAT_BEFORE:-}
CC=${CC:-cc}
RESULTS=$BENCH_DIR/speed-latest.md
export LC_ALL=C
unset TZ # as on a server

die() { printf 'speed.sh: %s\n' "$*" >&2; exit 1; }
for t in mawk gawk; do command -v $t > /dev/null || die "needs $t"; done
[ -x "$QPSTAT" ] || die "no qpstat at $QPSTAT (build first)"

# name | genlog arguments | bytes
LOGS=(
    "093-multilog-1G|--dialect 093 --framing multilog|1073741824"
    "08x-multilog|--dialect 08x --framing multilog|300000000"
    "093-multilog-dense|--dialect 093 --framing multilog --rate 2 --seed 2|300000000"
    "093-tai64nlocal|--dialect 093 --framing tai64nlocal|300000000"
    "093-logfile|--dialect 093 --framing logfile|300000000"
    "093-syslog|--dialect 093 --framing syslog|300000000"
    "04x-multilog|--dialect 04x --framing multilog|300000000"
)

if [ ! -x "$BENCH_DIR/genlog" ] || [ "$BENCH_DIR/genlog.c" -nt "$BENCH_DIR/genlog" ]; then
    "$CC" -O2 -Wall -Wextra -std=c99 -o "$BENCH_DIR/genlog" "$BENCH_DIR/genlog.c" || die "cannot build genlog"
fi
mkdir -p "$BENCH_WORKDIR" || die "cannot create $BENCH_WORKDIR"
gensum=$(cksum < "$BENCH_DIR/genlog.c" | cut -d' ' -f1)
P_DISP=$(cat "$BENCH_DIR/../t/data/seed/disposition.awk")
export P_DISP QPSTAT QPSTAT_BEFORE

# time_cmd COMMAND -> "wall cpu" (bash's time: 3 decimals; cpu = user + sys)
time_cmd() {
    local TIMEFORMAT='%3R %3U %3S' t
    t=$( { time bash -o pipefail -c "$1" > /dev/null 2>&1; } 2>&1 ) || die "failed: $1"
    awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%s %.3f\n", a[1], a[2] + a[3] }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

CMDS=(q2 q1 mawk gawk wc)
[ -n "$QPSTAT_BEFORE" ] && CMDS=(before q2 q1 mawk gawk wc)
cmd_of() { # ID FILE
    case $1 in
    before) echo "\"\$QPSTAT_BEFORE\" report --jobs 2 '$2'" ;;
    q2) echo "\"\$QPSTAT\" report --jobs 2 '$2'" ;;
    q1) echo "\"\$QPSTAT\" report --jobs 1 '$2'" ;;
    mawk) echo "mawk -F'[\t]' \"\$P_DISP\" '$2' | sort -nr" ;;
    gawk) echo "gawk -F'[\t]' \"\$P_DISP\" '$2' | sort -nr" ;;
    wc) echo "wc -l '$2'" ;;
    esac
}

{
    printf 'speed.sh, %s, %s rounds (medians), load average at the start %s\n\n' \
        "$(date -u +%Y-%m-%d)" "$BENCH_ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
    [ -n "$QPSTAT_BEFORE" ] && hb='| before (2 thr) s ' || hb=''
    printf '| log | lines %s| qpstat 2 thr s | 1 thr s | mawk s (2 thr is, 1 thr is) | gawk s (2 thr is, 1 thr is) | wc -l s (2 thr is) | CPU 2 thr / 1 thr | CPU mawk / 1 thr | load |\n' "$hb"
    printf '|---|---:|%s---:|---:|---:|---:|---:|---:|---:|---:|\n' "${hb:+---:|}"
    for spec in "${LOGS[@]}"; do
        IFS='|' read -r name args bytes <<< "$spec"
        case " $BENCH_LOGS " in *" all "*|*" $name "*) ;; *) continue ;; esac
        bytes=$(awk -v b="$bytes" -v s="$BENCH_SCALE" 'BEGIN { printf "%d", b * s }')
        log=$BENCH_WORKDIR/speed-$name-$bytes-$gensum.log
        if [ ! -s "$log" ]; then
            # shellcheck disable=SC2086
            "$BENCH_DIR/genlog" $args --size "$bytes" --output "$log.tmp" || die "genlog failed"
            mv "$log.tmp" "$log"
        fi
        cat "$log" > /dev/null
        load0=$(cut -d' ' -f1 /proc/loadavg) # the row's load: at its start and end
        declare -A W=() C=()
        for ((r = 0; r < BENCH_ROUNDS; r++)); do
            for c in "${CMDS[@]}"; do
                read -r w u < <(time_cmd "$(cmd_of "$c" "$log")")
                W[$c]+="$w "
                C[$c]+="$u "
            done
        done
        declare -A M=() MC=()
        for c in "${CMDS[@]}"; do
            M[$c]=$(tr ' ' '\n' <<< "${W[$c]}" | grep . | median)
            MC[$c]=$(tr ' ' '\n' <<< "${C[$c]}" | grep . | median)
        done
        lines=$(wc -l < "$log")
        bcol=''
        [ -n "$QPSTAT_BEFORE" ] && bcol="| ${M[before]} "
        printf '| %s (%s MB) | %s %s| %s | %s | %s (%sx, %sx) | %s (%sx, %sx) | %s (%sx slower) | %s | %s | %s |\n' \
            "$name" "$((bytes / 1000000))" "$lines" "$bcol" "${M[q2]}" "${M[q1]}" \
            "${M[mawk]}" "$(ratio "${M[mawk]}" "${M[q2]}")" "$(ratio "${M[mawk]}" "${M[q1]}")" \
            "${M[gawk]}" "$(ratio "${M[gawk]}" "${M[q2]}")" "$(ratio "${M[gawk]}" "${M[q1]}")" \
            "${M[wc]}" "$(ratio "${M[q2]}" "${M[wc]}")" \
            "$(ratio "${MC[q2]}" "${MC[q1]}")" "$(ratio "${MC[mawk]}" "${MC[q1]}")" "$load0-$(cut -d' ' -f1 /proc/loadavg)"
        unset W C M MC
    done
} | tee "$RESULTS"
