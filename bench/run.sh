#!/usr/bin/env bash
# bench/run.sh - time qpstat against the tools SME admins use today
# (the awk one-liners from the "Email Statistics" wiki page, tai64nlocal,
# wc, cat) on one generated qpsmtpd 0.94 multilog log, and write a markdown
# table to bench/results-latest.md.
#
# Environment:
#   BENCH_BYTES    size of the generated log (default 1073741824 = 1 GiB)
#   BENCH_WORKDIR  where the log and command outputs go
#                  (default ${TMPDIR:-/tmp}/qpstat-bench); the log is reused
#                  if it already exists for the same size and generator source
#   BENCH_SEED     genlog --seed (default 1)
#   BENCH_REPEAT   run each command N times and keep the fastest (default 1)
#   BENCH_LOCALE   LC_ALL for every command (default C, as the seed's
#                  Email Disposition pipeline sets; UTF-8 locales slow awk)
#   BENCH_TZ       TZ for every command (default: unset, as on a server)
#   QPSTAT         qpstat binary (default: ../csrc/qpstat next to this script)
#   CC             C compiler for genlog (default cc)
set -u
set -o pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BENCH_BYTES=${BENCH_BYTES:-1073741824}
BENCH_WORKDIR=${BENCH_WORKDIR:-${TMPDIR:-/tmp}/qpstat-bench}
BENCH_SEED=${BENCH_SEED:-1}
BENCH_REPEAT=${BENCH_REPEAT:-1}
BENCH_LOCALE=${BENCH_LOCALE:-C}
QPSTAT=${QPSTAT:-$BENCH_DIR/../csrc/qpstat}
CC=${CC:-cc}
RESULTS=$BENCH_DIR/results-latest.md

# The time zone as on a server: TZ unset, the zone from /etc/localtime.
# That is how admins run the seed's pipeline, and it matters: with TZ unset
# glibc checks /etc/localtime at every localtime() call, i.e. tai64nlocal
# makes a stat() per line (the "TZ set" row shows the difference).
if [ -n "${BENCH_TZ:-}" ]; then export TZ=$BENCH_TZ; else unset TZ; fi
export LC_ALL=$BENCH_LOCALE

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

case $BENCH_BYTES in ''|*[!0-9]*) die "BENCH_BYTES must be a number of bytes";; esac
case $BENCH_REPEAT in ''|*[!0-9]*|0) die "BENCH_REPEAT must be a positive number";; esac

# ---------------------------------------------------------------------------
# 1. tools: install what is missing (Debian, as root), else skip those rows

