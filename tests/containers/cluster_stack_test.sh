#!/usr/bin/env bash
# The search cluster in containers on this machine (opt-in:
# `make cluster-stack-test`): podman (deploy/podman/setup.sh), the images
# from deploy/docker/Dockerfile, deploy/docker-compose.yml through
# docker-compose on podman's API socket; etcd, search-node-0..2 and
# search-router-0/1 only (the routers need no encoder to search by vector).
#
#   1. setup (idempotent) and, unless --no-build, build the search, cli and
#      etcd images (the build stage compiles the whole project: long);
#   2. `docker-compose config`, `up -d` of the six services while a
#      background loop runs `podman healthcheck run` for every container (no
#      systemd), until all six are healthy;
#   3. latentsearch-probe through the CLI image: `search` (the routers'
#      alias) serves latentsearch.v1.Search, each node latentsearch.v1.SearchNode;
#      the routers publish on 127.0.0.1 only;
#   4. a collection of 3 shards x 2 replicas with --items vectors, created
#      through router 0's published port by tests/containers/cluster_client.py
#      (host python3-grpcio: the CLI cannot set shards or replicas), and
#      `latentsearch cluster status` until every replica serves;
#   5. `latentsearch bench --concurrency=8 --duration_seconds=D` against
#      dns:///search:50053 (both routers, round_robin) while search-node-N is
#      `podman kill`ed a third of the way into the search load (bench first
#      measures a no-op RPC for D seconds; the routers' /metrics tell when the
#      searches start). Fails unless bench exits 0 with 0 failed searches and
#      the kill landed at least 5 s before the load ended;
#   6. `latentsearch cluster status`: the node is down, its replicas are not
#      serving, every shard has a serving replica elsewhere;
#   7. `podman start` of the node; waits until the status shows every node up
#      and every replica serving (it caught up) and the node is healthy;
#   8. `docker-compose down -v` (also on failure, unless --keep).
# Prints the time of every step; exits non-zero at the first failure.
#
# Options: --no-build  use the images already built
#          --from-head build the images from `git archive HEAD`
#          --keep      leave the stack running
#          --health_deadline=S (300)  --duration_seconds=D (20)  --items=N (3000)
#          --victim=N (1: search-node-1)  --recover_deadline=S (180)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=1
FROM_HEAD=()
KEEP=0
HEALTH_DEADLINE=300
DURATION=20
ITEMS=3000
VICTIM=1
RECOVER_DEADLINE=180
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --from-head) FROM_HEAD=(--from-head) ;;
    --keep) KEEP=1 ;;
    --health_deadline=*) HEALTH_DEADLINE=${arg#*=} ;;
    --duration_seconds=*) DURATION=${arg#*=} ;;
    --items=*) ITEMS=${arg#*=} ;;
    --victim=*) VICTIM=${arg#*=} ;;
    --recover_deadline=*) RECOVER_DEADLINE=${arg#*=} ;;
    *) echo "cluster_stack_test: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
[[ "$VICTIM" =~ ^[0-2]$ ]] || { echo "cluster_stack_test: --victim must be 0, 1 or 2" >&2; exit 2; }
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 15 ]] ||
  { echo "cluster_stack_test: --duration_seconds must be a whole number >= 15" >&2; exit 2; }

PROJECT=${LS_CLUSTER_STACK_PROJECT:-ls-cluster-test}
COLLECTION=cluster-smoke
VICTIM_SERVICE=search-node-$VICTIM
VICTIM_ADDRESS=$VICTIM_SERVICE:50053
SERVICES=(etcd search-node-0 search-node-1 search-node-2 search-router-0 search-router-1)
# Ports of their own (stack_test.sh uses 1505x); one thread per node (2 cores).
export LS_SEARCH_PORT=${LS_SEARCH_PORT:-15153}
export LS_SEARCH_ROUTER_1_PORT=${LS_SEARCH_ROUTER_1_PORT:-15154}
export LS_SEARCH_METRICS_PORT=${LS_SEARCH_METRICS_PORT:-19193}
export LS_SEARCH_ROUTER_1_METRICS_PORT=${LS_SEARCH_ROUTER_1_METRICS_PORT:-19194}
export LS_SEARCH_THREADS=${LS_SEARCH_THREADS:-1}
export LS_SEARCH_REFRESH_INTERVAL=${LS_SEARCH_REFRESH_INTERVAL:-1s}
export LS_RESTART=no

T0=$(date +%s)
step() { echo "[cluster_stack_test +$(( $(date +%s) - T0 ))s] $*"; }
fail() { echo "[cluster_stack_test +$(( $(date +%s) - T0 ))s] FAILED: $*" >&2; exit 1; }

# The host side of step 4 (deploy/install-deps.sh installs all three).
/usr/bin/python3 -c 'import grpc' 2>/dev/null ||
  fail "/usr/bin/python3 cannot import grpc (apt-get install python3-grpcio)"
for tool in protoc grpc_python_plugin curl; do
  command -v "$tool" >/dev/null || fail "$tool not found (deploy/install-deps.sh installs it)"
