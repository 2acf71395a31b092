#!/bin/sh
# bench/journal.sh [ENTRIES]: `qpstat report --journal-dir` over a journal of
# ENTRIES entries (default 1000000) beside `journalctl -o cat | qpstat report -`
# (the pipe qpstat's journal support replaces) and `qpstat report` over the
# same lines as a multilog file. The journal is made from a genlog log by
# systemd-journal-remote, as t/370 makes its journals (one entry per line,
# realtime = the line's label). Best wall time of BENCH_RUNS (3), with user and system CPU;
# a markdown table on stdout. Needs systemd-journal-remote and journalctl.
set -eu
cd "$(dirname "$0")/.."
n=${1:-1000000}
out=${BENCH_DIR:-${TMPDIR:-/tmp}/qpstat-bench-journal}
q=csrc/qpstat
mkdir -p "$out"
cc -O2 -std=c99 -o "$out/genlog" bench/genlog.c
# genlog counts connections: about 21 lines each
# made once (BENCH_DIR keeps them between runs)
if [ ! -s "$out/journal/remote.journal" ] || [ "$(wc -l < "$out/current")" != "$n" ]; then
"$out/genlog" --connections $((n / 20)) --output "$out/log"
head -n "$n" "$out/log" > "$out/current"
rm -rf "$out/journal"
mkdir "$out/journal"
# streamed: a million entries do not fit in one string
perl -It/lib -MQpstatJournal=journal_remote,label_lines,export_stream -e '
    my $remote = journal_remote() or die "no systemd-journal-remote\n";
    open my $f, "<", $ARGV[0] or die;
    open my $j, "|-", "$remote -o $ARGV[1] - 2>/dev/null" or die;
    my $seq = 1;
    while (my $l = <$f>) {
        chomp $l;
        print $j export_stream([label_lines($l)], seq => $seq++, pid => 9000);
    }
    close $j or die "systemd-journal-remote failed\n";' "$out/current" "$out/journal/remote.journal"
fi
lines=$(wc -l < "$out/current")
entries=$(journalctl --directory "$out/journal" -a -o cat | wc -l)
bytes=$(du -sb "$out/journal" | cut -f1)

best() { # best of 3: "wall user sys" of the command in $1
    b=""
    for i in $(seq ${BENCH_RUNS:-3}); do
        /usr/bin/time -f "%e %U %S" -o "$out/time" sh -c "$1" > /dev/null
        t=$(cat "$out/time")
        if [ -z "$b" ] || [ "$(echo "$t $b" | awk '{print ($1 < $4)}')" = 1 ]; then b=$t; fi
    done
    echo "$b"
}
# same answers first: the table each way
$q report --by disposition --journal-dir "$out/journal" > "$out/a"
journalctl --directory "$out/journal" -a -o cat | $q report --by disposition - > "$out/b"
$q report --by disposition "$out/current" > "$out/c"
same=$(tail -n +2 "$out/a" | md5sum | cut -c1-8)/$(tail -n +2 "$out/b" | md5sum | cut -c1-8)/$(tail -n +2 "$out/c" | md5sum | cut -c1-8)

j=$(best "$q report --journal-dir $out/journal")
p=$(best "journalctl --directory $out/journal -a -o cat | $q report -")
c=$(best "journalctl --directory $out/journal -a -o cat > /dev/null")
f=$(best "$q report $out/current")
echo "$lines lines, $entries entries, journal $bytes bytes; disposition tables (md5, journal/pipe/file): $same"
echo
echo "| command | wall s | user s | sys s | wall vs --journal-dir |"
echo "|---|---|---|---|---|"
for row in "qpstat report --journal-dir;$j" "journalctl -o cat \\| qpstat report -;$p" \
           "journalctl -o cat > /dev/null (alone);$c" "qpstat report on the multilog file;$f"; do
    name=${row%%;*}
    t=${row##*;}
    printf '| `%s` ' "$name"
    echo "$t $j" | awk '{printf "| %.2f | %.2f | %.2f | %.2f |\n", $1, $2, $3, $1 / $4}'
done