missing_pkgs=()
command -v gawk >/dev/null 2>&1 || missing_pkgs+=(gawk)
command -v mawk >/dev/null 2>&1 || missing_pkgs+=(mawk)
command -v tai64nlocal >/dev/null 2>&1 || missing_pkgs+=(daemontools)
[ -x /usr/bin/time ] || missing_pkgs+=(time)
if [ ${#missing_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing ${missing_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 &&
              apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >/dev/null 2>&1; } ||
            say "warning: could not install ${missing_pkgs[*]}; their rows will be skipped"
    else
        say "warning: missing ${missing_pkgs[*]} (not root or no apt-get); their rows will be skipped"
    fi
fi
have() { command -v "$1" >/dev/null 2>&1; }
EGREP="grep -E"
have egrep && EGREP=egrep    # the seed uses egrep (a wrapper on newer grep)

# ---------------------------------------------------------------------------
# 2. the generator and the log

if [ ! -x "$BENCH_DIR/genlog" ] || [ "$BENCH_DIR/genlog.c" -nt "$BENCH_DIR/genlog" ]; then
    say "building genlog"
    "$CC" -O2 -Wall -Wextra -std=c99 -o "$BENCH_DIR/genlog" "$BENCH_DIR/genlog.c" ||
        die "cannot build genlog"
fi

mkdir -p "$BENCH_WORKDIR/out" || die "cannot create $BENCH_WORKDIR"
gensum=$(cksum < "$BENCH_DIR/genlog.c" | cut -d' ' -f1)
LOG=$BENCH_WORKDIR/qpsmtpd-093-multilog-seed$BENCH_SEED-$BENCH_BYTES-$gensum.log
if [ ! -s "$LOG" ]; then
    say "generating $LOG ($BENCH_BYTES bytes)"
    gstart=$(date +%s.%N)
    "$BENCH_DIR/genlog" --dialect 093 --framing multilog --seed "$BENCH_SEED" \
        --size "$BENCH_BYTES" --output "$LOG.tmp" || die "genlog failed"
    gend=$(date +%s.%N)
    mv "$LOG.tmp" "$LOG"
    gensecs=$(awk -v a="$gstart" -v b="$gend" 'BEGIN { printf "%.2f", b - a }')
    say "generated in $gensecs s"
fi
SIZE=$(wc -c < "$LOG")

say "warming the page cache"
cat "$LOG" > /dev/null

# dates covered by the log (first and last label), as the seed's $mydate
# alternation, so that the date filter keeps every line like qpstat reads them
label_secs() { # "@4000..." -> unix seconds
    local hex=${1:1:16}
    echo $(( 16#$hex - 4611686018427387914 ))
}
first=$(head -c 26 "$LOG")
last=$(tail -n 1 "$LOG" | head -c 26)
s0=$(label_secs "$first"); s1=$(label_secs "$last")
# local dates, hour by hour: tai64nlocal prints local times
MYDATE=""
d=$s0
while :; do
    day=$(date -d "@$d" +%Y-%m-%d)
    case "|$MYDATE|" in *"|$day|"*) ;; *) MYDATE="${MYDATE:+$MYDATE|}$day";; esac
    [ "$d" -ge "$s1" ] && break
    d=$(( d + 3600 > s1 ? s1 : d + 3600 ))
done
FIRSTDAY=${MYDATE%%|*}
LASTDAY=${MYDATE##*|}
export LOG QPSTAT MYDATE EGREP FIRSTDAY LASTDAY

# ---------------------------------------------------------------------------
# 3. the commands (verbatim seed programs; FILE = the log)

# the seed's programs, verbatim, as t/510 runs them (t/data/seed/*.awk):
# (b) Count messages by qpsmtpd disposition, (c) Count messages denied by
# DNSBL Block Lists, (d) Count emails by TLD and disposition (the awk part of
# the pipeline; its NO-BREAK SPACE, which no awk accepts, made a space)
SEED=$BENCH_DIR/../t/data/seed
P_DISP=$(cat "$SEED/disposition.awk")
P_DNSBL=$(cat "$SEED/dnsbl.awk")
P_TLD=$(sed 's/\xc2\xa0/ /g' "$SEED/mail.awk")
export P_DISP P_DNSBL P_TLD

# row ID LABEL REQUIREMENTS COMMAND (COMMAND runs under bash -o pipefail -c)
ORDER=()
declare -A LABEL REQ CMD SECS RSS NOTE
row() { ORDER+=("$1"); LABEL[$1]=$2; REQ[$1]=$3; CMD[$1]=$4; }

row qpstat_report  '`qpstat report FILE` (full default report)' qpstat \
    '"$QPSTAT" report "$LOG" > /dev/null'
row qpstat_by_disp '`qpstat report --by disposition FILE`' qpstat \
    '"$QPSTAT" report --by disposition "$LOG"'
row qpstat_by_dnsbl '`qpstat report --by dnsbl FILE`' qpstat \
    '"$QPSTAT" report --by dnsbl "$LOG"'
row qpstat_mail    '`qpstat report --mail --since FIRST --until LAST FILE`' qpstat \
    '"$QPSTAT" report --mail --since "$FIRSTDAY" --until "$LASTDAY" "$LOG"'
row gawk_disp      'gawk disposition one-liner `\| sort -nr`' gawk \
    'gawk -F"[\t]" "$P_DISP" "$LOG" | sort -nr'
row mawk_disp      'mawk disposition one-liner `\| sort -nr`' mawk \
    'mawk -F"[\t]" "$P_DISP" "$LOG" | sort -nr'
row gawk_dnsbl     'gawk dnsbl one-liner' gawk \
    'gawk -F"[\t]" "$P_DNSBL" "$LOG"'
row mawk_dnsbl     'mawk dnsbl one-liner' mawk \
    'mawk -F"[\t]" "$P_DNSBL" "$LOG"'
row tld_pipeline   'Email Disposition: `cat -v \| tai64nlocal \| egrep \| grep -v \| gawk`' 'gawk tai64nlocal' \
    'cat -v "$LOG" | tai64nlocal | $EGREP "$MYDATE" | grep -v ^# | gawk -v date="$MYDATE" -v tots="                                   {{Total}}           " -F"[\t]" "$P_TLD"'
row tld_pipeline_tz 'the same pipeline with `TZ=:/etc/localtime` set' 'gawk tai64nlocal' \
    'cat -v "$LOG" | TZ=:/etc/localtime tai64nlocal | $EGREP "$MYDATE" | grep -v ^# | gawk -v date="$MYDATE" -v tots="                                   {{Total}}           " -F"[\t]" "$P_TLD"'
row qpstat_tai64n  '`qpstat tai64n < FILE > /dev/null`' qpstat-tai64n \
    '"$QPSTAT" tai64n < "$LOG" > /dev/null'
row tai64nlocal    '`tai64nlocal < FILE > /dev/null`' tai64nlocal \
    'tai64nlocal < "$LOG" > /dev/null'
row wc             '`wc -l FILE`' wc 'wc -l "$LOG"'
row cat            '`cat FILE > /dev/null`' cat 'cat "$LOG" > /dev/null'

# is a requirement met? prints the reason when not
requirement() {
    local r
    for r in $1; do
        case $r in
        qpstat)
            [ -x "$QPSTAT" ] || { echo "no binary $QPSTAT"; return 1; }
            "$QPSTAT" report /dev/null >/dev/null 2>&1 ||
                { echo "\`qpstat report\` not available"; return 1; } ;;
        qpstat-tai64n)
            [ -x "$QPSTAT" ] || { echo "no binary $QPSTAT"; return 1; }
            "$QPSTAT" tai64n < /dev/null >/dev/null 2>&1 ||
                { echo "\`qpstat tai64n\` not available"; return 1; } ;;
        *)
            have "$r" || { echo "$r not installed"; return 1; } ;;
        esac
    done
    return 0
}

