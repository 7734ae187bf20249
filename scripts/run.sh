#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds Berth and runs it in the
# foreground: allocator-svc and docker-svc on the default sockets in /run/berth/, state in
# /var/lib/berth/, the demo app profile in /etc/berth/apps/, and one demo box. Ctrl-C stops the
# daemons cleanly; boxes keep running (a restart adopts them) until stopped with
# `berthctl stop <box id>`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/start-dockerd.sh
bash scripts/build-box-image.sh
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
berthctl="$build_dir/tools/berthctl"

mkdir -p /etc/berth/apps /var/lib/berth
[ -e /etc/berth/apps/test-box.textproto ] || cp deploy/apps/test-box.textproto /etc/berth/apps/

pids=()
stop() {
  trap - INT TERM EXIT
  # docker-svc first: it is the allocator's client.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop INT TERM EXIT

"$build_dir/allocator-svc/allocator-svc" --listen=unix:/run/berth/allocator.sock \
  --db=/var/lib/berth/allocator.db --reserved_ports=4678 &
pids+=($!)
"$build_dir/docker-svc/docker-svc" --listen=unix:/run/berth/boxes.sock \
  --allocator=unix:/run/berth/allocator.sock --apps_dir=/etc/berth/apps \
  --boxes_dir=/var/lib/berth/boxes &
pids+=($!)

# The demo box: berthctl waits for docker-svc to serve (it recovers existing boxes first).
if "$berthctl" get demo --timeout=180s >/dev/null 2>&1; then
  echo "demo box already running:"
  "$berthctl" get demo
else
  echo "demo box:"
  "$berthctl" create --app=test-box --box_id=demo --user_id=demo-user --wait_for_ready \
    --timeout=180s
fi
echo "Berth is running; try: $berthctl list   (Ctrl-C stops the daemons)"
wait -n "${pids[@]}"