done

step "setup (deploy/podman/setup.sh)"
bash "$ROOT/deploy/podman/setup.sh"
eval "$(bash "$ROOT/deploy/podman/setup.sh" --print-env)"
export DOCKER_HOST
COMPOSE=(docker-compose -f "$ROOT/deploy/docker-compose.yml" -p "$PROJECT")

if [[ $BUILD -eq 1 ]]; then
  step "building images search, cli, etcd (deploy/docker/build-images.sh ${FROM_HEAD[*]})"
  bash "$ROOT/deploy/docker/build-images.sh" "${FROM_HEAD[@]}" --targets="search cli etcd"
fi
for image in search cli etcd; do
  podman image exists "localhost/latentsearch-$image:latest" ||
    fail "image localhost/latentsearch-$image:latest missing (run without --no-build)"
done

step "docker-compose config"
"${COMPOSE[@]}" config -q

WORK=$(mktemp -d)
HEALTH_LOOP_PID=""
BENCH_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$HEALTH_LOOP_PID" ]]; then kill "$HEALTH_LOOP_PID" 2>/dev/null || true; fi
  if [[ -n "$BENCH_PID" ]]; then kill "$BENCH_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    echo "---- container logs (last 30 lines each) ----" >&2
    for c in $(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}'); do
      echo "== $c ($(podman inspect --format '{{.State.Status}} health={{.State.Health.Status}}' "$c" 2>/dev/null))" >&2
      podman logs --tail 30 "$c" >&2 2>&1 || true
    done
  fi
  if [[ $KEEP -eq 0 ]]; then
    step "docker-compose down -v"
    "${COMPOSE[@]}" --profile cli down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  step "done (exit $rc)"
}
trap cleanup EXIT

# Leftovers of an interrupted run.
"${COMPOSE[@]}" --profile cli down -v --remove-orphans >/dev/null 2>&1 || true

containers() { podman ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}'; }
container_of() {
  podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1" --format '{{.Names}}' | head -n1
}
health_of() {
  local c
  c=$(container_of "$1")
  if [[ -n "$c" ]]; then podman inspect --format '{{.State.Health.Status}}' "$c" 2>/dev/null || echo gone
  else echo absent; fi
}
# Runs every container's healthcheck every 2 s (what systemd timers would do).
health_loop() {
  while true; do
    for c in $(containers); do podman healthcheck run "$c" >/dev/null 2>&1 || true; done
    sleep 2
  done
}
health_loop &
HEALTH_LOOP_PID=$!

step "docker-compose up -d ${SERVICES[*]} (nodes and routers wait for etcd to be healthy)"
UP_START=$(date +%s)
timeout "$HEALTH_DEADLINE" "${COMPOSE[@]}" up -d "${SERVICES[@]}" || fail "docker-compose up -d"

step "waiting until all six are healthy (deadline ${HEALTH_DEADLINE}s)"
deadline=$(( UP_START + HEALTH_DEADLINE ))
while true; do
  states="" all=1
  for svc in "${SERVICES[@]}"; do
    s=$(health_of "$svc")
    states+="$svc=$s "
    [[ "$s" == healthy ]] || all=0
  done
  [[ $all -eq 1 ]] && break
  [[ $(date +%s) -lt $deadline ]] || fail "not healthy after ${HEALTH_DEADLINE}s: $states"
  sleep 1
done
step "all healthy after $(( $(date +%s) - UP_START ))s: $states"

# The CLI image on the stack's network; -T: no TTY.
CLI=("${COMPOSE[@]}" --profile cli run --rm -T --no-deps cli)
PROBE=("${COMPOSE[@]}" --profile cli run --rm -T --no-deps --entrypoint latentsearch-probe cli)
ROUTERS=dns:///search:50053

step "health through the CLI image: the alias 'search', each router, each node"
"${PROBE[@]}" --address="$ROUTERS" --service=latentsearch.v1.Search
for r in 0 1; do
  "${PROBE[@]}" --address="search-router-$r:50053" --service=latentsearch.v1.Search
done
for n in 0 1 2; do
  "${PROBE[@]}" --address="search-node-$n:50053" --service=latentsearch.v1.SearchNode
done

step "published ports: the routers on 127.0.0.1 only, nodes and etcd not at all"
for svc in search-router-0 search-router-1; do
  ports=$(podman port "$(container_of "$svc")")
  echo "  $svc: $(tr '\n' ' ' <<<"$ports")"
  grep -q '0.0.0.0\|:::' <<<"$ports" && fail "$svc publishes on all interfaces: $ports"
done
for svc in etcd search-node-0 search-node-1 search-node-2; do
  [[ -z "$(podman port "$(container_of "$svc")")" ]] || fail "$svc publishes ports"
done

