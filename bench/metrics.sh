#!/bin/bash
# /metrics and /api/report from a store of a year: 10 million transactions
# and as many connections (an accept with its connection time per row, as
# the store folds them), spread over the 365 days before now, as the plugin
# records them. Times the first scrape (it aggregates the older records once),
# the next ones (the records of the last two hours), a scrape after an
# import of old logs (all again), and the dashboard's API calls.
# Usage: bench/metrics.sh   (BENCH_WORKDIR, BENCH_STORE_ROWS)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_WORKDIR:-/tmp/qpstat-bench}
rows=${BENCH_STORE_ROWS:-10000000}
Q=${QPSTAT:-$PWD/csrc/qpstat}
mkdir -p "$work"
export TZ=UTC LC_ALL=C
now=$(date +%s)
start=$(( now - 365 * 86400 ))
year="$work/year-metrics-$rows.db"
if [ ! -s "$year" ]; then
    rm -f "$year"*
    "$Q" import --db "$year" t/data/multilog-094 > /dev/null   # creates the schema
    sqlite3 "$year" > /dev/null <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
DELETE FROM transactions; DELETE FROM connections; DELETE FROM files;
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
SQL
fi
stored=$(sqlite3 "$year" 'SELECT count(*) FROM transactions')
size=$(du -h "$year" | cut -f1)

port=$(( 20000 + RANDOM % 20000 ))
"$Q" serve --db "$year" --listen "127.0.0.1:$port" 2> "$work/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q listening "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
get() { curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port$1"; }
median() { sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }

first=$(get /metrics)
warm=$(for _ in $(seq 11); do get /metrics; echo; done | median)
# an import of old lines: the store counts it, serve aggregates everything again
printf '@%s 1 (deny) logging::logterse: ` 192.0.2.9\tx\thelo\t<a@b.example>\t<c@d.example>\tdnsbl\t901\tsee http://www.spamhaus.org/q\n' \
    "$(printf '4000000%09x%08x' $(( now - 200 * 86400 )) 0)" > "$work/old.log"
"$Q" import --db "$year" "$work/old.log" > /dev/null
after_old=$(get /metrics)
again=$(for _ in $(seq 11); do get /metrics; echo; done | median)
day=$(for _ in $(seq 5); do get '/api/report?today=1'; echo; done | median)
day_disp=$(for _ in $(seq 5); do get '/api/report?today=1&by=disposition'; echo; done | median)
week=$(for _ in $(seq 3); do get '/api/report?days=7'; echo; done | median)
week_disp=$(for _ in $(seq 3); do get '/api/report?days=7&by=disposition'; echo; done | median)
series=$(curl -s "http://127.0.0.1:$port/metrics" | grep -vc '^#')

cat > bench/results-metrics.md <<MD
| measurement ($stored transactions and as many connections over a year, $size) | seconds |
|---|---:|
| first \`/metrics\` (aggregates the records older than two hours once) | $first |
| next \`/metrics\` (median of 11: the last two hours on top of that) | $warm |
| \`/metrics\` after an import of old lines (all again) | $after_old |
| next \`/metrics\` (median of 11) | $again |
| \`/api/report?today=1\` (every table, median of 5) | $day |
| \`/api/report?today=1&by=disposition\` (median of 5) | $day_disp |
| \`/api/report?days=7\` (the dashboard's default, every table, median of 3) | $week |
| \`/api/report?days=7&by=disposition\` (median of 3) | $week_disp |
| series in \`/metrics\` | $series |
MD
cat bench/results-metrics.md
