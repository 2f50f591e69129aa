#!/usr/bin/env bash
# The real container stack on this machine (opt-in: `make stack-test`):
# podman (deploy/podman/setup.sh), the images from deploy/docker/Dockerfile,
# deploy/docker-compose.yml through docker-compose on podman's API socket.
#
#   1. setup (idempotent) and, unless --no-build, build the four images;
#   2. `docker-compose config`, then `up -d` while a background loop runs
#      `podman healthcheck run` for every container of the project (there is
#      no systemd to run healthchecks on a timer, and compose waits on
#      service_healthy), until trainer, encoder, etcd, the three search nodes
#      and the two routers are healthy or the deadline passes;
#   3. the CLI image against the stack (`docker-compose run --rm cli ...`):
#      latentsearch-probe on each service, `latentsearch bench --populate`
#      through the routers (`search`, a network alias of both: create a
#      collection, upsert, search), and the pipeline: `train` on
#      Fashion-MNIST on both trainer ranks (`trainer`, `trainer-1`; rank 0
#      pushes its checkpoint to both encoder containers; ListJobs says
#      worldSize 2), wait for latentsearch.v1.Encoder to be SERVING,
#      `ingest` the test split (encoder + search), `query` by data set index
#      (a router asks the encoder container to encode the image);
#   4. ports are published on 127.0.0.1 only; /metrics answers;
#   5. `docker-compose down -v` (also on failure, unless --keep).
# Prints the time of every step; exits non-zero at the first failure.
# Killing a node under load: tests/containers/cluster_stack_test.sh.
#
# Options: --no-build  use the images already built
#          --from-head build the images from `git archive HEAD`
#          --keep      leave the stack running
#          --health_deadline=S (300)  --train_seconds=S (45)  --no-pipeline
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=1
FROM_HEAD=()
KEEP=0
PIPELINE=1
HEALTH_DEADLINE=300
TRAIN_SECONDS=45
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --from-head) FROM_HEAD=(--from-head) ;;
    --keep) KEEP=1 ;;
    --no-pipeline) PIPELINE=0 ;;
    --health_deadline=*) HEALTH_DEADLINE=${arg#*=} ;;
    --train_seconds=*) TRAIN_SECONDS=${arg#*=} ;;
    *) echo "stack_test: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

PROJECT=${LS_STACK_PROJECT:-ls-stack-test}
FASHION=${LS_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
# Ports of their own, so that the test does not collide with services on the
# default ports; one thread per service (2-core machine).
export LS_TRAINER_PORT=${LS_TRAINER_PORT:-15051} LS_ENCODER_PORT=${LS_ENCODER_PORT:-15052}
export LS_SEARCH_PORT=${LS_SEARCH_PORT:-15053} LS_SEARCH_ROUTER_1_PORT=${LS_SEARCH_ROUTER_1_PORT:-15054}
export LS_TRAINER_METRICS_PORT=${LS_TRAINER_METRICS_PORT:-19091}
export LS_ENCODER_1_PORT=${LS_ENCODER_1_PORT:-15055} LS_ENCODER_1_METRICS_PORT=${LS_ENCODER_1_METRICS_PORT:-19095}
export LS_ENCODER_METRICS_PORT=${LS_ENCODER_METRICS_PORT:-19092}
export LS_SEARCH_METRICS_PORT=${LS_SEARCH_METRICS_PORT:-19093}
export LS_SEARCH_ROUTER_1_METRICS_PORT=${LS_SEARCH_ROUTER_1_METRICS_PORT:-19094}
export LS_TRAINER_THREADS=${LS_TRAINER_THREADS:-1} LS_ENCODER_THREADS=${LS_ENCODER_THREADS:-1}
export LS_SEARCH_THREADS=${LS_SEARCH_THREADS:-1}
export LS_RESTART=no
[[ -d "$FASHION" ]] && export LS_DATASETS=$FASHION

T0=$(date +%s)
step() { echo "[stack_test +$(( $(date +%s) - T0 ))s] $*"; }
fail() { echo "[stack_test +$(( $(date +%s) - T0 ))s] FAILED: $*" >&2; exit 1; }

step "setup (deploy/podman/setup.sh)"
bash "$ROOT/deploy/podman/setup.sh"
eval "$(bash "$ROOT/deploy/podman/setup.sh" --print-env)"
export DOCKER_HOST
COMPOSE=(docker-compose -f "$ROOT/deploy/docker-compose.yml" -p "$PROJECT")

if [[ $BUILD -eq 1 ]]; then
  step "building images (deploy/docker/build-images.sh ${FROM_HEAD[*]})"
  bash "$ROOT/deploy/docker/build-images.sh" "${FROM_HEAD[@]}"
fi
for svc in trainer encoder search cli etcd; do
  podman image exists "localhost/latentsearch-$svc:latest" ||
    fail "image localhost/latentsearch-$svc:latest missing (run without --no-build)"
done

step "docker-compose config"
"${COMPOSE[@]}" config -q

HEALTH_LOOP_PID=""
cleanup() {
  local rc=$?
  [[ -n "$HEALTH_LOOP_PID" ]] && kill "$HEALTH_LOOP_PID" 2>/dev/null || true
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
  step "done (exit $rc)"
}
trap cleanup EXIT

# Leftovers of an interrupted run.
"${COMPOSE[@]}" --profile cli down -v --remove-orphans >/dev/null 2>&1 || true

containers() { podman ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Names}}'; }
# Runs every container's healthcheck every 2 s (what systemd timers would do).
health_loop() {
  while true; do
    for c in $(containers); do podman healthcheck run "$c" >/dev/null 2>&1 || true; done
    sleep 2
  done
}
health_loop &
HEALTH_LOOP_PID=$!

