#!/bin/sh
# Configures and builds everything (core, CLI, XS module, C tests).
# `sh scripts/build.sh test` also installs what the tests need.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh "${1:-}"
if [ ! -f Makefile ] || [ Makefile.PL -nt Makefile ]; then
    perl Makefile.PL
fi
make -j2 >/dev/null
make c_tests >/dev/null
