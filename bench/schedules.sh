#!/bin/bash
# The long run of t/365's random schedules: every door into the store
# (plugin records, multilog's processor, logrotate create and copytruncate,
# imports one at a time and at once, collect, check --fix, SIGKILLs) on many
# more schedules and seeds than the test suite takes the time for.
# Usage: bench/schedules.sh [SCHEDULES_PER_SEED [FIRST_SEED [SEEDS]]]
#   defaults: 200 schedules, seeds 1..10 (2,000 schedules, ~25 minutes here).
# A failed schedule prints the line that replays it (QPS_SCHEDULE_ONLY=N
# QPS_SCHEDULE_SEED=S); the script exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
per_seed=${1:-200}
first=${2:-1}
seeds=${3:-10}
[ -f blib/arch/auto/Qpstat/Qpstat.so ] && [ -x csrc/qpstat ] ||
    { echo "bench/schedules.sh: build first (perl Makefile.PL && make)" >&2; exit 2; }
failed=0
total=0
for ((seed = first; seed < first + seeds; seed++)); do
    out=$(QPS_SCHEDULES=$per_seed QPS_SCHEDULE_SEED=$seed prove -b t/365-schedules.t 2>&1)
    rc=$?
    ops=$(printf '%s\n' "$out" | grep -m1 -E '^# [0-9]+ schedules' | sed 's/^# //')
    echo "seed $seed: ${ops:-no summary}"
    runs=$(printf '%s\n' "$ops" | awk '{ print $1 + 0 }')
    total=$((total + ${runs:-0}))
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        # the failed tests, their replay lines, traces and differences
        printf '%s\n' "$out" | grep -v -E '^# [0-9]+ schedules' | grep -E '^ *#|not ok' | head -n 400 | sed 's/^/    /'
    fi
done
echo "$total schedules over $seeds seeds; seeds with a failure: $failed"
[ $failed -eq 0 ]
