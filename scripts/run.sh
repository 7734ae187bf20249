#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds Berth and runs it in the
# foreground with the default sockets and state directory; Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
exec "$build_dir/allocator-svc/allocator-svc" \
  --listen=unix:/run/berth/allocator.sock \
  --db=/var/lib/berth/allocator.db \
  --reserved_ports=4678 "$@"
