#!/usr/bin/env bash
# Seed corpora for the fuzz targets (make fuzz runs this):
#   tests/fuzz/make_corpus.sh BUILD_DIR
# writes BUILD_DIR/seeds/<target>/ from BUILD_DIR/bin/fuzz_seed_gen (inputs
# made with the project's own writers, in each harness's layout), plus
# slices of the real data sets when they are on this machine (CIFAR-10
# records, Fashion-MNIST IDX headers and images). The seeds are rewritten
# every run; the fuzzers' own corpora (BUILD_DIR/corpus/<target>) are kept.
set -euo pipefail
build=${1:?usage: make_corpus.sh BUILD_DIR}
seeds="$build/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"
"$build/bin/fuzz_seed_gen" "$seeds"

# CIFAR-10: flags 0, no meta, no MD5SUMS, then 4 real records.
cifar=${LS_CIFAR10_DIR:-$(dirname "$0")/../../../shared/data/cifar10}
if [[ -f "$cifar/test_batch.bin" ]]; then
  { printf '\0\0\0\0\0\0\0\0\0'; head -c $((4 * 3073)) "$cifar/test_batch.bin"; } \
    > "$seeds/cifar_fuzzer/real-test-batch"
  echo "cifar_fuzzer             + 4 real records from $cifar"
fi

# Fashion-MNIST: 3 real images and labels, uncompressed, rewritten as
# 3-image IDX files; u16 split first.
fm=${LS_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ -f "$fm/t10k-images-idx3-ubyte.gz" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  { printf '\0\0\10\3\0\0\0\3\0\0\0\34\0\0\0\34'
    zcat "$fm/t10k-images-idx3-ubyte.gz" 2>/dev/null | tail -c +17 | head -c $((3 * 784)) || true
  } > "$tmp/images"
  { printf '\0\0\10\1\0\0\0\3'
    zcat "$fm/t10k-labels-idx1-ubyte.gz" 2>/dev/null | tail -c +9 | head -c 3 || true
  } > "$tmp/labels"
  size=$(stat -c %s "$tmp/images")
  { printf "\\$(printf %o $((size >> 8)))\\$(printf %o $((size & 255)))"
    cat "$tmp/images" "$tmp/labels"; } > "$seeds/idx_fuzzer/real-fashion-mnist"
  echo "idx_fuzzer               + 3 real images from $fm"
fi
