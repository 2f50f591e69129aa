#!/usr/bin/env bash
# Starts the three services on unix sockets in a temporary directory, runs
# clients/python/pipeline_demo.py against them (train on Fashion-MNIST ->
# push to the encoder -> encode + index the test images -> query + eval),
# and stops the services (SIGTERM, graceful drain) whatever happens.
#
# Usage: deploy/run_pipeline.sh BUILD_DIR OUT_DIR [pipeline_demo.py flags...]
# Writes OUT_DIR/pipeline.txt (what it printed), OUT_DIR/eval.json and the
# service logs OUT_DIR/{trainer,encoder,search}.log.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$1"
out="$2"
shift 2
bin="$build_dir/bin"
for b in latentsearch-trainer latentsearch-encoder latentsearch-search; do
  [[ -x "$bin/$b" ]] || { echo "run_pipeline.sh: $bin/$b not built" >&2; exit 1; }
done
mkdir -p "$out"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/latentsearch-encoder" --listen="unix:$tmp/encoder.sock" --data_dir="$tmp/encoder" \
  2>"$out/encoder.log" &
pids+=($!)
"$bin/latentsearch-search" --listen="unix:$tmp/search.sock" --data_dir="$tmp/search" \
  --encoder="unix:$tmp/encoder.sock" 2>"$out/search.log" &
pids+=($!)
"$bin/latentsearch-trainer" --listen="unix:$tmp/trainer.sock" --data_dir="$tmp/trainer" \
  --push_to="unix:$tmp/encoder.sock" 2>"$out/trainer.log" &
pids+=($!)

/usr/bin/python3 "$repo/clients/python/pipeline_demo.py" \
  --trainer="unix:$tmp/trainer.sock" --encoder="unix:$tmp/encoder.sock" \
  --search="unix:$tmp/search.sock" --json="$out/eval.json" "$@" | tee "$out/pipeline.txt"
