#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Builds tests/fuzz/'s libFuzzer targets with clang-14, AddressSanitizer and
# UndefinedBehaviorSanitizer (BERTH_FUZZ=ON, in build-fuzz/ or $FUZZ_BUILD_DIR) and runs each
# (all of them unless named) for SECONDS (default 60), $FUZZ_JOBS at a time (default: the number
# of cores), with its dictionary, starting from its checked-in corpus. New inputs go to
# <build>/fuzz-work/<target>/corpus, never into the checked-in corpus; a crash, leak, timeout or
# failed property leaves its input in <build>/fuzz-work/<target>/ and its log beside it.
# Prints, per target, the executions, the corpus size and the findings; exits 1 when any target
# found a crash, leak, timeout or running out of memory, or did not finish. A finding, once
# fixed, gets a test of its own and its input goes into tests/fuzz/corpus/<target>/, where
# every test run replays it (FuzzReplay.<target>).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a positive number, not \"$seconds\"" >&2
  exit 2
fi
build_dir="${FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${FUZZ_JOBS:-$(nproc)}"

if ! command -v clang++-14 >/dev/null || ! [ -e /usr/lib/llvm-14/lib/libFuzzer.a ]; then
  bash scripts/install-deps.sh
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTH_FUZZ=ON -DBERTH_BUILD_TESTS=OFF -DBERTH_BUILD_BENCHMARKS=OFF >/dev/null
all_targets=$(cd tests/fuzz && ls ./*_fuzz.cc | sed 's|^\./||; s|\.cc$||')
targets=("$@")
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<<"$(echo $all_targets)"
for target in "${targets[@]}"; do
  if ! grep -qx "$target" <<<"$all_targets"; then
    echo "fuzz.sh: no fuzz target $target (tests/fuzz/: $(echo $all_targets))" >&2
    exit 2
  fi
done
ninja -C "$build_dir" -j "$(nproc)" "${targets[@]}"

work="$(cd "$build_dir" && pwd)/fuzz-work"
# One target's run: its log and findings under $work/<target>/.
run_one() {
  local target="$1" dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir/corpus"
  # -rss_limit_mb: well above a target's need, so that only a runaway allocation trips it.
  "$build_dir/tests/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 \
    -timeout=25 -dict="tests/fuzz/dict/$target.dict" -artifact_prefix="$dir/" \
    "$dir/corpus" "tests/fuzz/corpus/$target" >"$dir/log" 2>&1 || true
}
export -f run_one
export build_dir seconds work
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

found=0
printf '%-20s %8s %14s %10s %8s  %s\n' target seconds executions "exec/s" corpus findings
for target in "${targets[@]}"; do
  dir="$work/$target"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  corpus=$(( $(ls "$dir/corpus" | wc -l) + $(ls "tests/fuzz/corpus/$target" | wc -l) ))
  findings=$(cd "$dir" && ls | grep -E '^(crash|leak|timeout|oom)-' || true)
  # A slow unit (over 10 s, libFuzzer's -report_slow_units) is told, not counted as a finding.
  slow=$(cd "$dir" && ls | grep -c '^slow-unit-' || true)
  [ "$slow" -gt 0 ] && findings="${findings:+$findings }($slow slow units kept)"
  if grep -qE '^(crash|leak|timeout|oom)-' <<<"$findings" || [ -z "$runs" ]; then
    found=1
    [ -z "$runs" ] && findings="${findings:-the run did not finish: see $dir/log}"
  fi
  printf '%-20s %8s %14s %10s %8s  %s\n' "$target" "$seconds" "${runs:-?}" "${rate:-?}" \
    "$corpus" "$(echo ${findings:-none})"
done
exit $found
