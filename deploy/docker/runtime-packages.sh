#!/usr/bin/env bash
# Prints the Debian packages (one per line, sorted) that own the shared
# libraries the given binaries link directly (their DT_NEEDED entries; apt
# brings the rest as those packages' dependencies), so that the runtime
# images install exactly those and nothing of the build toolchain. Libraries under /opt
# (a downloaded LibTorch, copied into the image as files) are skipped.
# Fails when a library is missing or owned by no package.
#
#   deploy/docker/runtime-packages.sh build/bin/latentsearch-search ...
set -euo pipefail

owner() {  # owner PATH -> package name (merged /usr: try both spellings)
  local p
  for p in "$1" "$(readlink -f "$1")"; do
    for c in "$p" "${p#/usr}" "/usr$p"; do
      if out=$(dpkg -S "$c" 2>/dev/null); then
        echo "${out%%:*}"
        return 0
      fi
    done
  done
  return 1
}

libs=()
for bin in "$@"; do
  resolved=$(ldd "$bin")
  if grep -q 'not found' <<<"$resolved"; then
    echo "runtime-packages: $bin: unresolved: $(grep 'not found' <<<"$resolved" | tr -s ' \t\n' ' ')" >&2
    exit 1
  fi
  for soname in $(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }'); do
    path=$(awk -v s="$soname" '$1 == s && $3 ~ /^\// { print $3 }' <<<"$resolved")
    [[ -n "$path" ]] || { echo "runtime-packages: $bin: $soname not resolved by ldd" >&2; exit 1; }
    libs+=("$path")
  done
done
for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
  case "$lib" in /opt/*) continue ;; esac
  owner "$lib" || { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
done | sort -u
