#!/bin/sh
# Installs what the tests need, builds, and runs every test: the C unit
# tests, the Perl tests, the sanitizer build and a bounded fuzzing run.
set -eu
cd "$(dirname "$0")/.."
sh scripts/build.sh test
make test
