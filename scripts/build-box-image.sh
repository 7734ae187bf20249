#!/usr/bin/env bash
# Builds the test box image (default berth/test-box:latest) with no registry: a root
# filesystem made of Debian's busybox-static is imported as berth/busybox-base, and
# tests/box-image/ is built on top of it; so is the hostile test box (tests/hostile-box/,
# berth/hostile-box:latest), which attacks the host from inside its box. Both carry the label berth.box-image, so the
# copies a rebuild replaces (left untagged) are pruned without touching anyone else's images.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:-berth/test-box:latest}"
docker_cli=/usr/bin/docker
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/:/bin/sh" >"$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -c . |
  "$docker_cli" import --change 'LABEL berth.box-image=true' - berth/busybox-base:latest >/dev/null
"$docker_cli" build -q -t "$image" tests/box-image >/dev/null
"$docker_cli" build -q -t berth/hostile-box:latest tests/hostile-box >/dev/null
"$docker_cli" image prune -f --filter label=berth.box-image >/dev/null
echo "built $image and berth/hostile-box:latest"
