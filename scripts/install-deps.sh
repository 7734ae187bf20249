#!/usr/bin/env bash
# Installs everything Berth needs to build, test and run on Debian 12: the toolchain and
# libraries, the Docker engine, and busybox for the test box image. Idempotent; run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc grpc-proto libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libsystemd-dev libsqlite3-dev sqlite3
  libcurl4-openssl-dev libgtest-dev libgmock-dev
  prometheus-cpp-dev  # every daemon's metrics (registry, text format, HTTP exposer)
  libssl-dev libboost1.74-dev zlib1g-dev openssl curl wrk nghttp2-client
  libjwt-dev  # only the gateway's tests and bench/gateway_load (they mint tokens with it)
  docker.io busybox-static
  prometheus  # promtool (the daemons' metrics, deploy/prometheus/'s checks), the end-to-end server
  chromium  # the browser tests (tests/gateway_browser_test.cc, gateway_host_page_test.cc)
  chromium-driver  # WebDriver for the host page's test (tests/gateway_host_page_test.cc)
  mmdebstrap  # the deployment test's systemd image (scripts/build-deploy-image.sh)
  libpq-dev postgresql-15  # fleet-agent, and the fleet tests' throwaway clusters
  clang-14 libfuzzer-14-dev  # scripts/fuzz.sh: tests/fuzz/'s libFuzzer targets
)

# A host that already has a Docker engine (Docker's own docker-ce packages, say) keeps it:
# docker.io would replace it, stopping the running engine and its containers.
if command -v dockerd >/dev/null 2>&1 || dpkg-query -W -f='${Status}' docker-ce 2>/dev/null |
  grep -q "install ok installed"; then
  packages=("${packages[@]/docker.io/}")
fi

missing=()
for package in "${packages[@]}"; do
  [ -n "$package" ] || continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
