#!/bin/sh
# Builds the libFuzzer target with ASan/UBSan and runs it for a bounded
# time (QPS_FUZZ_SECONDS, default 30) from a corpus of the shared fixtures.
set -eu
cd "$(dirname "$0")/.."
out=build-san
mkdir -p "$out/corpus"
clang -g -O1 -std=gnu99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Icsrc/include -Icsrc/core -Icsrc/store -o "$out/fuzz_parse" tests/fuzz_parse.c csrc/core/*.c csrc/store/*.c $(make -s --no-print-directory print-libs)
# one line per corpus file: the parser sees every kind of line at once
i=0
for f in t/data/multilog-094/current t/data/multilog-094/@*.s t/data/*.log; do
    [ -f "$f" ] || continue
    head -c 4096 "$f" > "$out/corpus/seed$i"
    i=$((i + 1))
done
"$out/fuzz_parse" -max_total_time="${QPS_FUZZ_SECONDS:-30}" -max_len=8192 -timeout=10 \
    -print_final_stats=1 "$out/corpus"
