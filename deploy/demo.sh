#!/usr/bin/env bash
# The latentsearch demo on real data, through the `latentsearch` CLI:
#   1. look at the data sets: Fashion-MNIST (Debian's dataset-fashion-mnist)
#      and CIFAR-10 (binary version) from --data=DIR or ../shared/data/cifar10
#      when present — `latentsearch data-info` prints size, shape and
#      per-class counts and writes a captioned grid of samples into --out;
#   2. the pipeline (deploy/run_pipeline.sh): start trainer, encoder and
#      search on loopback with a temporary data dir, `latentsearch train` the
#      default conv model for --train_seconds (default 180) on Fashion-MNIST —
#      or on CIFAR-10 when --data=DIR is given —, `ingest` train + test,
#      `query` (contact sheets), `eval` (precision@10 / mAP@100 per metric
#      and index next to raw pixels), `report` (--out/report/index.html), and
#      stop the services.
#
#   3. with --serve[=PORT], the stack keeps running afterwards with the HTTP
#      gateway and its browser console at http://127.0.0.1:PORT/ (8080) until
#      Ctrl-C (`make demo DEMO_ARGS=--serve`; docs/gateway.md).
#
# Usage: deploy/demo.sh --build_dir=DIR --out=DIR [--data=CIFAR10_DIR]
#                       [--train_seconds=S] [--serve[=PORT]]
# (`make demo` runs: bash deploy/demo.sh --build_dir=build --out=demo-out)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="build"
out="demo-out"
data=""
train_seconds=180
serve=()

usage() {
  echo "usage: $0 --build_dir=DIR --out=DIR [--data=CIFAR10_DIR] [--train_seconds=S] [--serve[=PORT]]" >&2
  exit 2
}

for arg in "$@"; do
  case "$arg" in
    --build_dir=*) build_dir="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --data=*) data="${arg#*=}" ;;
    --train_seconds=*) train_seconds="${arg#*=}" ;;
    --serve|--serve=*) serve=("$arg") ;;
    -h|--help) usage ;;
    *) echo "demo.sh: unknown argument '$arg'" >&2; usage ;;
  esac
done

cli="$build_dir/bin/latentsearch"
if [[ ! -x "$cli" ]]; then
  echo "demo.sh: $cli not found; build first (make build)" >&2
  exit 1
fi
if [[ -n "$data" ]]; then
  cifar="$data"
  if [[ ! -e "$cifar/test_batch.bin" ]]; then
    echo "demo.sh: --data=$cifar holds no CIFAR-10 test_batch.bin" >&2
    exit 1
  fi
else
  cifar="$repo/../shared/data/cifar10"
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

ran=0

fashion="${LS_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [[ -e "$fashion/t10k-labels-idx1-ubyte.gz" || -e "$fashion/t10k-labels-idx1-ubyte" ]]; then
  echo "== Fashion-MNIST ($fashion), train + test"
  "$cli" data-info --dataset=idx --path="$fashion" --split=all \
    --grid="$out/fashion-mnist-samples.png" --grid_rows=8 --grid_cols=8 --seed=1 \
    | tee "$out/fashion-mnist-info.txt"
  ran=$((ran + 1))
else
  echo "== Fashion-MNIST not found at $fashion (install dataset-fashion-mnist); skipped"
fi

if [[ -e "$cifar/test_batch.bin" ]]; then
  cifar="$(cd "$cifar" && pwd)"
  echo
  echo "== CIFAR-10 ($cifar), train + test, checksums verified"
  "$cli" data-info --dataset=cifar10 --path="$cifar" --split=all --verify_checksums \
    --grid="$out/cifar10-samples.png" --grid_rows=8 --grid_cols=8 --seed=1 \
    | tee "$out/cifar10-info.txt"
  ran=$((ran + 1))
else
  echo
  echo "== CIFAR-10 not found at $cifar (pass --data=DIR); skipped"
fi

if [[ $ran -eq 0 ]]; then
  echo "demo.sh: no data set found; nothing to show" >&2
  exit 1
fi

# The pipeline trains on CIFAR-10 when --data named it, else on Fashion-MNIST.
if [[ -n "$data" ]]; then
  pipeline_data="$cifar"
elif [[ -e "$fashion/t10k-labels-idx1-ubyte.gz" || -e "$fashion/t10k-labels-idx1-ubyte" ]]; then
  pipeline_data="$fashion"
else
  pipeline_data=""
fi
if [[ -n "$pipeline_data" ]]; then
  echo
  echo "== The pipeline on $pipeline_data: train (${train_seconds} s) -> push -> ingest train + test -> query -> eval -> report"
  bash "$repo/deploy/run_pipeline.sh" "$build_dir" "$out" --data="$pipeline_data" \
    --train_seconds="$train_seconds" --split=all --queries=500 "${serve[@]}"
fi
echo
echo "Demo output in $out:"
ls -1 "$out" | sed 's/^/  /'
if [[ -e "$out/report/index.html" ]]; then
  echo
  echo "Open $out/report/index.html in a browser (samples, reconstructions, loss curves,"
  echo "latent space maps, the eval table and query sheets)."
fi
