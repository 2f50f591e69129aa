#!/usr/bin/env bash
# Builds the latentsearch images from deploy/docker/Dockerfile with
# podman (or docker: LS_CONTAINER_ENGINE=docker), tagged as the compose file
# expects: ${LS_REGISTRY:-localhost}/latentsearch-{trainer,encoder,search,cli,etcd,gateway}:${LS_TAG:-latest}.
# The compile happens once, in the shared build stage (etcd, Debian's
# etcd-server for the search cluster, compiles nothing).
#
#   deploy/docker/build-images.sh [--from-head] [--targets="search cli etcd"] [-- extra build args]
#
#   --from-head   build from `git archive HEAD` (committed files only) instead
#                 of the working tree, e.g. on a machine where uncommitted
#                 work in progress must not reach the image.
#   LS_BASE_IMAGE base image (default: localhost/latentsearch-debian:bookworm
#                 when it exists, from deploy/podman/setup.sh; else
#                 debian:bookworm-slim).
#   LS_BUILD_JOBS parallel compile jobs in the build stage (default 2).
#   LS_NPM_CA     CA bundle npm trusts in the build stage (default: the
#                 host's NODE_EXTRA_CA_CERTS, if set).
# Prints one line per image with its build time and size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENGINE=${LS_CONTAINER_ENGINE:-podman}
REGISTRY=${LS_REGISTRY:-localhost}
TAG=${LS_TAG:-latest}
TARGETS="trainer encoder search cli etcd gateway"
FROM_HEAD=0
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from-head) FROM_HEAD=1 ;;
    --targets=*) TARGETS=${1#--targets=} ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "build-images: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z "${LS_BASE_IMAGE:-}" ]]; then
  if $ENGINE image exists localhost/latentsearch-debian:bookworm 2>/dev/null; then
    LS_BASE_IMAGE=localhost/latentsearch-debian:bookworm
  else
    LS_BASE_IMAGE=debian:bookworm-slim
  fi
fi

CONTEXT=$ROOT
if [[ $FROM_HEAD -eq 1 ]]; then
  CONTEXT=$(mktemp -d /var/tmp/ls-image-src.XXXXXX)
  trap 'rm -rf "$CONTEXT"' EXIT
  git -C "$ROOT" archive HEAD | tar -x -C "$CONTEXT"
  echo "build-images: context = HEAD $(git -C "$ROOT" rev-parse --short HEAD)" >&2
fi

# The console's `npm ci` in the build stage trusts the CAs the host's npm
# trusts (NODE_EXTRA_CA_CERTS, e.g. a TLS-inspecting proxy's), passed as a
# build secret so that it stays out of the image. LS_NPM_CA overrides.
SECRET=()
NPM_CA=${LS_NPM_CA:-${NODE_EXTRA_CA_CERTS:-}}
[[ -n "$NPM_CA" && -s "$NPM_CA" ]] && SECRET=(--secret "id=npm_ca,src=$NPM_CA")

FORMAT=()
# HEALTHCHECK is kept only in the Docker image format (OCI has no field).
[[ "$ENGINE" == podman ]] && FORMAT=(--format docker)

for target in $TARGETS; do
  start=$(date +%s)
  $ENGINE build "${FORMAT[@]}" "${SECRET[@]}" -f "$CONTEXT/deploy/docker/Dockerfile" --target "$target" \
      --build-arg BASE_IMAGE="$LS_BASE_IMAGE" --build-arg JOBS="${LS_BUILD_JOBS:-2}" \
      -t "$REGISTRY/latentsearch-$target:$TAG" "${EXTRA[@]}" "$CONTEXT" >&2
  size=$($ENGINE image inspect --format '{{.Size}}' "$REGISTRY/latentsearch-$target:$TAG")
  echo "image $REGISTRY/latentsearch-$target:$TAG built in $(( $(date +%s) - start )) s," \
       "$(( size / 1000000 )) MB"
done
