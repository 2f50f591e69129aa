#!/usr/bin/env bash
# The long fuzz runs reported in the notes: every target in BUILD_DIR/fuzz
# for SECONDS seconds or RUNS inputs, whichever comes first, one after the
# other, each holding the machine's heavy-work lock (/tmp/ls-heavy.lock)
# only while it runs. Corpora: BUILD_DIR/corpus/<target> (kept) + seeds
# (make_corpus.sh) + tests/fuzz/regressions/<target> (past crashes).
# Logs: BUILD_DIR/logs/<target>.log; a summary line per target on stdout.
#   tests/fuzz/run_long.sh build-fuzz 600 10000000 [target ...]
set -uo pipefail
build=${1:?usage: run_long.sh BUILD_DIR SECONDS RUNS [target ...]}
seconds=${2:-600}
runs=${3:-10000000}
shift 3 || true
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in "$build"/fuzz/*; do targets+=("$(basename "$f")"); done
fi
mkdir -p "$build/logs" "$build/artifacts"
# LibTorch's own small leaks on malformed archives (see lsan.supp).
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
for n in "${targets[@]}"; do
  mkdir -p "$build/corpus/$n"
  dirs=("$build/corpus/$n")
  [[ -d "$build/seeds/$n" ]] && dirs+=("$build/seeds/$n")
  [[ -d "$here/regressions/$n" ]] && dirs+=("$here/regressions/$n")
  start=$(date +%s)
  flock /tmp/ls-heavy.lock "$build/fuzz/$n" -max_total_time="$seconds" -runs="$runs" \
    -timeout=60 -print_final_stats=1 -artifact_prefix="$build/artifacts/$n-" "${dirs[@]}" \
    > "$build/logs/$n.log" 2>&1
  rc=$?
  end=$(date +%s)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/logs/$n.log" | grep -o '[0-9]*$')
  files=$(ls "$build/corpus/$n" | wc -l)
  bytes=$(du -sb "$build/corpus/$n" | cut -f1)
  cov=$(grep -E '^#[0-9]+' "$build/logs/$n.log" | tail -1 | grep -o 'cov: [0-9]*')
  echo "$n rc=$rc seconds=$((end - start)) execs=${execs:-?} corpus_files=$files corpus_bytes=$bytes $cov"
done
