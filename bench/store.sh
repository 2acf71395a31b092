#!/bin/bash
# Store benchmarks, in one run:
#  1. import rate: `qpstat import` of a generated 1 GiB log (transactions/s);
#  2. a one-day report from a store holding a year of a busy server
#     (10 million transactions), beside the same report from the raw log.
# Usage: bench/store.sh   (BENCH_WORKDIR, BENCH_BYTES, BENCH_STORE_ROWS)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_WORKDIR:-/tmp/qpstat-bench}
bytes=${BENCH_BYTES:-1073741824}
rows=${BENCH_STORE_ROWS:-10000000}
Q=${QPSTAT:-$PWD/csrc/qpstat}
mkdir -p "$work"
export TZ=UTC LC_ALL=C
[ -x bench/genlog ] || cc -O2 -std=c99 -o bench/genlog bench/genlog.c
log="$work/093-multilog-$bytes.log"
[ -s "$log" ] || bench/genlog --size "$bytes" > "$log"
cat "$log" > /dev/null

secs() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo "scale=3; ($e - $s) / 1000000000" | bc; }

# 1. import rate
rm -f "$work/import.db"*
t_import=$(secs "$Q" import --db "$work/import.db" "$log")
cpu_import=$( { /usr/bin/time -f '%U %S' "$Q" import --db "$work/import-cpu.db" "$log" > /dev/null; } 2>&1 | tail -n 1 |
              awk '{ printf "%.2f", $1 + $2 }')
rm -f "$work/import-cpu.db"*
tx=$(sqlite3 "$work/import.db" 'SELECT count(*) FROM transactions')
facts=$(sqlite3 "$work/import.db" 'SELECT (SELECT count(*) + count(end_time) FROM connections) +
                                          (SELECT count(queue_ok) FROM transactions)')
imported_rows=$(sqlite3 "$work/import.db" 'SELECT (SELECT count(*) FROM connections) + (SELECT count(*) FROM transactions)')
rate=$(echo "$tx / $t_import" | bc)

# 2. a year of a busy server: rows spread over 365 days, as the plugin
#    records them (source 2, with their dedup hash; ids are time keys)
year="$work/year-v4-$rows.db"
if [ ! -s "$year" ]; then
    rm -f "$year"*
    "$Q" import --db "$year" t/data/multilog-094 > /dev/null   # creates the schema
    sqlite3 "$year" <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
DELETE FROM transactions; DELETE FROM connections; DELETE FROM files;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $rows - 1)
INSERT INTO transactions (id, time, nsec, pid, ip, helo, sender, recipients, disposition, code, text, spam,
                          source, dedup)
SELECT ((1735689600 + i * 31536000 / $rows) << 30) | (i % 1000), 1735689600 + i * 31536000 / $rows, i % 1000,
       1000 + i % 30000, ip, 'mx' || (i % 977) || '.example.net', sender, '<u@example.com>', disp, code, text, spam,
       2, i
FROM (SELECT i,
       (i % 223) || '.' || (i % 191) || '.' || (i % 97) || '.' || (i % 251) AS ip,
       '<s' || (i % 5003) || '@host' || (i % 101) || '.' || (CASE i % 5 WHEN 0 THEN 'com' WHEN 1 THEN 'net'
           WHEN 2 THEN 'xyz' WHEN 3 THEN 'org' ELSE 'de' END) || '>' AS sender,
       CASE i % 4 WHEN 0 THEN 'queued' WHEN 1 THEN 'dnsbl' WHEN 2 THEN 'rhsbl' ELSE 'spamassassin' END AS disp,
       CASE i % 4 WHEN 0 THEN '' ELSE '901' END AS code,
       CASE i % 4 WHEN 0 THEN '<id' || i || '@x>' WHEN 1 THEN 'see http://www.spamhaus.org/q' ELSE 'no' END AS text,
       CASE i % 4 WHEN 0 THEN 'No, score=1.0 required=5.0' WHEN 3 THEN 'Yes, score=9.0 required=5.0'
           ELSE 'msg denied before queued' END AS spam
      FROM n);
-- rows put in by SQL have no totals: as a store of schema 3, which the
-- next import migrates (its totals from its records)
DROP TABLE spans; DROP TABLE totals; DROP TABLE daily_v3; DROP TABLE daily_facts_v3;
ALTER TABLE transactions DROP COLUMN service;
PRAGMA user_version = 3; UPDATE meta SET value = '3' WHERE key = 'schema_version';
SQL
    : > "$work/empty.log"
    "$Q" import --db "$year" "$work/empty.log" > /dev/null
fi
stored=$(sqlite3 "$year" 'SELECT count(*) FROM transactions')
day_store=$(secs "$Q" report --db "$year" --since 2025-06-01 --until 2025-06-01)
day_store_disp=$(secs "$Q" report --db "$year" --by disposition --since 2025-06-01 --until 2025-06-01)
logday=$(sed -n '1p' "$log" | cut -c2-17)
first_day=$(TZ=UTC "$Q" report --by day --format csv "$log" | sed -n '2p' | cut -d, -f1)
day_logs=$(secs "$Q" report --since "$first_day" --until "$first_day" "$log")
size=$(du -h "$year" | cut -f1)
# the daily prune of `import --keep 365` on that store: one day goes
cp "$year" "$work/prune.db"
rm -f "$work/prune.db-wal" "$work/prune.db-shm"
printf '' > "$work/empty.log"
day_prune=$(QPSTAT_NOW=$((1735689600 + 366 * 86400)) secs "$Q" import --keep 365 --db "$work/prune.db" "$work/empty.log")
pruned=$(( stored - $(sqlite3 "$work/prune.db" 'SELECT count(*) FROM transactions') ))
rm -f "$work/prune.db"*

cat > bench/results-store.md <<MD
| measurement | value |
|---|---|
| import of a $(du -h "$log" | cut -f1) generated log ($tx transactions, $facts connection facts, $imported_rows rows) | ${t_import} s (CPU ${cpu_import} s) |
| import rate | ${rate} transactions/s |
| store after the import | $(du -h "$work/import.db" | cut -f1) |
| store with a year of a busy server | $stored transactions, $size |
| one-day report (every table) from that store | ${day_store} s |
| one-day report (--by disposition) from that store | ${day_store_disp} s |
| one-day report (every table) from the raw 1 GiB log | ${day_logs} s |
| daily prune (\`import --keep 365\`, $pruned transactions kept as daily totals) of that store | ${day_prune} s |
MD
cat bench/results-store.md
