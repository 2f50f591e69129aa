#!/usr/bin/env bash
# The Python example client against the real search server on a unix socket.
# Usage: python_client_test.sh SEARCH_BINARY REPO_ROOT
set -euo pipefail
bin=$1
root=$2
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$bin" --listen="unix:$tmp/search.sock" --data_dir="$tmp/data" --threads=1 2>"$tmp/server.log" &
pid=$!
out=$(/usr/bin/python3 "$root/clients/python/search_example.py" \
        --address="unix:$tmp/search.sock" --wait_seconds=60) || {
  echo "client failed; server log:"; cat "$tmp/server.log"; exit 1; }
echo "$out"
grep -q "upserted 200 items" <<<"$out"
grep -q "METRIC_COSINE: item-7 (0.000)" <<<"$out"
grep -q "refused: INVALID_ARGUMENT" <<<"$out"
kill -TERM $pid
wait $pid