step "docker-compose up -d (waits for the encoder to be healthy)"
UP_START=$(date +%s)
timeout "$HEALTH_DEADLINE" "${COMPOSE[@]}" up -d || fail "docker-compose up -d"

SERVICES=(trainer trainer-1 encoder encoder-1 etcd search-node-0 search-node-1 search-node-2 search-router-0
          search-router-1)
step "waiting until ${SERVICES[*]} are healthy (deadline ${HEALTH_DEADLINE}s)"
deadline=$(( UP_START + HEALTH_DEADLINE ))
while true; do
  states=""
  all=1
  for svc in "${SERVICES[@]}"; do
    c=$(podman ps -a --filter "label=com.docker.compose.project=$PROJECT" \
          --filter "label=com.docker.compose.service=$svc" --format '{{.Names}}' | head -n1)
    s=$( [[ -n "$c" ]] && podman inspect --format '{{.State.Health.Status}}' "$c" 2>/dev/null || echo absent)
    states+="$svc=$s "
    [[ "$s" == healthy ]] || all=0
  done
  [[ $all -eq 1 ]] && break
  [[ $(date +%s) -lt $deadline ]] || fail "not healthy after ${HEALTH_DEADLINE}s: $states"
  sleep 1
done
step "all healthy after $(( $(date +%s) - UP_START ))s: $states"

# The CLI image on the stack's network; -T: no TTY.
CLI=("${COMPOSE[@]}" --profile cli run --rm -T --no-deps)
PROBE=("${COMPOSE[@]}" --profile cli run --rm -T --no-deps --entrypoint latentsearch-probe cli)

step "health through the CLI image (latentsearch-probe)"
"${PROBE[@]}" --address=trainer:50051 --service=latentsearch.v1.Trainer
"${PROBE[@]}" --address=trainer-1:50051
"${PROBE[@]}" --address=search:50053 --service=latentsearch.v1.Search
for n in 0 1 2; do
  "${PROBE[@]}" --address=search-node-$n:50053 --service=latentsearch.v1.SearchNode
done
"${PROBE[@]}" --address=encoder:50052
"${PROBE[@]}" --address=encoder-1:50052

step "published ports: 127.0.0.1 only"
for svc in trainer encoder search-router-0 search-router-1; do
  c=$(containers | grep -- "_${svc}_\|-${svc}-" | head -n1)
  ports=$(podman port "$c")
  echo "  $svc: $(tr '\n' ' ' <<<"$ports")"
  grep -q '0.0.0.0\|:::' <<<"$ports" && fail "$svc publishes on all interfaces: $ports"
done
for port in "$LS_SEARCH_PORT" "$LS_SEARCH_ROUTER_1_PORT"; do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") || fail "127.0.0.1:$port does not accept"
done