# run one command; sets T (wall seconds, 3 decimals), M (peak RSS KB or "")
# and ERR; /usr/bin/time only measures memory (its %e has 2 decimals)
TIMEFILE=$BENCH_WORKDIR/time.txt
run_one() {
    local cmd=$1 out=$2 err=$3 rc t0 t1
    : > "$TIMEFILE"
    t0=$(date +%s%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$TIMEFILE" bash -o pipefail -c "$cmd" > "$out" 2> "$err"
        rc=$?
    else
        bash -o pipefail -c "$cmd" > "$out" 2> "$err"
        rc=$?
    fi
    t1=$(date +%s%N)
    T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    M=$(tail -n 1 "$TIMEFILE" 2>/dev/null)
    case $M in ''|*[!0-9]*) M="";; esac
    ERR=""
    [ "$rc" = 0 ] || ERR="failed (exit $rc, see $err)"
}

for id in "${ORDER[@]}"; do
    cmd=${CMD[$id]}
    if ! why=$(requirement "${REQ[$id]}"); then
        NOTE[$id]="skipped ($why)"
        say "$id: skipped ($why)"
        continue
    fi
    best=""; bestm=""
    for ((i = 0; i < BENCH_REPEAT; i++)); do
        say "$id: running"
        run_one "$cmd" "$BENCH_WORKDIR/out/$id.txt" "$BENCH_WORKDIR/out/$id.err"
        if [ -n "$ERR" ]; then NOTE[$id]=$ERR; best=""; break; fi
        if [ -z "$best" ] || awk -v a="$T" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$T
        fi
        if [ -n "$M" ] && { [ -z "$bestm" ] || [ "$M" -gt "$bestm" ]; }; then bestm=$M; fi
    done
    if [ -n "$best" ]; then
        SECS[$id]=$best; RSS[$id]=$bestm
        say "$id: $best s, ${bestm:-?} KB"
    else
        say "$id: ${NOTE[$id]}"
    fi
done

# ---------------------------------------------------------------------------
# 4. the table

