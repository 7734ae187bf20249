#!/bin/sh
# Berth's test box: behaves like a real box for the tests and the demo.
#   1. waits for .paramsReady in its mapping directory ($BERTH_MAPPINGS_DIR);
#   2. reads its tty and hostPort_for_my_<port>_<proto> files;
#   3. serves TCP on each container port named in a hostPort_for_my_<port>_tcp file,
#      answering every connection with its box id ($BERTH_BOX_ID) and a newline;
#   4. with BERTH_WAIT_FOR_CONFIG set, waits for its client's config.json (Whist's handshake);
#   5. writes its readiness marker ($BERTH_READY_MARKER, when set) into the mapping directory;
#   6. exits 0 on SIGTERM.
# BERTH_ALLOCATE_MB, when set, makes it touch that much memory once it is ready (OOM tests): a
# box whose memory limit is lower is OOM-killed and exits with the killed process's status.
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

if [ -n "${BERTH_WAIT_FOR_CONFIG:-}" ]; then
  while [ ! -f "$dir/config.json" ]; do sleep 0.05; done
  echo "box ${BERTH_BOX_ID:-?}: config.json arrived (session $(cat "$dir/session_id" 2>/dev/null))"
fi

if [ -n "${BERTH_READY_MARKER:-}" ]; then
  touch "$dir/.${BERTH_READY_MARKER}.tmp" && mv "$dir/.${BERTH_READY_MARKER}.tmp" "$dir/${BERTH_READY_MARKER}"
fi

if [ -n "${BERTH_ALLOCATE_MB:-}" ]; then
  # dd's one block is anonymous memory, all of it touched, so it counts against the box's
  # memory limit (a file in /dev/shm would hit the shm size first). Over the limit the kernel
  # kills dd and the box exits with dd's status (137), so that it dies of the OOM kill.
  dd if=/dev/zero of=/dev/null bs="${BERTH_ALLOCATE_MB}M" count=1 2>/dev/null || exit $?
fi

while :; do sleep 1 & wait $!; done
