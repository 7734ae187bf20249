#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine (as root), builds Berth and runs it in the
# foreground: allocator-svc and docker-svc on the default sockets in /run/berth/, the gateway on
# https://0.0.0.0:4678 (its own self-signed certificate; JWTs signed with the HS256 secret in
# /etc/berth/gateway-jwt.secret, made once), state in /var/lib/berth/, the demo app profile in
# /etc/berth/apps/, and one demo box created through the gateway. Ctrl-C stops the daemons
# cleanly; boxes keep running (a restart adopts them) until stopped.
#
# `run.sh --fleet` also runs this host as a one-host fleet (README "Fleet"): a local
# PostgreSQL 15 (data in /var/lib/berth/fleet-db, run as user postgres, unix socket only in
# /run/berth/pg) and fleet-agent, and shows berth.assign with psql.
#
# What runs as root here: everything. This is the development setup: the package's systemd units
# (deploy/systemd/, installed by scripts/build-deb.sh's package) run each daemon as its own
# user with only the access its job needs: berth-allocator (its leases only), berth-docker
# (group docker, CAP_DAC_READ_SEARCH to reach the boxes' mapping volumes), berth-gateway (its
# certificate and boxes.sock only). Run as root here are: apt-get and dockerd (scripts/
# install-deps.sh, start-dockerd.sh), the image and source builds, and the three daemons, so
# their sockets in /run/berth are root's (mode 0660): only root may use them. Boxes never run
# as this script's user: they are containers of dockerd's.
set -euo pipefail
cd "$(dirname "$0")/.."
fleet=false
case "${1:-}" in
  --fleet) fleet=true ;;
  "") ;;
  *) echo "usage: $0 [--fleet]" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
bash scripts/start-dockerd.sh
bash scripts/build-box-image.sh
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
berthctl="$build_dir/tools/berthctl"

mkdir -p /etc/berth/apps /var/lib/berth
[ -e /etc/berth/apps/test-box.textproto ] || cp deploy/apps/test-box.textproto /etc/berth/apps/
secret_file=/etc/berth/gateway-jwt.secret
if [ ! -s "$secret_file" ]; then
  (umask 077 && openssl rand -hex 32 >"$secret_file")
fi

# A backend token for the demo: HS256 over the secret, valid for a day.
source scripts/lib/backend-token.sh
token=$(backend_token "$(tr -d '[:space:]' <"$secret_file")" demo-operator)

pids=()
pg_bin=$(pg_config --bindir)
pg_data=/var/lib/berth/fleet-db
stop() {
  trap - INT TERM EXIT
  # docker-svc first: it is the allocator's client.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  if [ "$fleet" = true ]; then runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -w stop -m fast >/dev/null || true; fi
}
trap stop INT TERM EXIT

"$build_dir/allocator-svc/allocator-svc" --listen=unix:/run/berth/allocator.sock \
  --db=/var/lib/berth/allocator.db --reserved_ports=4678 &
pids+=($!)
"$build_dir/docker-svc/docker-svc" --listen=unix:/run/berth/boxes.sock \
  --allocator=unix:/run/berth/allocator.sock --apps_dir=/etc/berth/apps \
  --boxes_dir=/var/lib/berth/boxes &
pids+=($!)
"$build_dir/gateway/server/gateway" --http_listen=0.0.0.0:4678 \
  --boxes=unix:/run/berth/boxes.sock \
  --state_dir=/var/lib/berth/gateway --jwt_hs256_secret_file="$secret_file" &
pids+=($!)

# The demo box, through the gateway once docker-svc is ready (it recovers existing boxes first).
for _ in $(seq 1 180); do
  curl -skf https://127.0.0.1:4678/readyz >/dev/null && break
  sleep 1
done
echo "demo box:"
curl -sk -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"app":"test-box","boxId":"demo","userId":"demo-user","waitForReady":true}' \
  https://127.0.0.1:4678/v1/boxes
echo
if [ "$fleet" = true ]; then
  # A local PostgreSQL for the fleet (made once), then the agent.
  install -d -o postgres -g postgres -m 0700 "$pg_data"
  install -d -o postgres -g postgres -m 0755 /run/berth/pg
  if [ ! -s "$pg_data/PG_VERSION" ]; then
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -U berth -A trust >/dev/null
  fi
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w \
    -o "-k /run/berth/pg -c listen_addresses=''" start >/dev/null
  psql -h /run/berth/pg -U berth -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'berth'" |
    grep -q 1 || psql -h /run/berth/pg -U berth -d postgres -qc "CREATE DATABASE berth"
  "$build_dir/fleet-agent/fleet-agent" --listen=unix:/run/berth/fleet.sock \
    --boxes=unix:/run/berth/boxes.sock --database="host=/run/berth/pg user=berth dbname=berth" \
    --address=127.0.0.1:4678 &
  pids+=($!)
  for _ in $(seq 1 60); do
    [ "$(psql -h /run/berth/pg -U berth -d berth -tAc "SELECT status FROM berth.hosts" 2>/dev/null)" = ACTIVE ] && break
    sleep 1
  done
  echo "fleet: this host in berth.hosts:"
  psql -h /run/berth/pg -U berth -d berth -c "SELECT id, address, status, apps, boxes_total, boxes_free FROM berth.hosts"
  echo "Place a box for a user (README \"Fleet\"):"
  echo "  psql -h /run/berth/pg -U berth -d berth -c \"SELECT * FROM berth.assign('test-box', 'u1', 's1')\""
fi
echo "Berth is running. Try:"
echo "  curl -sk -H \"Authorization: Bearer $token\" https://127.0.0.1:4678/v1/boxes"
echo "  $berthctl list"
echo "(Ctrl-C stops the daemons; they run as root here: see the top of scripts/run.sh)"
wait -n "${pids[@]}"