step "latentsearch bench through both routers: create a collection, upsert 2000 vectors, search (exact, l2)"
"${CLI[@]}" cli bench --search_address=dns:///search:50053 --collection=stack-smoke --populate=2000 \
  --dim=32 --clusters=10 --concurrency=1,4 --duration_seconds=2 --metric=l2 --index=exact

step "metrics: GET /metrics on each service"
for port in "$LS_TRAINER_METRICS_PORT" "$LS_ENCODER_METRICS_PORT" "$LS_SEARCH_METRICS_PORT" \
            "$LS_SEARCH_ROUTER_1_METRICS_PORT"; do
  if body=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics"); then
    echo "  127.0.0.1:$port/metrics: $(grep -vc '^#' <<<"$body") samples"
  else
    echo "  127.0.0.1:$port/metrics: no answer (the binary in the image does not serve /metrics yet)"
  fi
done

if [[ $PIPELINE -eq 1 ]]; then
  if [[ ! -d "$FASHION" ]]; then
    step "pipeline skipped: no Fashion-MNIST at $FASHION (apt install dataset-fashion-mnist)"
  else
    DATA=(-v "$FASHION:/datasets:ro")
    step "latentsearch train: conv on Fashion-MNIST for ${TRAIN_SECONDS}s on both trainer ranks (rank 0 pushes to both encoders)"
    TRAIN_LOG=$(mktemp)
    "${CLI[@]}" "${DATA[@]}" cli train --trainer_address=trainer:50051 --dataset=idx \
      --path=/datasets --split=train --architecture=conv --latent=16 --epochs=1 \
      --time_budget="$TRAIN_SECONDS" --max_train_images=20000 --model=default 2>&1 | tee "$TRAIN_LOG"
    grep -q "job .* succeeded" "$TRAIN_LOG" || fail "the training job did not finish"
    JOBS_JSON=$("${CLI[@]}" cli jobs --trainer_address=trainer:50051 --json)
    grep -q '"worldSize": *2' <<<"$JOBS_JSON" || fail "the job did not run on 2 ranks: $JOBS_JSON"
    step "  the job ran on 2 ranks (ListJobs worldSize 2)"
    grep -q "2 ranks (" "$TRAIN_LOG" || fail "no progress line reported the two ranks' throughput"
    rm -f "$TRAIN_LOG"
    step "waiting for both encoders to serve the pushed model (latentsearch.v1.Encoder SERVING)"
    deadline=$(( $(date +%s) + 120 ))
    for enc in encoder encoder-1; do
      until "${PROBE[@]}" --quiet --address=$enc:50052 --service=latentsearch.v1.Encoder; do
        [[ $(date +%s) -lt $deadline ]] || fail "$enc never served the pushed model"
        sleep 2
      done
    done
    # Each encoder's /metrics: the versions it serves, and how many of them
    # it pulled from the trainer (the rest were pushed).
    for port in "$LS_ENCODER_METRICS_PORT" "$LS_ENCODER_1_METRICS_PORT"; do
      body=$(curl -sf --max-time 5 "http://127.0.0.1:$port/metrics") || fail "no /metrics on 127.0.0.1:$port"
      loaded=$(awk '/^latentsearch_encoder_models_loaded /{print $2}' <<<"$body")
      pulled=$(awk '/^latentsearch_encoder_pulled_versions_total /{print $2}' <<<"$body")
      step "  encoder metrics on :$port: models_loaded=$loaded pulled_versions_total=${pulled:-0}"
      [[ "${loaded%.*}" -ge 1 ]] || fail "the encoder on :$port serves no model version"
    done
    step "latentsearch ingest: Fashion-MNIST test split -> encoder -> collection 'fashion'"
    "${CLI[@]}" "${DATA[@]}" cli ingest --dataset=idx --path=/datasets --split=test \
      --encoder_address=encoder:50052 --search_address=search:50053 --collection=fashion \
      --model=default
    step "latentsearch query: test image 0 by image (search -> encoder), exact, all metrics"
    "${CLI[@]}" "${DATA[@]}" cli query --dataset=idx --path=/datasets --split=test \
      --dataset_index=0 --collection=fashion --search_address=search:50053 --metric=all \
      --index=exact --k=5
  fi
fi
step "stack test passed"
