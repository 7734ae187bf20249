#!/usr/bin/env bash
# Builds Berth (scripts/build.sh) and its Debian package, build/package/berth_<version>_amd64.deb.
# Install it with `apt install ./build/package/berth_*_amd64.deb` on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
(cd "$build_dir" && cpack -G DEB -B "$PWD/package")
ls "$build_dir"/package/berth_*_amd64.deb
