#!/usr/bin/env bash
# End to end on real data: the three real binaries on unix sockets, a short
# training on Fashion-MNIST, the checkpoint pushed to the encoder, 2,000 test
# images encoded and indexed, 200 seeded queries. Asserts the pipeline ran
# and its numbers are sane: the learned embedding retrieves same-class
# images far above chance (0.1), and HNSW agrees with exact (recall >= 0.99).
# Usage: pipeline_test.sh BUILD_DIR
set -euo pipefail
build_dir=$1
fashion=/usr/share/datasets/fashion-mnist
if [[ ! -e "$fashion/t10k-labels-idx1-ubyte.gz" ]]; then
  echo "Fashion-MNIST not installed; skipping"
  exit 77
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash "$repo/deploy/run_pipeline.sh" "$build_dir" "$out" --data="$fashion" \
  --train_seconds=15 --images=2000 --queries=200
/usr/bin/python3 - "$out/eval.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["table"]
bad = []
for metric in ("l1", "l2", "cosine"):
    p = t[f"demo {metric} exact"]["precision_at_10"]
    r = t[f"demo {metric} hnsw"]["recall_at_10_vs_exact"]
    print(f"{metric}: precision@10 {p:.3f}, HNSW recall@10 {r:.3f}")
    if p < 0.4: bad.append(f"{metric} precision@10 {p:.3f} < 0.4")
    if r < 0.99: bad.append(f"{metric} HNSW recall@10 {r:.3f} < 0.99")
    if t[f"demo-raw {metric} exact"]["precision_at_10"] < 0.4: bad.append(f"raw {metric}")
if bad:
    sys.exit("; ".join(bad))
PY
