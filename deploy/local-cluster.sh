#!/usr/bin/env bash
# A search cluster on this machine, on loopback (docs/cluster.md): one etcd,
# N search nodes and R routers. Prints one line per process,
#   ROLE ADDRESS PID
# once every one serves (nodes registered in etcd, routers answering), then
# runs until SIGTERM or Ctrl-C and stops them all.
#
#   deploy/local-cluster.sh --nodes=3 --routers=2 --data_dir=/tmp/lc
#
# Options:
#   --nodes=N            search nodes (default 3)
#   --routers=R          routers (default 2)
#   --data_dir=DIR       etcd and node data, logs in DIR/logs (default: a temp dir,
#                        removed at exit); an existing DIR is reused (a restart)
#   --bin=DIR            where latentsearch-search is (default: build/bin)
#   --base_port=P        ports P.. (default: free ports chosen at start)
#   --refresh_interval=D passed to nodes and routers (default 1s)
#   --encoder=ADDR       the routers' encoder for image queries
#   --etcd=URLS          use this etcd instead of starting one
set -euo pipefail

nodes=3 routers=2 data_dir="" base_port="" refresh="1s" encoder="" etcd=""
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/../build/bin"
for arg in "$@"; do
  case "$arg" in
    --nodes=*) nodes="${arg#*=}" ;;
    --routers=*) routers="${arg#*=}" ;;
    --data_dir=*) data_dir="${arg#*=}" ;;
    --bin=*) bin="${arg#*=}" ;;
    --base_port=*) base_port="${arg#*=}" ;;
    --refresh_interval=*) refresh="${arg#*=}" ;;
    --encoder=*) encoder="${arg#*=}" ;;
    --etcd=*) etcd="${arg#*=}" ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local-cluster: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || { echo "local-cluster: --nodes must be >= 1" >&2; exit 2; }
[[ "$routers" =~ ^[1-9][0-9]*$ ]] || { echo "local-cluster: --routers must be >= 1" >&2; exit 2; }
search="$bin/latentsearch-search"
[[ -x "$search" ]] || { echo "local-cluster: $search not built (cmake --build build)" >&2; exit 1; }
if [[ -z "$etcd" ]] && ! command -v etcd >/dev/null; then
  echo "local-cluster: etcd not found (apt-get install etcd-server; deploy/install-deps.sh does)" >&2
  exit 1
fi

temp=""
if [[ -z "$data_dir" ]]; then
  temp="$(mktemp -d)"
  data_dir="$temp"
fi
mkdir -p "$data_dir/logs"
logs="$data_dir/logs"

pids=()
stop() {
  local rc="${1:-0}"
  trap - TERM INT EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "$temp" ]] && rm -rf "$temp"
  exit "$rc"
}
trap 'stop 0' TERM INT
trap 'stop $?' EXIT

# Ports: consecutive from --base_port, or free ones the kernel hands out.
needed=$((2 + nodes + routers))
if [[ -n "$base_port" ]]; then
  ports=($(seq "$base_port" $((base_port + needed - 1))))
else
  ports=($(python3 - "$needed" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  ))
fi

# Waits (polling, 60 s at most) until `check` succeeds for process $pid.
wait_for() {
  local name="$1" pid="$2" log="$3"
  shift 3
  local deadline=$((SECONDS + 60))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "local-cluster: $name exited:" >&2; tail -n 20 "$log" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "local-cluster: $name not serving after 60 s" >&2; tail -n 20 "$log" >&2; exit 1; }
    sleep 0.1
  done
}

if [[ -z "$etcd" ]]; then
  etcd="http://127.0.0.1:${ports[0]}"
  etcd --name local --data-dir "$data_dir/etcd" \
    --listen-client-urls "$etcd" --advertise-client-urls "$etcd" \
    --listen-peer-urls "http://127.0.0.1:${ports[1]}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ports[1]}" \
    --initial-cluster "local=http://127.0.0.1:${ports[1]}" 2>"$logs/etcd.log" >&2 &
  pids+=($!)
  wait_for etcd $! "$logs/etcd.log" python3 -c "import urllib.request; urllib.request.urlopen('$etcd/health', timeout=1)"
  echo "etcd $etcd $!"
fi

common=(--etcd="$etcd" --refresh_interval="$refresh")
announced() { grep -q "listening on" "$1"; }
for ((i = 0; i < nodes; i++)); do
  addr="127.0.0.1:${ports[$((2 + i))]}"
  "$search" --role=node "${common[@]}" --listen="$addr" --advertise="$addr" \
    --data_dir="$data_dir/node-$i" 2>"$logs/node-$i.log" &
  pids+=($!)
  wait_for "node-$i" $! "$logs/node-$i.log" announced "$logs/node-$i.log"
  echo "node $addr $!"
done
router_flags=("${common[@]}")
[[ -n "$encoder" ]] && router_flags+=(--encoder="$encoder")
for ((i = 0; i < routers; i++)); do
  addr="127.0.0.1:${ports[$((2 + nodes + i))]}"
  "$search" --role=router "${router_flags[@]}" --listen="$addr" \
    --data_dir="$data_dir/router-$i" 2>"$logs/router-$i.log" &
  pids+=($!)
  wait_for "router-$i" $! "$logs/router-$i.log" announced "$logs/router-$i.log"
  echo "router $addr $!"
done
echo "ready (logs in $logs; SIGTERM or Ctrl-C stops the cluster)"
wait -n "${pids[@]}" || true
echo "local-cluster: a process exited; stopping the others" >&2
stop 1
