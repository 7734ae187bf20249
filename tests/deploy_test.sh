#!/usr/bin/env bash
# Issue 6's deployment test: Berth's Debian package installed in a systemd-booted Debian 12
# container (the image made by scripts/build-deploy-image.sh), run against the host's dockerd
# (its socket mounted, and its volumes directory, where the boxes' mapping directories are
# mounted, with mount propagation from the host). Asserts:
#   1. the three units reach active (READY=1) and berth.target is active, each daemon as its
#      own user with its limits; the gateway's user cannot read docker-svc's records (the
#      boxes' AES keys) or the leases, nor connect to allocator.sock; docker-svc's user cannot
#      read the gateway's JWT secret;
#   2. health and reflection (v1 and v1alpha) answer on both unix sockets; an HTTPS create
#      through the gateway gives a box whose port answers;
#   3. SIGKILL of each daemon's main PID in turn: systemd restarts it (NRestarts grows), the other
#      two keep their PIDs, a new create works, the first box survives;
#   4. journalctl -u berth-docker shows the box's log lines with its id;
#   5. systemctl stop berth.target stops the three cleanly (exit 0, no SIGKILL) and leaves the
#      boxes running; the next start adopts them and nothing leaks;
#   6. upgrade to a rebuilt package and purge both succeed.
# Usage: deploy_test.sh BUILD_DIR SOURCE_DIR. Fails (never skips) without dockerd.
set -euo pipefail
build_dir="$(cd "$1" && pwd)"
source_dir="$(cd "$2" && pwd)"
docker_cli=/usr/bin/docker
base_image=berth/deploy-base:bookworm
tag="deploy-test-$$"
name="berth-$tag"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "==== $*"; }
in_box() { "$docker_cli" exec "$name" "$@"; }
prop() { in_box systemctl show -p "$2" --value "$1"; }

"$docker_cli" info >/dev/null 2>&1 || die "no Docker engine answers (scripts/start-dockerd.sh)"
source "$source_dir/scripts/lib/backend-token.sh"