# `latentsearch cluster status` as JSON checked by cluster_client.py, retried
# until it holds or $2 seconds pass; prints the table once at the end.
status_until() {
  local expect="$1" seconds="$2" end=$(( $(date +%s) + $2 ))
  while true; do
    if "${CLI[@]}" cluster status --search_address="$ROUTERS" --json >"$WORK/status.json" 2>"$WORK/status.err" &&
       /usr/bin/python3 "$ROOT/tests/containers/cluster_client.py" check-status \
         --collection="$COLLECTION" --expect="$expect" <"$WORK/status.json" >"$WORK/check.out" 2>&1; then
      cat "$WORK/check.out"
      "${CLI[@]}" cluster status --search_address="$ROUTERS" | sed 's/^/  /'
      return 0
    fi
    if [[ $(date +%s) -ge $end ]]; then
      cat "$WORK/status.err" "$WORK/check.out" >&2
      fail "cluster status did not show '$expect' within ${seconds}s"
    fi
    sleep 2
  done
}

step "a collection of 3 shards x 2 replicas, $ITEMS x 32-d vectors, through router 0 (127.0.0.1:$LS_SEARCH_PORT)"
/usr/bin/python3 "$ROOT/tests/containers/cluster_client.py" populate \
  --address="127.0.0.1:$LS_SEARCH_PORT" --collection="$COLLECTION" --dim=32 --items="$ITEMS" \
  --shards=3 --replication_factor=2
step "cluster status: every replica serving"
status_until all-serving 60

# Search RPCs the two routers have started (their /metrics), or -1.
router_searches() {
  local total=0 port body
  for port in "$LS_SEARCH_METRICS_PORT" "$LS_SEARCH_ROUTER_1_METRICS_PORT"; do
    body=$(curl -sf --max-time 2 "http://127.0.0.1:$port/metrics") || { echo -1; return; }
    total=$(( total + $(awk '/^grpc_server_started_total\{/ && /grpc_service="latentsearch.v1.Search"/ &&
                              /grpc_method="Search"/ { n += $NF } END { printf "%d", n }' <<<"$body") ))
  done
  echo "$total"
}

step "bench: concurrency 8 for ${DURATION}s against $ROUTERS; $VICTIM_SERVICE is killed under the search load"
before=$(router_searches)
BENCH_START=$(date +%s)
"${CLI[@]}" bench --search_address="$ROUTERS" --collection="$COLLECTION" --concurrency=8 \
  --duration_seconds="$DURATION" --metric=l2 --index=exact --k=10 </dev/null >"$WORK/bench.out" 2>&1 &
BENCH_PID=$!
if [[ "$before" -ge 0 ]]; then
  # The no-op phase takes DURATION seconds; then the routers count searches.
  until [[ $(router_searches) -gt $before ]]; do
    kill -0 "$BENCH_PID" 2>/dev/null || break
    [[ $(( $(date +%s) - BENCH_START )) -lt $(( 2 * DURATION + 30 )) ]] ||
      fail "the routers counted no Search RPC during the bench"
    sleep 0.5
  done
  step "searches started $(( $(date +%s) - BENCH_START ))s after bench (router /metrics)"
  sleep $(( DURATION / 3 ))
else
  step "router /metrics unreadable: killing at the estimated third of the search load"
  sleep $(( 4 + DURATION + DURATION / 3 ))
fi
kill -0 "$BENCH_PID" 2>/dev/null || { cat "$WORK/bench.out"; fail "bench ended before the kill"; }
KILL_AT=$(date +%s)
step "podman kill $(container_of "$VICTIM_SERVICE") ($VICTIM_ADDRESS)"
podman kill "$(container_of "$VICTIM_SERVICE")" >/dev/null
bench_rc=0
wait "$BENCH_PID" || bench_rc=$?
BENCH_PID=""
END_AT=$(date +%s)
sed 's/^/  /' "$WORK/bench.out"
[[ $bench_rc -eq 0 ]] || fail "bench exited $bench_rc (a failed search ends it with the error)"
errors=$(awk '$1 == "Search" { print $8 }' "$WORK/bench.out")
[[ -n "$errors" ]] || fail "no 'Search' row in the bench output"
[[ "$errors" == 0 ]] || fail "$errors searches failed"
(( END_AT - KILL_AT >= 5 )) ||
  fail "the kill came $(( END_AT - KILL_AT ))s before the load ended (< 5 s): rerun with a longer --duration_seconds"
step "0 failed searches; the load ran $(( END_AT - KILL_AT ))s with $VICTIM_SERVICE killed"

step "cluster status: $VICTIM_ADDRESS down, its shards served by their other replicas"
status_until "down:$VICTIM_ADDRESS" 30

step "podman start $(container_of "$VICTIM_SERVICE"): it catches up from its peers"
RESTART_AT=$(date +%s)
podman start "$(container_of "$VICTIM_SERVICE")" >/dev/null
status_until all-serving "$RECOVER_DEADLINE"
step "every replica serving $(( $(date +%s) - RESTART_AT ))s after the restart"
deadline=$(( $(date +%s) + 60 ))
until [[ $(health_of "$VICTIM_SERVICE") == healthy ]]; do
  [[ $(date +%s) -lt $deadline ]] || fail "$VICTIM_SERVICE serves but its healthcheck is $(health_of "$VICTIM_SERVICE")"
  sleep 1
done
step "cluster stack test passed"
