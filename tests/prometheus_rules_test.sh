#!/usr/bin/env bash
# Issue 14: the shipped Prometheus files (deploy/prometheus/) with promtool. Asserts:
#   1. `promtool check config` accepts berth.yml (and with it the rule file it names);
#   2. `promtool check rules` accepts berth-rules.yml;
#   3. `promtool test rules` passes every unit test in deploy/prometheus/tests/, and every alert
#      of berth-rules.yml is the subject of at least one of them;
#   4. berth.yml scrapes each daemon's --metrics_listen as the shipped flag files set it
#      (deploy/etc/*.flags), under the job its alerts name.
# Usage: prometheus_rules_test.sh SOURCE_DIR. Fails (never skips) without promtool (Debian
# package prometheus, scripts/install-deps.sh).
set -euo pipefail
source_dir="$(cd "$1" && pwd)"
prometheus_dir="$source_dir/deploy/prometheus"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
step() { echo "==== $*"; }

if ! command -v promtool >/dev/null 2>&1; then
  echo "FAIL: promtool is not installed (package prometheus: scripts/install-deps.sh)" >&2
  exit 1
fi
promtool --version | head -n 1

# promtool resolves rule_files against the directory it runs in: run it where the files are.
cd "$prometheus_dir"
step "promtool check config berth.yml"
promtool check config berth.yml || fail "promtool check config berth.yml"
step "promtool check rules berth-rules.yml"
promtool check rules berth-rules.yml || fail "promtool check rules berth-rules.yml"
step "promtool test rules tests/*.yml"
shopt -s nullglob
test_files=(tests/*.yml)
((${#test_files[@]})) || fail "no unit tests in deploy/prometheus/tests/"
((${#test_files[@]} == 0)) || promtool test rules "${test_files[@]}" || fail "promtool test rules"

step "every alert has a unit test"
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' berth-rules.yml)
[ -n "$alerts" ] || fail "no alert found in berth-rules.yml"
for alert in $alerts; do
  if grep -qE "^ *alertname: *$alert *$" "${test_files[@]}" /dev/null; then
    echo "ok: $alert"
  else
    fail "alert $alert has no unit test (alertname: $alert) in deploy/prometheus/tests/"
  fi
done

step "berth.yml scrapes what the flag files serve"
# The one target of the job named $1 in berth.yml ("HOST:PORT"), from its static_configs.
scrape_target() {
  awk -v job="$1" '
    /^ *- job_name:/ { in_job = ($3 == job) }
    in_job && /targets:/ { gsub(/.*\[ *"|" *\].*/, ""); print; exit }' berth.yml
}
for pair in allocator.flags:berth-allocator docker-svc.flags:berth-docker \
  gateway.flags:berth-gateway; do
  flags_file="$source_dir/deploy/etc/${pair%%:*}"
  job="${pair#*:}"
  listen=$(sed -n 's/^--metrics_listen=//p' "$flags_file")
  target=$(scrape_target "$job")
  if [ -z "$listen" ]; then
    fail "deploy/etc/${pair%%:*} sets no --metrics_listen"
  elif [ "$listen" != "$target" ]; then
    fail "job $job scrapes '$target' but deploy/etc/${pair%%:*} serves '$listen'"
  else
    echo "ok: $job scrapes $target"
  fi
done

if ((failures > 0)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "PASS"