# Not under /tmp or /var/tmp (the units have private ones) nor /var/lib/berth (the purge
# removes it): an operator's own place for boxes, opened to docker-svc by a drop-in.
mkdir -p /srv
work="$(mktemp -d /srv/berth-deploy-test.XXXXXX)"
chmod 0777 "$work"
mkdir -m 0777 "$work/boxes"
cleanup() {
  local code=$?
  if ((code != 0 || failures > 0)) && "$docker_cli" inspect "$name" >/dev/null 2>&1; then
    echo "---- journal of the Berth units:"
    in_box journalctl --no-pager -n 80 -u berth-allocator -u berth-docker -u berth-gateway || true
  fi
  "$docker_cli" rm -f "$name" >/dev/null 2>&1 || true
  local boxes
  boxes=$("$docker_cli" ps -aq --filter "label=berth.boxes_dir=$work/boxes")
  [ -z "$boxes" ] || "$docker_cli" rm -f -v $boxes >/dev/null
  volumes=$("$docker_cli" volume ls -q --filter "label=berth.boxes_dir=$work/boxes")
  [ -z "$volumes" ] || "$docker_cli" volume rm $volumes >/dev/null 2>&1 || true
  "$docker_cli" rmi -f "berth/$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "image and package"
bash "$source_dir/scripts/build-deploy-image.sh" "$base_image"
bash "$source_dir/scripts/build-box-image.sh" >/dev/null
mkdir "$work/ctx"
(cd "$build_dir" && cpack -G DEB -B "$work/pkg" >/dev/null)
(cd "$build_dir" && cpack -G DEB -B "$work/pkg2" -D CPACK_PACKAGE_VERSION=0.1.0+rebuilt >/dev/null)
cp "$work"/pkg/berth_*_amd64.deb "$work/ctx/berth.deb"
upgrade_deb=$(ls "$work"/pkg2/berth_*_amd64.deb)
docker_gid=$(stat -c %g /var/run/docker.sock)
cat >"$work/ctx/Dockerfile" <<EOF
FROM $base_image
COPY berth.deb /tmp/berth.deb
# The host's docker group, so that docker-svc (group docker) may use the mounted socket.
RUN groupadd -g $docker_gid docker && dpkg -i /tmp/berth.deb && rm /tmp/berth.deb
# This host's paths: the boxes' directory as the host sees it, the engine's socket as mounted.
RUN sed -i -e 's|^--boxes_dir=.*|--boxes_dir=$work/boxes|' \
           -e 's|^--docker_socket=.*|--docker_socket=/run/docker.sock|' /etc/berth/docker-svc.flags && \
    sed -i -e 's|^--port_range=.*|--port_range=41000-41200|' /etc/berth/allocator.flags && \
    mkdir -p /etc/systemd/system/berth-docker.service.d && \
    printf '[Service]\nReadWritePaths=$work/boxes\n' \
      >/etc/systemd/system/berth-docker.service.d/boxes-dir.conf
EOF
"$docker_cli" build -q -t "berth/$tag" "$work/ctx" >/dev/null
[ "$("$docker_cli" run --rm "berth/$tag" systemctl is-enabled berth.target)" = enabled ] ||
  fail "berth.target is not enabled by the package"

step "boot"
"$docker_cli" run -d --name "$name" --hostname berth-deploy \
  --cap-add SYS_ADMIN --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
  --tmpfs /run --tmpfs /run/lock --stop-signal SIGRTMIN+3 --cap-add DAC_READ_SEARCH \
  -v /var/lib/docker/volumes:/var/lib/docker/volumes:rslave \
  -v /var/run/docker.sock:/run/docker.sock -v "$work:$work" "berth/$tag" /sbin/init >/dev/null

units=(berth-allocator.service berth-docker.service berth-gateway.service)
all_active() { in_box systemctl is-active --quiet berth.target "${units[@]}"; }
wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

step "1. the units reach active"
wait_for 120 all_active || die "units not active: $(in_box systemctl is-active berth.target "${units[@]}" | tr '\n' ' ')"
for unit in "${units[@]}"; do
  [ "$(prop "$unit" Type)" = notify ] || fail "$unit is not Type=notify"
done
in_box systemd-analyze verify --man=no "${units[@]}" berth-fleet.service berth.target ||
  fail "systemd-analyze verify"
# fleet-agent is part of the target but skipped (not failed) while fleet.flags names no database.
[ "$(prop berth-fleet.service ActiveState)" = inactive ] &&
  [ "$(prop berth-fleet.service Result)" = exec-condition ] ||
  fail "berth-fleet.service without a database: $(prop berth-fleet.service ActiveState)/$(prop berth-fleet.service Result)"
# The allocator sees the host's ports only from the host's network namespace (read as its
# user: another user's namespace links need CAP_SYS_PTRACE).
allocator_pid=$(prop berth-allocator.service MainPID)
allocator_netns=$(in_box runuser -u berth-allocator -- readlink "/proc/$allocator_pid/ns/net" || true)
[ -n "$allocator_netns" ] &&
  [ "$allocator_netns" = "$(in_box runuser -u berth-allocator -- readlink /proc/self/ns/net)" ] ||
  fail "berth-allocator runs in a network namespace of its own (${allocator_netns:-unreadable})"

# Each daemon its own user, its limits, and nothing of another's.
declare -A user_of=([berth-allocator.service]=berth-allocator [berth-docker.service]=berth-docker
                    [berth-gateway.service]=berth-gateway)
for unit in "${units[@]}"; do
  pid=$(prop "$unit" MainPID)
  [ "$(in_box stat -c %U "/proc/$pid")" = "${user_of[$unit]}" ] ||
    fail "$unit does not run as ${user_of[$unit]}"
  for limit in LimitNOFILE TasksMax MemoryMax; do
    value=$(prop "$unit" "$limit")
    [ -n "$value" ] && [ "$value" != infinity ] || fail "$unit has no $limit ($value)"
  done
done
# as_user UNIT COMMAND...: COMMAND as the unit's user with the unit's groups (its
# SupplementaryGroups=: memberships are the units', not /etc/group's).
as_user() {
  local unit=$1 groups
  shift
  groups=$(prop "$unit" SupplementaryGroups | tr ' ' ',')
  in_box setpriv --reuid="${user_of[$unit]}" --regid="${user_of[$unit]}" \
    --groups="${groups:-${user_of[$unit]}}" -- "$@" >/dev/null 2>&1
}
gateway=berth-gateway.service docker_svc=berth-docker.service allocator=berth-allocator.service
as_user $gateway ls "$work/boxes/.records" && fail "the gateway's user can read .records/"
as_user $gateway ls /var/lib/berth/allocator && fail "the gateway's user can read the leases"
as_user $docker_svc cat /etc/berth/gateway-jwt.secret &&
  fail "docker-svc's user can read the JWT secret"
as_user $gateway cat /etc/berth/gateway-jwt.secret || fail "the gateway's user cannot read its secret"
as_user $gateway berthctl probe unix:/run/berth/allocator.sock &&
  fail "the gateway's user can connect to allocator.sock"
as_user $docker_svc berthctl probe unix:/run/berth/allocator.sock ||
  fail "docker-svc's user cannot connect to allocator.sock"
as_user $gateway berthctl probe unix:/run/berth/boxes.sock ||
  fail "the gateway's user cannot connect to boxes.sock"
as_user $allocator berthctl probe unix:/run/berth/boxes.sock &&
  fail "the allocator's user can connect to boxes.sock"

step "2. health and reflection on both sockets; a create through the gateway"
for socket in allocator boxes; do
  out=$(in_box berthctl probe "unix:/run/berth/$socket.sock") || fail "probe $socket: $out"
  grep -q "health: SERVING" <<<"$out" || fail "$socket health: $out"
  grep -q "service: grpc.reflection.v1.ServerReflection" <<<"$out" || fail "$socket reflection: $out"
  grep -q "service: grpc.reflection.v1alpha.ServerReflection" <<<"$out" ||
    fail "$socket reflection v1alpha: $out"
done
secret=$(in_box cat /etc/berth/gateway-jwt.secret | tr -d '[:space:]')
token=$(backend_token "$secret" deploy-test)
gateway_ip=$("$docker_cli" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")
api() {  # api METHOD PATH [BODY]: prints "STATUS BODY"
  curl -sk -o "$work/answer" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' ${3:+--data-binary "$3"} \
    "https://$gateway_ip:4678$2" || true
  printf ' %s\n' "$(cat "$work/answer" 2>/dev/null)"
}
create() {  # create BOX_ID: a box through the gateway; prints its first host port
  local answer port
  answer=$(api POST /v1/boxes "{\"app\":\"test-box\",\"boxId\":\"$1\",\"waitForReady\":true}")
  [ "${answer%% *}" = 201 ] || { echo "create $1: $answer" >&2; return 1; }
  port=$(grep -o '"hostPort":[0-9]*' <<<"$answer" | head -1 | cut -d: -f2)
  echo "$port"
}
greeting() {  # greeting PORT: the first line the box answers on 127.0.0.1:PORT
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -1 <&3" 2>/dev/null || true
}
port=$(create deploy-1) || die "the first create failed"
[ "$(greeting "$port")" = deploy-1 ] || fail "box deploy-1 does not answer on port $port"
# The mapping directory: the box's tmpfs volume, written by docker-svc through the mount.
mapping=$("$docker_cli" inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Source}}{{end}}{{end}}' berth-deploy-1)
[ -n "$mapping" ] && [ -f "$mapping/.paramsReady" ] || fail "no start-up files in the mapping volume ($mapping)"
[ "$(stat -f -c %T "$mapping")" = tmpfs ] || fail "the mapping directory is not a tmpfs"
# Each daemon's metrics on its loopback port of the shipped flags, through its sandbox.
scrape() {  # scrape PORT: GET /metrics on 127.0.0.1:PORT inside the system
  in_box timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && \
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null || true
}
grep -q '^berth_allocator_leases{state="bound"} 1' <<<"$(scrape 9741)" ||
  fail "allocator-svc's metrics on 127.0.0.1:9741: $(scrape 9741 | head -5)"
grep -q '^berth_boxes{app="test-box",state="running"} 1' <<<"$(scrape 9742)" ||
  fail "docker-svc's metrics on 127.0.0.1:9742: $(scrape 9742 | head -5)"
grep -q '^berth_gateway_requests_total{code="201",route="POST /v1/boxes"} 1' <<<"$(scrape 9743)" ||
  fail "the gateway's metrics on 127.0.0.1:9743: $(scrape 9743 | head -5)"

step "3. SIGKILL of each daemon in turn"
n=2
for unit in "${units[@]}"; do
  declare -A pid_before=()
  for other in "${units[@]}"; do pid_before[$other]=$(prop "$other" MainPID); done
  restarts=$(prop "$unit" NRestarts)
  in_box kill -9 "${pid_before[$unit]}"
  restarted() {
    [ "$(prop "$unit" NRestarts)" -gt "$restarts" ] && in_box systemctl is-active --quiet "$unit"
  }
  wait_for 60 restarted || fail "$unit was not restarted after SIGKILL"
  wait_for 60 all_active || fail "not all active after killing $unit"
  for other in "${units[@]}"; do
    [ "$other" = "$unit" ] && continue
    [ "$(prop "$other" MainPID)" = "${pid_before[$other]}" ] || fail "$other restarted with $unit"
  done
  # The restarted daemon serves: a new create works (docker-svc may still be adopting).
  created() { new_port=$(create "deploy-$n" 2>/dev/null); }
  wait_for 60 created || fail "no create after $unit was killed"
  [ "$(greeting "$new_port")" = "deploy-$n" ] || fail "box deploy-$n does not answer"
  [ "$(greeting "$port")" = deploy-1 ] || fail "box deploy-1 did not survive $unit's SIGKILL"
  n=$((n + 1))
done

step "4. the journal has the box's lines with its id"
in_box journalctl --no-pager -u berth-docker | grep -q '\[box deploy-1\]' ||
  fail "journalctl -u berth-docker has no [box deploy-1] line"

step "5. systemctl stop berth.target: a clean stop, boxes left running"
in_box systemctl stop berth.target
for unit in "${units[@]}"; do
  [ "$(prop "$unit" ActiveState)" = inactive ] || fail "$unit still $(prop "$unit" ActiveState)"
  [ "$(prop "$unit" Result)" = success ] || fail "$unit stopped with $(prop "$unit" Result)"
  [ "$(prop "$unit" ExecMainStatus)" = 0 ] || fail "$unit exited with $(prop "$unit" ExecMainStatus)"
done
[ "$("$docker_cli" inspect -f '{{.State.Running}}' berth-deploy-1)" = true ] ||
  fail "box deploy-1 was stopped with Berth"
in_box systemctl start berth.target
wait_for 120 all_active || fail "units not active after the restart"
listed=$(in_box berthctl list | grep -o '"box_id"' | wc -l)
containers=$("$docker_cli" ps -q --filter "label=berth.boxes_dir=$work/boxes" | wc -l)
dirs=$("$docker_cli" volume ls -q --filter "label=berth.boxes_dir=$work/boxes" | wc -l)
[ "$listed" = 4 ] && [ "$containers" = 4 ] && [ "$dirs" = 4 ] ||
  fail "after the restart: $listed boxes listed, $containers containers, $dirs mapping volumes (want 4)"
[ "$(greeting "$port")" = deploy-1 ] || fail "box deploy-1 not adopted"

step "6. upgrade to a rebuilt package, then purge"
"$docker_cli" cp "$upgrade_deb" "$name:/tmp/berth-upgrade.deb"
in_box dpkg -i /tmp/berth-upgrade.deb >/dev/null || fail "the upgrade failed"
wait_for 120 all_active || fail "units not active after the upgrade"
[ "$(in_box dpkg-query -W -f '${Version}' berth)" = 0.1.0+rebuilt ] || fail "not upgraded"
for id in deploy-1 deploy-2 deploy-3 deploy-4; do
  answer=$(api DELETE "/v1/boxes/$id")
  [ "${answer%% *}" = 200 ] || fail "delete $id: $answer"
done
in_box dpkg --purge berth >/dev/null || fail "the purge failed"
in_box test ! -e /etc/berth || fail "/etc/berth left after purge"
in_box test ! -e /var/lib/berth/allocator.db || fail "state left after purge"
for user in berth-allocator berth-docker berth-gateway berth-fleet; do
  ! in_box getent passwd "$user" >/dev/null || fail "user $user left after purge"
done

if ((failures > 0)); then
  echo "deploy test: $failures failure(s)"
  exit 1
fi
echo "deploy test: all passed"
