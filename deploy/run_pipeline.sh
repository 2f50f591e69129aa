#!/usr/bin/env bash
# The whole pipeline through the `latentsearch` CLI, on loopback:
#   start trainer, encoder and search on 127.0.0.1 (kernel-chosen ports, a
#   temporary data dir) -> latentsearch train (follows the job; the checkpoint
#   is pushed to the encoder) -> ingest train + test -> query (contact sheets)
#   -> eval (table + JSON) -> report (OUT_DIR/report/index.html) -> stop the
#   services (SIGTERM, graceful drain) whatever happens.
#
# Usage: deploy/run_pipeline.sh BUILD_DIR OUT_DIR [--data=DIR] [--train_seconds=S]
#                               [--queries=N] [--latent=N] [--split=all|test]
#                               [--serve[=PORT]]
#   --serve  afterwards, start latentsearch-gateway on 127.0.0.1:PORT (8080)
#            over the same services and keep the stack running with the
#            browser console at http://127.0.0.1:PORT/ until Ctrl-C
#   --data   a CIFAR-10 binary directory (test_batch.bin) or an IDX directory
#            (default: Debian's /usr/share/datasets/fashion-mnist)
# Writes into OUT_DIR: pipeline.txt (everything printed), train.txt,
# eval.txt, query-test-*.png, report/ (index.html: the same eval with its
# chart, and much more), and the service logs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 2 ]] || { echo "usage: $0 BUILD_DIR OUT_DIR [--data=DIR] [--train_seconds=S]" >&2; exit 2; }
build_dir="$1"
out="$2"
shift 2
data="${LS_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
train_seconds=180
queries=500
latent=32
split=all
serve=""
for arg in "$@"; do
  case "$arg" in
    --data=*) data="${arg#*=}" ;;
    --train_seconds=*) train_seconds="${arg#*=}" ;;
    --queries=*) queries="${arg#*=}" ;;
    --latent=*) latent="${arg#*=}" ;;
    --split=*) split="${arg#*=}" ;;
    --serve) serve=8080 ;;
    --serve=*) serve="${arg#*=}" ;;
    *) echo "run_pipeline.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
bin="$(cd "$build_dir" && pwd)/bin"
cli="$bin/latentsearch"
for b in latentsearch latentsearch-trainer latentsearch-encoder latentsearch-search; do
  [[ -x "$bin/$b" ]] || { echo "run_pipeline.sh: $bin/$b not built (make build)" >&2; exit 1; }
done
if [[ -e "$data/test_batch.bin" ]]; then
  kind=cifar10
elif [[ -e "$data/t10k-labels-idx1-ubyte.gz" || -e "$data/t10k-labels-idx1-ubyte" ]]; then
  kind=idx
else
  echo "run_pipeline.sh: $data holds neither CIFAR-10 (test_batch.bin) nor IDX files" >&2
  exit 1
fi
data="$(cd "$data" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
exec > >(tee "$out/pipeline.txt") 2>&1

# Starts service $1 (binary $2, flags...), logging to $out/$1.log, and waits
# (polling its log, 120 s at most) for "listening on HOST:PORT".
start() {
  local name="$1" binary="$2"
  shift 2
  "$bin/$binary" --listen=127.0.0.1:0 --data_dir="$tmp/$name" "$@" 2>"$out/$name.log" &
  pids+=($!)
  local pid=$! deadline=$((SECONDS + 120)) addr=""
  while [[ -z "$addr" ]]; do
    addr="$(grep -o 'listening on [^ ]*' "$out/$name.log" | head -n1 | cut -d' ' -f3 || true)"
    if [[ -z "$addr" ]]; then
      kill -0 "$pid" 2>/dev/null || { echo "$name exited:"; tail -n 20 "$out/$name.log"; exit 1; }
      (( SECONDS < deadline )) || { echo "$name did not start within 120 s"; exit 1; }
      sleep 0.1
    fi
  done
  printf -v "addr_$name" '%s' "$addr"
  echo "$name listening on $addr (log: $out/$name.log)"
}
start encoder latentsearch-encoder
start search latentsearch-search --encoder="$addr_encoder"
start trainer latentsearch-trainer --push_to="$addr_encoder"
# Each subcommand takes only the addresses of the services it calls.
trainer=(--trainer_address="$addr_trainer")
search=(--search_address="$addr_search")
encoder_search=(--encoder_address="$addr_encoder" "${search[@]}")
services=("${trainer[@]}" "${encoder_search[@]}")

echo
echo "== train: conv, latent $latent, ${train_seconds} s on $kind:$data (train split)"
"$cli" train --dataset="$kind" --path="$data" --split=train --model=demo --architecture=conv \
  --latent="$latent" --epochs=100 --batch_size=64 --time_budget="$train_seconds" \
  --checkpoint=end --train_seed=1 --timeout=60 "${trainer[@]}" | tee "$out/train.txt"

echo
echo "== ingest: $split split(s) into collection 'demo'"
# The push to the encoder can land just after the job ends: retry briefly.
for attempt in $(seq 1 60); do
  if "$cli" ingest --dataset="$kind" --path="$data" --split="$split" --model=demo \
      --collection=demo --timeout=300 "${encoder_search[@]}"; then
    break
  fi
  [[ $attempt -lt 60 ]] || { echo "ingest failed"; exit 1; }
  echo "(the encoder does not hold the model yet; retrying)"
  sleep 1
done

echo
echo "== query: three test images, every metric, contact sheets"
for i in 0 1 2; do
  "$cli" query --collection=demo --id="test-$i" --metric=all --k=10 \
    --sheet="$out/query-test-$i.png" "${search[@]}"
done

echo
echo "== eval: $queries seeded queries, precision@10 and mAP@100 per metric and index, raw pixels"
"$cli" eval --collection=demo --queries="$queries" --timeout=600 "${search[@]}" \
  | tee "$out/eval.txt"

echo
echo "== report"
"$cli" report --out="$out/report" --collection=demo --queries="$queries" --timeout=600 \
  "${services[@]}" >/dev/null
echo
echo "Report: $out/report/index.html"

if [[ -n "$serve" ]]; then
  [[ -x "$bin/latentsearch-gateway" ]] || { echo "run_pipeline.sh: $bin/latentsearch-gateway not built"; exit 1; }
  "$bin/latentsearch-gateway" --listen="127.0.0.1:$serve" --trainer_address="$addr_trainer" \
    --encoder_address="$addr_encoder" --search_address="$addr_search" --image_roots="$data" \
    2>"$out/gateway.log" &
  pids+=($!)
  deadline=$((SECONDS + 30))
  until grep -q 'listening on' "$out/gateway.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "gateway exited:"; tail -n 20 "$out/gateway.log"; exit 1; }
    (( SECONDS < deadline )) || { echo "the gateway did not start within 30 s"; exit 1; }
    sleep 0.1
  done
  echo
  echo "== console: http://127.0.0.1:$serve/  (collection 'demo'; docs/gateway.md)"
  echo "   The stack keeps running; Ctrl-C stops it."
  trap 'exit 0' INT TERM  # then the EXIT trap stops every service
  wait "${pids[-1]}" || true
fi
