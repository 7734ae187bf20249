#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the whole test suite:
# unit tests, then integration tests that run the real daemons on real unix sockets against a
# real Docker engine (started here when none runs) and the locally built test box image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/start-dockerd.sh
bash scripts/build-box-image.sh
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
# Unit tests in parallel; integration tests one at a time (they start daemons and load them).
ctest --test-dir "$build_dir" -L unit -j "$(nproc)" --output-on-failure
ctest --test-dir "$build_dir" -L integration -j 1 --output-on-failure
