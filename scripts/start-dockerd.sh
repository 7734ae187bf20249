#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: starts dockerd in the background
# when none does (machines without systemd, CI containers), then waits until it answers.
# A dockerd started here uses --live-restore, as Berth's hosts should: restarting the engine
# leaves running boxes running.
set -euo pipefail
docker_cli=/usr/bin/docker
if "$docker_cli" info >/dev/null 2>&1; then exit 0; fi
if ! pgrep -x dockerd >/dev/null; then
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker
  else
    nohup dockerd --live-restore >/var/log/berth-dockerd.log 2>&1 &
  fi
fi
for _ in $(seq 1 120); do
  if "$docker_cli" info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "dockerd did not answer within 60 s; see /var/log/berth-dockerd.log" >&2
exit 1
