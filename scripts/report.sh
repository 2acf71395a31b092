#!/bin/sh
# The main job: builds qpstat if needed, then prints the full report of the
# qpsmtpd logs in /var/log/qpsmtpd (and /var/log/sqpsmtpd), or of the
# sample logs shipped in t/data when this machine has none.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh
if [ -d /var/log/qpsmtpd ] || [ -d /var/log/sqpsmtpd ]; then
    exec csrc/qpstat report "$@"
fi
echo "(no /var/log/qpsmtpd here: reporting on the sample logs in t/data)"
exec csrc/qpstat report "$@" t/data/multilog-094
