#!/bin/sh
# Berth's hostile test box: runs as root in its box and attacks what docker-svc does in its
# mapping directory ($BERTH_MAPPINGS_DIR), one attack per $HOSTILE_MODE:
#   symlink   links to $HOSTILE_TARGET (a host path) at every name docker-svc writes and at the
#             temporary names older versions wrote through (.<name>.tmp);
#   hardlink  hard links to a file of its own ("own") at those names;
#   fifo      FIFOs at those names;
#   rootdir   a root-owned directory tree that nobody else may write into;
#   fill      fills its mapping directory until the filesystem is full;
#   layer     writes $HOSTILE_LAYER_MB MiB into its container's writable layer.
# The links are planted before docker-svc writes the start-up files and again after them (for
# the files written later: session_id, config.json). Then it writes its readiness marker
# ("ready") and waits for SIGTERM.
dir="${BERTH_MAPPINGS_DIR:-/whist/resourceMappings}"
trap 'exit 0' TERM INT
late="session_id config.json DPI"
early="tty gpu_index timeout hostPort_for_my_32262_tcp .paramsReady $late"

plant() {  # plant NAMES...: the attack of $HOSTILE_MODE at each name and its temporary name
  for name in "$@"; do
    for path in "$dir/$name" "$dir/.$name.tmp"; do
      # A file docker-svc has written already stays (the box needs its start-up files); one
      # it writes meanwhile makes the ln or mkfifo below fail rather than replace it.
      [ -e "$path" ] || [ -L "$path" ] && continue
      case "$HOSTILE_MODE" in
        symlink) ln -s "$HOSTILE_TARGET" "$path" ;;
        hardlink) ln "$dir/own" "$path" ;;
        fifo) mkfifo "$path" ;;
      esac
    done
  done
}

echo "hostile box ${BERTH_BOX_ID:-?}: mode ${HOSTILE_MODE:-none}"
echo "the box's own file" >"$dir/own"
case "$HOSTILE_MODE" in symlink | hardlink | fifo) plant $early ;; esac

# docker-svc replaces .paramsReady with its own regular file once the start-up files are there.
i=0
while [ ! -f "$dir/.paramsReady" ] || [ -L "$dir/.paramsReady" ]; do
  i=$((i + 1))
  [ "$i" -gt 600 ] && break
  sleep 0.05
done

case "$HOSTILE_MODE" in
  symlink | hardlink | fifo) plant $late ;;
  rootdir)
    mkdir -p "$dir/rootdir/sub/deeper"
    echo "root's" >"$dir/rootdir/sub/deeper/file"
    ln -s / "$dir/rootdir/sub/to-root"
    mkfifo "$dir/rootdir/sub/fifo"
    chmod 0500 "$dir/rootdir/sub/deeper" "$dir/rootdir/sub" "$dir/rootdir"
    ;;
  fill) dd if=/dev/zero of="$dir/fill" bs=65536 2>/dev/null ;;
  layer) dd if=/dev/zero of=/layer-junk bs=1048576 count="${HOSTILE_LAYER_MB:-64}" 2>/dev/null ;;
esac
echo "hostile box ${BERTH_BOX_ID:-?}: attack planted"
: >"$dir/ready" 2>/dev/null || touch "$dir/ready"

while :; do sleep 1 & wait $!; done
