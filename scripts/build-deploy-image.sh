#!/usr/bin/env bash
# Builds berth/deploy-base:bookworm for the deployment test: a Debian 12 root filesystem with
# systemd as init and the runtime libraries Berth's package depends on, made with mmdebstrap from
# this host's own apt sources and imported into Docker (no registry needed). Reused when the
# image exists already with every package listed below. Run as root.
set -euo pipefail
image="${1:-berth/deploy-base:bookworm}"
docker_cli=/usr/bin/docker
command -v mmdebstrap >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
packages=(
  systemd systemd-sysv dbus adduser init-system-helpers procps
  libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libspdlog1.10 libfmt9 libsystemd0
  libsqlite3-0 libcurl4 libssl3 zlib1g libpq5 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
)
# An image made from an older list (a dependency added since) is made again.
if "$docker_cli" image inspect "$image" >/dev/null 2>&1; then
  if "$docker_cli" run --rm --entrypoint dpkg-query "$image" -W "${packages[@]}" >/dev/null 2>&1; then
    echo "have $image"
    exit 0
  fi
  echo "$image lacks some of: ${packages[*]}; making it again"
  "$docker_cli" image rm -f "$image" >/dev/null
fi
include="$(IFS=,; echo "${packages[*]}")"
mmdebstrap --quiet --variant=apt --include="$include" \
  --aptopt='Acquire::Check-Valid-Until "false"' bookworm - "$sources" |
  "$docker_cli" import --change 'CMD ["/sbin/init"]' - "$image" >/dev/null
echo "built $image"
