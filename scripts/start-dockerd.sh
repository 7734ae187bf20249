#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock: starts dockerd in the background
# when none does (machines without systemd, CI containers), then waits until it answers.
# A dockerd started here uses --live-restore, as Berth's hosts should: restarting the engine
# leaves running boxes running.
set -euo pipefail
docker_cli=/usr/bin/docker
if "$docker_cli" info >/dev/null 2>&1; then exit 0; fi
# Booted with systemd (even "degraded" or still starting): the engine is systemd's to start.
under_systemd=false
[ -d /run/systemd/system ] && under_systemd=true
# pidof is in sysvinit-utils, which every Debian system has (pgrep's procps may be missing).
if ! pidof dockerd >/dev/null; then
  if $under_systemd; then
    systemctl start docker
  else
    nohup dockerd --live-restore >/var/log/berth-dockerd.log 2>&1 &
  fi
fi
for _ in $(seq 1 120); do
  if "$docker_cli" info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
if $under_systemd; then
  echo "dockerd did not answer within 60 s; see journalctl -u docker" >&2
else
  echo "dockerd did not answer within 60 s; see /var/log/berth-dockerd.log" >&2
fi
exit 1
