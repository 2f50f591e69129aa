#!/usr/bin/env bash
# Prepares this machine to run the latentsearch container stack with podman
# (no Docker daemon, no systemd). Idempotent: a second run only checks.
#
#   deploy/podman/setup.sh            # everything below
#   deploy/podman/setup.sh --print-env   # print the DOCKER_HOST line and exit
#
# What it does (each step is skipped when already done):
#   1. installs podman, runc, catatonit (the init of `init: true`), the CNI
#      dnsname plugin (containers find each other by service name),
#      docker-compose (Debian's; all --no-install-recommends), debootstrap,
#      python3-yaml;
#   2. writes /etc/containers/containers.conf: runtime runc (crun fails on
#      hybrid cgroup v1/v2 hosts), cgroup_manager cgroupfs (no systemd),
#      default_ulimits nofile = this shell's hard limit (podman's default
#      1048576 exceeds it and every container fails to start) and nproc 32768;
#   3. builds the base image localhost/latentsearch-debian:bookworm with
#      `debootstrap --variant=minbase bookworm` from the apt mirror this machine
#      is configured with (read from /etc/apt/sources.list{,.d} now, never
#      stored in the repository) and `podman import`s it;
#   4. starts `podman system service` on a unix socket (LS_PODMAN_SOCKET,
#      default /run/latentsearch-podman.sock) for docker-compose: export
#      DOCKER_HOST=unix://$LS_PODMAN_SOCKET.
set -euo pipefail

SOCKET=${LS_PODMAN_SOCKET:-/run/latentsearch-podman.sock}
BASE_IMAGE=${LS_BASE_IMAGE:-localhost/latentsearch-debian:bookworm}
SUITE=bookworm

log() { echo "podman-setup: $*" >&2; }

if [[ "${1:-}" == "--print-env" ]]; then
  echo "export DOCKER_HOST=unix://$SOCKET"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { log "run as root (or install sudo)"; exit 1; }
  SUDO=(sudo)
fi

# 1. Packages.
PACKAGES=(podman runc catatonit golang-github-containernetworking-plugin-dnsname docker-compose debootstrap
          python3-yaml curl)
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]]; then
    "${SUDO[@]}" apt-get update -q
  fi
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. containers.conf.
NOFILE=$(ulimit -Hn)
[[ "$NOFILE" == unlimited ]] && NOFILE=1048576
NPROC=$(ulimit -Hu)
if [[ "$NPROC" == unlimited || "$NPROC" -gt 32768 ]]; then NPROC=32768; fi
CONF=/etc/containers/containers.conf
WANT=$(cat <<CONFEOF
# Written by latentsearch deploy/podman/setup.sh.
[containers]
default_ulimits = [
  "nofile=${NOFILE}:${NOFILE}",
  "nproc=${NPROC}:${NPROC}",
]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
CONFEOF
)
if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$WANT" ]]; then
  log "writing $CONF (nofile=$NOFILE nproc=$NPROC, runc, cgroupfs)"
  "${SUDO[@]}" mkdir -p /etc/containers
  if [[ -f "$CONF" ]] && ! grep -q 'latentsearch deploy/podman/setup.sh' "$CONF"; then
    "${SUDO[@]}" cp "$CONF" "$CONF.before-latentsearch"
  fi
  printf '%s\n' "$WANT" | "${SUDO[@]}" tee "$CONF" >/dev/null
fi

# 3. Base image from the configured mirror.
mirror_from_apt() {
  local m=""
  # deb822 sources first (Debian 12's default), then one-line sources.
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    m=$(awk '
      /^[[:space:]]*$/ { uris=""; suites=""; next }
      /^URIs:/   { uris=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "'$SUITE'") suites=1 }
      uris != "" && suites == 1 { print uris; exit }' "$f")
    [[ -n "$m" ]] && { echo "$m"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    m=$(awk '$1 == "deb" && $0 ~ / '$SUITE' / {
               for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
    [[ -n "$m" ]] && { echo "$m"; return; }
  done
}

if ! "${SUDO[@]}" podman image exists "$BASE_IMAGE"; then
  MIRROR=${LS_APT_MIRROR:-$(mirror_from_apt)}
  [[ -n "$MIRROR" ]] || { log "no '$SUITE' mirror found in /etc/apt/sources.list{,.d}; set LS_APT_MIRROR"; exit 1; }
  ROOT=$(mktemp -d /var/tmp/ls-debootstrap.XXXXXX)
  trap '"${SUDO[@]}" rm -rf "$ROOT"' EXIT
  log "debootstrap --variant=minbase $SUITE from $MIRROR (takes a few minutes)"
  "${SUDO[@]}" debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >&2
  # The same suites as the host (security updates included), no caches.
  SECURITY=$(awk '/^URIs:/ {u=$2} /^Suites:/ && /-security/ {print u; exit}' \
               /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [[ -n "$SECURITY" ]] && echo "deb $SECURITY $SUITE-security main"
  } | "${SUDO[@]}" tee "$ROOT/etc/apt/sources.list" >/dev/null
  "${SUDO[@]}" rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
  log "podman import -> $BASE_IMAGE"
  "${SUDO[@]}" tar -C "$ROOT" -c . | "${SUDO[@]}" podman import \
      --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  "${SUDO[@]}" rm -rf "$ROOT"
  trap - EXIT
fi

# 4. The Docker-compatible API socket.
if ! "${SUDO[@]}" curl -sf --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; then
  "${SUDO[@]}" rm -f "$SOCKET"
  log "starting podman system service on $SOCKET (log: /var/log/latentsearch-podman-service.log)"
  "${SUDO[@]}" nohup setsid podman system service --time=0 "unix://$SOCKET" \
      >>/var/log/latentsearch-podman-service.log 2>&1 < /dev/null &
  for _ in $(seq 1 100); do
    [[ -S "$SOCKET" ]] && break
    sleep 0.1
  done
  [[ -S "$SOCKET" ]] || { log "podman system service did not create $SOCKET"; exit 1; }
fi
log "ready: export DOCKER_HOST=unix://$SOCKET"
