#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the whole test suite:
# unit tests, then integration tests that run the real daemons on real unix sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
# Unit tests in parallel; integration tests one at a time (they start daemons and load them).
ctest --test-dir "$build_dir" -L unit -j "$(nproc)" --output-on-failure
ctest --test-dir "$build_dir" -L integration -j 1 --output-on-failure