base=${SECS[qpstat_report]:-}
lines=$(cat "$BENCH_WORKDIR/out/wc.txt" 2>/dev/null | awk '{ print $1 }')
[ -n "$lines" ] || lines=$(wc -l < "$LOG")
nlt=$(grep -c logterse "$LOG")
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
{
    echo "# qpstat benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -sm), ${cpu:-unknown CPU}, $(nproc 2>/dev/null || echo '?') CPUs"
    echo "- log: \`genlog --dialect 093 --framing multilog --seed $BENCH_SEED --size $BENCH_BYTES\`:" \
         "$SIZE bytes, $lines lines, $nlt logterse records, $(date -u -d "@$s0" '+%Y-%m-%d %H:%M') to $(date -u -d "@$s1" '+%Y-%m-%d %H:%M') UTC"
    echo "- page cache warm; LC_ALL=$LC_ALL; TZ=${TZ-(unset)} (zone $(readlink /etc/localtime 2>/dev/null | sed 's|.*zoneinfo/||')); best of $BENCH_REPEAT run(s); wall time; MB = 10^6 bytes of the log;" \
         "peak RSS = largest single process of the command (/usr/bin/time %M)"
    echo "- tools: $(gawk --version 2>/dev/null | head -n 1 || echo 'gawk missing');" \
         "$(mawk -W version 2>&1 | head -n 1 || echo 'mawk missing'); qpstat: $QPSTAT"
    echo "- Email Disposition date filter: \`egrep \"$MYDATE\"\` (every date in the log)"
    echo
    echo "| command | seconds | MB/s | peak RSS MB | vs qpstat report |"
    echo "|---|---:|---:|---:|---|"
    for id in "${ORDER[@]}"; do
        label=${LABEL[$id]}
        if [ -z "${SECS[$id]:-}" ]; then
            echo "| $label | ${NOTE[$id]} | | | |"
            continue
        fi
        t=${SECS[$id]}
        mbs=$(awk -v s="$SIZE" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", s / 1e6 / t; else print "-" }')
        rss=n/a
        [ -n "${RSS[$id]:-}" ] && rss=$(awk -v k="${RSS[$id]}" 'BEGIN { printf "%.1f", k / 1024 }')
        if [ "$id" = qpstat_report ]; then
            ratio="baseline"
        elif [ -n "$base" ]; then
            ratio=$(awk -v t="$t" -v b="$base" 'BEGIN {
                if (b <= 0 || t <= 0) { print "n/a"; exit }
                if (t < b * 1.05 && b < t * 1.05) print "same (within 5%)"
                else if (t >= b) printf "%.1fx slower", t / b; else printf "%.1fx faster", b / t }')
        else
            ratio="n/a (qpstat report skipped)"
        fi
        echo "| $label | $t | $mbs | $rss | $ratio |"
    done
    # like for like: each tool of the seed against the qpstat command that
    # prints the same table
    echo
    echo "Like for like:"
    echo
    pair() { # label, seed row, qpstat row
        [ -n "${SECS[$2]:-}" ] && [ -n "${SECS[$3]:-}" ] || return 0
        awk -v l="$1" -v a="${SECS[$2]}" -v b="${SECS[$3]}" 'BEGIN {
            if (a > 0 && b > 0) printf "- %s: %.1fx\n", l, a / b }'
    }
    pair 'gawk disposition one-liner / `qpstat report --by disposition`' gawk_disp qpstat_by_disp
    pair 'mawk disposition one-liner / `qpstat report --by disposition`' mawk_disp qpstat_by_disp
    pair 'gawk dnsbl one-liner / `qpstat report --by dnsbl`' gawk_dnsbl qpstat_by_dnsbl
    pair 'mawk dnsbl one-liner / `qpstat report --by dnsbl`' mawk_dnsbl qpstat_by_dnsbl
    pair 'Email Disposition pipeline / `qpstat report --mail`' tld_pipeline qpstat_mail
    pair 'Email Disposition pipeline / `qpstat report` (full)' tld_pipeline qpstat_report
    pair 'Email Disposition pipeline, TZ set / `qpstat report --mail`' tld_pipeline_tz qpstat_mail
    pair 'Email Disposition pipeline, TZ set / `qpstat report` (full)' tld_pipeline_tz qpstat_report
    if [ -n "${SECS[qpstat_tai64n]:-}" ] && [ -n "${SECS[tai64nlocal]:-}" ]; then
        echo
        awk -v q="${SECS[qpstat_tai64n]}" -v t="${SECS[tai64nlocal]}" 'BEGIN {
            if (q > 0 && t >= q) printf "qpstat tai64n is %.1fx faster than tai64nlocal.\n", t / q
            else if (t > 0) printf "qpstat tai64n is %.1fx slower than tai64nlocal.\n", q / t }'
    fi
    echo
    echo "Command outputs: $BENCH_WORKDIR/out/ (e.g. gawk_disp.txt vs qpstat_by_disp.txt)."
} > "$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"

cat "$RESULTS"
