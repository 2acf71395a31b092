#!/bin/bash
# /metrics, the dashboard's API and report --db from a store of a year: 10
# million transactions and as many connections over the 365 days before
# now (bench/metrics.sh's rows). The rows go in by SQL as a store of schema
# 3 (no totals), so the first import migrates it and builds its totals
# from the records (timed); then every read is timed on the store with its
# totals. Results: bench/results-metrics.md (bench/store.sh: the import rate).
# Usage: bench/metrics.sh   (BENCH_WORKDIR, BENCH_STORE_ROWS, QPSTAT)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_WORKDIR:-/tmp/qpstat-bench}
rows=${BENCH_STORE_ROWS:-10000000}
Q=${QPSTAT:-$PWD/csrc/qpstat}
mkdir -p "$work"
export TZ=UTC LC_ALL=C
now=$(date +%s)
start=$(( now - 365 * 86400 ))
year="$work/year-metrics-v4-$rows.db"
rm -f "$year"*
"$Q" import --db "$year" t/data/multilog-094 > /dev/null   # creates the schema
sqlite3 "$year" > /dev/null <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
DELETE FROM transactions; DELETE FROM connections; DELETE FROM files;
DROP TABLE spans; DROP TABLE totals; DROP TABLE conn_times; DROP TABLE daily_v3; DROP TABLE daily_facts_v3;
ALTER TABLE transactions DROP COLUMN service;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1)
INSERT INTO transactions (id, time, nsec, pid, ip, helo, sender, recipients, disposition, code, text, spam,
                          source, dedup)
SELECT (($start + i * 31536000 / $rows) << 30) | (i % 1000), $start + i * 31536000 / $rows, i % 1000,
       1000 + i % 30000, (i % 223) || '.' || (i % 191) || '.' || (i % 97) || '.' || (i % 251),
       'mx' || (i % 977) || '.example.net', '<s' || (i % 5003) || '@host' || (i % 101) || '.com>', '<u@example.com>',
       CASE i % 4 WHEN 0 THEN 'queued' WHEN 1 THEN 'dnsbl' WHEN 2 THEN 'rhsbl' ELSE 'spamassassin' END,
       CASE i % 4 WHEN 0 THEN '' ELSE '901' END,
       CASE i % 4 WHEN 0 THEN '<id' || i || '@x>' WHEN 1 THEN 'see http://www.spamhaus.org/q' ELSE 'no' END,
       CASE i % 4 WHEN 0 THEN 'No, score=1.0 required=5.0' WHEN 3 THEN 'Yes, score=9.0 required=5.0'
           ELSE 'msg denied before queued' END,
       2, i
FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1)
INSERT INTO connections (id, time, nsec, pid, kind, ip, running, max, millis, end_time, end_nsec, source, dedup)
SELECT (($start + i * 31536000 / $rows + 2) << 30) | (i % 1000), $start + i * 31536000 / $rows, i % 1000,
       1000 + i % 30000, 'accept', '192.0.2.' || (i % 250), i % 7, 40, 500 + i % 4000,
       $start + i * 31536000 / $rows + 2, i % 1000, 2, i
FROM n;
PRAGMA user_version = 3; UPDATE meta SET value = '3' WHERE key = 'schema_version';
SQL
stored=$(sqlite3 "$year" 'SELECT count(*) FROM transactions')
: > "$work/empty.log"
t0=$(date +%s.%N)
"$Q" import --db "$year" "$work/empty.log" > /dev/null   # migrates: the totals from the records
migrate=$(echo "$(date +%s.%N) - $t0" | bc)
size=$(du -h "$year" | cut -f1)
spans=$(sqlite3 "$year" 'SELECT count(*) FROM spans')
totals=$(sqlite3 "$year" 'SELECT count(*) FROM totals')

median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }
cli() {
    for _ in 1 2 3 4 5; do
        local a b
        a=$(date +%s.%N)
        "$Q" report --db "$year" "$@" > /dev/null
        b=$(date +%s.%N)
        echo "$b - $a" | bc
    done | median
}
yesterday=$(date -d @$(( now - 86400 )) +%F)
day_all=$(cli --since "$yesterday" --until "$yesterday")
day_disp=$(cli --since "$yesterday" --until "$yesterday" --by disposition)
today_all=$(cli --today)
week_all=$(cli --days 7)
week_disp=$(cli --days 7 --by disposition)
all_disp=$(cli --by disposition)

port=$(( 20000 + RANDOM % 20000 ))
"$Q" serve --db "$year" --listen "127.0.0.1:$port" 2> "$work/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q listening "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
get() { curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$1"; }
first=$(get /metrics)
warm=$(for _ in $(seq 11); do get /metrics; echo; done | median)
api_day=$(for _ in $(seq 5); do get '/api/report?today=1'; echo; done | median)
api_week=$(for _ in $(seq 5); do get '/api/report?days=7'; echo; done | median)
api_week_disp=$(for _ in $(seq 5); do get '/api/report?days=7&by=disposition'; echo; done | median)
# a live write between scrapes: the totals move with it
printf '@%s 1 (deny) logging::logterse: ` 192.0.2.9\tx\thelo\t<a@b.example>\t<c@d.example>\tdnsbl\t901\tsee http://www.spamhaus.org/q\n' \
    "$(printf '4000000%09x%08x' $(( now - 200 * 86400 )) 0)" > "$work/old.log"
"$Q" import --db "$year" "$work/old.log" > /dev/null
after_old=$(get /metrics)

cat > bench/results-metrics.md <<MD
| measurement ($stored transactions and as many connections over a year, $size; $spans spans, $totals totals rows; load $(cut -d' ' -f1-3 /proc/loadavg)) | seconds |
|---|---:|
| migration from schema 3: the totals from every record (once) | $migrate |
| \`report --db\` one whole day (yesterday), every table (median of 5) | $day_all |
| \`report --db\` one whole day, \`--by disposition\` | $day_disp |
| \`report --db --today\`, every table | $today_all |
| \`report --db --days 7\`, every table (the first day partly: its records) | $week_all |
| \`report --db --days 7 --by disposition\` | $week_disp |
| \`report --db --by disposition\`, everything | $all_disp |
| first \`/metrics\` after start | $first |
| next \`/metrics\` (median of 11) | $warm |
| \`/metrics\` after an import of an old line | $after_old |
| \`/api/report?today=1\` (every table, median of 5) | $api_day |
| \`/api/report?days=7\` (the dashboard's default, every table) | $api_week |
| \`/api/report?days=7&by=disposition\` | $api_week_disp |
MD
cat bench/results-metrics.md
