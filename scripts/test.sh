#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root) and runs the whole test suite:
# unit tests, then integration tests that run the real daemons on real unix sockets against a
# real Docker engine (started here when none runs) and the locally built test box image; then
# the unit tests again, built with AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer in a build directory of their own.
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

# The sanitizer build: only what the unit tests need (the berth_unit_tests target: every unit
# test and the binaries they start), at -O1 with assertions on. -Werror holds here too.
sanitize_dir="${SANITIZE_BUILD_DIR:-build-sanitize}"
cmake -S . -B "$sanitize_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DBERTH_SANITIZE=ON
ninja -C "$sanitize_dir" -j "$(nproc)" berth_unit_tests
# Every process of the run, the daemons that tests start included, writes its AddressSanitizer
# and LeakSanitizer reports to a file of its own here, so that a finding in a child process (a
# leak at a daemon's clean exit, say) fails the run as well. UndefinedBehaviorSanitizer reports
# go to the process's stderr (its runtime ignores log_path next to ASan's) and end the process,
# which fails its test.
reports_dir="$(cd "$sanitize_dir" && pwd)/sanitizer-reports"
rm -rf "$reports_dir"
mkdir -p "$reports_dir"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:log_path=$reports_dir/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Two tests take every file descriptor from their process on purpose; UBSan's vptr check needs a
# descriptor (a pipe) to read the object it checks, so it reports a false "invalid vptr" there.
# They run in the normal build above.
no_descriptor_tests='^(BindingHostPortProbeTest\.APortThatCannotBeProbedCountsAsTaken|HttpServerTest\.AcceptWaitsOutRunningOutOfDescriptors)$'
status=0
ctest --test-dir "$sanitize_dir" -L unit -E "$no_descriptor_tests" -j "$(nproc)" \
  --output-on-failure || status=$?
shopt -s nullglob
reports=("$reports_dir"/*)
if ((${#reports[@]})); then
  echo "sanitizer reports (${#reports[@]}):"
  for report in "${reports[@]}"; do
    echo "==== $report"
    cat "$report"
  done
  status=1
fi
exit "$status"
