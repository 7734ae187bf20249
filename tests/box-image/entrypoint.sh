#!/bin/sh
# Berth's test box: behaves like a real box for the tests and the demo.
#   1. waits for .paramsReady in its mapping directory ($BERTH_MAPPINGS_DIR);
#   2. reads its tty and hostPort_for_my_<port>_<proto> files;
#   3. serves TCP on each container port named in a hostPort_for_my_<port>_tcp file,
#      answering every connection with its box id ($BERTH_BOX_ID) and a newline;
#   4. writes its readiness marker ($BERTH_READY_MARKER, when set) into the mapping directory;
#   5. exits 0 on SIGTERM.
# BERTH_ALLOCATE_MB, when set, makes it hold that much memory after start (OOM tests).
dir="${BERTH_MAPPINGS_DIR:-/whist/resourceMappings}"
trap 'exit 0' TERM INT

while [ ! -f "$dir/.paramsReady" ]; do sleep 0.05; done
tty="$(cat "$dir/tty" 2>/dev/null || echo none)"
echo "box ${BERTH_BOX_ID:-?}: tty ${tty}"

for file in "$dir"/hostPort_for_my_*_tcp; do
  [ -f "$file" ] || continue
  port="${file##*/hostPort_for_my_}"
  port="${port%_tcp}"
  echo "box ${BERTH_BOX_ID:-?}: serving tcp ${port} (host port $(cat "$file"))"
  nc -ll -p "$port" -e /box/answer.sh &
done

if [ -n "${BERTH_READY_MARKER:-}" ]; then
  touch "$dir/.${BERTH_READY_MARKER}.tmp" && mv "$dir/.${BERTH_READY_MARKER}.tmp" "$dir/${BERTH_READY_MARKER}"
fi

if [ -n "${BERTH_ALLOCATE_MB:-}" ]; then
  # Fills a tmpfs-backed file, which counts against the box's memory limit.
  dd if=/dev/zero of=/dev/shm/ballast bs=1M count="$BERTH_ALLOCATE_MB" 2>/dev/null
fi

while :; do sleep 1 & wait $!; done
