#!/usr/bin/env bash
# Interleaved before/after benchmark of two builds (issue #9's speed check):
# index_bench --sections=exact and model_bench BM_Train (conv, fp32), ROUNDS
# rounds, alternating which build goes first. Prints the CPU flags and the
# load before and after; tests/tools/bench_table.py OUT makes the ratio table.
#
#   tests/tools/bench_compare.sh BASE_BENCH_DIR NEW_BENCH_DIR OUT [ROUNDS=3]
# e.g. BASE_BENCH_DIR = a build of the old commit's bench/ folder.
# Run on a quiet machine: no build or test beside it.
set -u
BASE=$1; NEW=$2; OUT=$3; ROUNDS=${4:-3}
mkdir -p "$OUT"
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
{ echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "flags: $(grep -m1 flags /proc/cpuinfo | grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' | sort -u | tr '\n' ' ')"
  echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
  echo "uptime before: $(uptime)"; } > "$OUT/env.txt"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then order="base new"; else order="new base"; fi
  for which in $order; do
    if [ "$which" = base ]; then bin=$BASE; else bin=$NEW; fi
    "$bin/index_bench" --sections=exact > "$OUT/index_${which}_$round.txt" 2>&1
    "$bin/model_bench" --benchmark_filter='BM_Train/0/[0-9]+/1/0/' --benchmark_format=json \
      > "$OUT/model_${which}_$round.json" 2> "$OUT/model_${which}_$round.err"
  done
done
echo "uptime after: $(uptime)" >> "$OUT/env.txt"
