#!/bin/sh
# The main job: builds qpstat if needed, then prints the full report of the
# qpsmtpd logs in /var/log/qpsmtpd (and /var/log/sqpsmtpd), or of the
# sample logs shipped in t/data when this machine has none.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
# the logs of this host, when it has any (Debian's qpsmtpd package creates
# an empty /var/log/qpsmtpd)
for d in /var/log/qpsmtpd /var/log/sqpsmtpd; do
    if [ -n "$(ls -A "$d" 2>/dev/null | grep -E '^(current|@.*\.[su]|.*\.log.*)$' | head -n 1)" ]; then
        exec csrc/qpstat report "$@"
    fi
done
echo "(no /var/log/qpsmtpd here: reporting on the sample logs in t/data)"
exec csrc/qpstat report "$@" t/data/multilog-094
