#!/usr/bin/env bash
# The gateway's speed measurements in one run (docs/benchmarks.md
# "Gateway"), framed by the CPU model and flags and `uptime` before and
# after. Run it on a quiet machine (the project's rule: while holding
# /tmp/ls-build.lock):
#   flock /tmp/ls-build.lock bash tests/bench/gateway/run.sh [BUILD_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
build="${1:-$repo/build}"
echo "## machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread)' | sed 's/^/    /'
echo "    flags: $(grep -m1 -o -E 'avx512[a-z_0-9]*|amx[a-z_0-9]*|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "    OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "    uptime before: $(uptime)"
echo
echo "## search by vector: gateway vs direct gRPC"
"$build/bench/gateway_bench" "${@:2}"
echo
echo "## console"
/usr/bin/python3 "$repo/tests/bench/gateway/console_speed.py" "$build" "$repo"
echo
echo "    uptime after: $(uptime)"
