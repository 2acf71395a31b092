#!/bin/sh
# Builds the core, the CLI and the C unit tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (clang), runs the C tests and the CLI on the
# shared fixtures and on bad input. Any sanitizer report fails the run.
set -eu
cd "$(dirname "$0")/.."
out=build-san
mkdir -p "$out"
CC=${CC_SAN:-clang}
FLAGS="-g -O1 -std=gnu99 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GNU_SOURCE -Icsrc/include"
CORE="csrc/core/*.c csrc/store/*.c"
INTERNAL="-Icsrc/core -Icsrc/store"
# the link flags of Makefile.PL (the one place they are written)
LIBS=$(make -s --no-print-directory print-libs)
CLI_LIBS=$(make -s --no-print-directory print-cli-libs)
FLAGS="$FLAGS $(make -s --no-print-directory print-core-defines)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
$CC $FLAGS $INTERNAL -Icsrc/cli -o "$out/qpstat" csrc/cli/*.c $CORE $LIBS $CLI_LIBS
status=0
for t in tests/check_*.c; do
    bin="$out/$(basename "$t" .c)"
    $CC $FLAGS $INTERNAL $(pkg-config --cflags check) -o "$bin" "$t" $CORE $LIBS $(pkg-config --libs check)
    echo "== $bin"
    CK_FORK=no QPS_TEST_DATA=t/data "$bin" || status=1
done
q="$out/qpstat"
run() { echo "== qpstat $*"; "$q" "$@" > /dev/null || [ $? -le 2 ] || status=1; }
for fmt in text json csv; do
    run report --format "$fmt" t/data/multilog-094 t/data/*.log
done
run report --mail --since 2000-01-01 t/data/multilog-094
# past the size where report reads a file with several threads
# (csrc/cli/parallel.c): the fixtures repeated, and junk cut into lines
: > "$out/big.log"
while [ "$(wc -c < "$out/big.log")" -lt 6000000 ]; do cat t/data/*.log >> "$out/big.log"; done
head -c 6000000 /dev/urandom | tr '\000-\037' '\n' > "$out/junk-lines.bin"
for jobs in 1 3 16; do
    run report --format json --jobs "$jobs" "$out/big.log"
    run report --jobs "$jobs" "$out/junk-lines.bin"
done
head -c 300000 /dev/urandom > "$out/junk.bin"
run report "$out/junk.bin"
run tai64n "$out/junk.bin"
run tai64n t/data/multilog-094/current
run tail -n all "$out/junk.bin"
run tail -n all t/data/multilog-094
run grep -E 'a(b|c' "$out/junk.bin"
run grep --local queued t/data/multilog-094 t/data/*.log
run summary "$out/junk.bin" t/data/multilog-094
rm -f "$out/san.db" "$out/san.db-wal" "$out/san.db-shm"
run import --db "$out/san.db" "$out/junk.bin" t/data/multilog-094 t/data/*.log
run report --db "$out/san.db" --format json
run check --db "$out/san.db" t/data/multilog-094
echo "== qpstat processor"
"$q" processor < "$out/junk.bin" > /dev/null 4< "$out/junk.bin" 5> "$out/state" || status=1
run report --by nonsense
run report /nonexistent
# the journal as a source (libsystemd), when systemd-journal-remote is there
if perl -It/lib -MQpstatJournal=journal_remote -e 'exit(journal_remote() ? 0 : 1)'; then
    rm -f "$out/san.journal" "$out/junk.journal"
    perl -It/lib -MQpstatJournal=label_lines,export_stream,make_journal -e '
        open my $f, "<", "t/data/edge-cases.log" or die; chomp(my @l = <$f>);
        make_journal($ARGV[0], export_stream([label_lines(@l)]));' "$out/san.journal"
    cp "$out/junk.bin" "$out/junk.journal"
    for fmt in text json csv; do
        run report --format "$fmt" --by service --journal-file "$out/san.journal"
    done
    run report --journal-file "$out/san.journal"
    run tail -n all --journal-file "$out/san.journal"
    run grep queued --journal-file "$out/san.journal"
    run list --limit 0 --journal-file "$out/san.journal" --unit qpsmtpd --unit nosuch
    run summary --journal-file "$out/san.journal"
    run report --journal-file "$out/junk.journal"
    run report --journal-dir "$out"
    # the import engine on the journal: a store, a resume, the service
    # column and its totals, check, a prune, a corrupt journal
    rm -f "$out/sanj.db" "$out/sanj.db-wal" "$out/sanj.db-shm"
    run import --db "$out/sanj.db" --journal-file "$out/san.journal"
    run import -v --db "$out/sanj.db" --journal-file "$out/san.journal"
    run report --db "$out/sanj.db" --by service
    run report --db "$out/sanj.db" --where service=qpsmtpd --format json
    run list --limit 0 --db "$out/sanj.db" --where service=qpsmtpd
    run check --db "$out/sanj.db" --journal-file "$out/san.journal"
    export QPSTAT_NOW=4102444800 # 2100: every record is pruned
    run import --db "$out/sanj.db" --keep 1 --journal-file "$out/san.journal"
    unset QPSTAT_NOW
    run report --db "$out/sanj.db" --by service
    run import --db "$out/sanj.db" --journal-file "$out/junk.journal"
    run check --db "$out/sanj.db" --journal-file "$out/junk.journal"
fi
exit $status
