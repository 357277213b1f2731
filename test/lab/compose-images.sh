#!/usr/bin/env bash
# Images docker-compose.yml needs beside the services' own, made from the lab's
# binaries (no registry can be reached): splitlet-lab/nats:<version> and
# splitlet-lab/jaeger:<version>, on splitlet-lab/node:24 (images.sh). Skips an image
# whose inputs (Dockerfile, binary, base image) are unchanged.
# Usage: test/lab/compose-images.sh BIN_DIR   (the lab's bin/: nats-server, jaeger)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
bin=${1:?usage: compose-images.sh BIN_DIR}
export DOCKER_BUILDKIT=0
log() { printf '[lab images] %s\n' "$*" >&2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
base=$(docker image inspect -f '{{.Id}}' splitlet-lab/node:24)

# image TAG DIR BINARY
image() {
  local tag=$1 dir=$2 binary=$3 hash
  hash=$( (cat "$here/images/$dir/Dockerfile"; sha256sum <"$(readlink -f "$bin/$binary")"; echo "$base") | sha256sum | cut -c1-16)
  if [[ "$(docker image inspect -f '{{index .Config.Labels "splitlet.lab/inputs"}}' "$tag" 2>/dev/null)" == "$hash" ]]; then
    log "$tag up to date"; return
  fi
  log "building $tag"
  mkdir -p "$work/$dir"; cp "$here/images/$dir/Dockerfile" "$work/$dir/"; cp -L "$bin/$binary" "$work/$dir/$binary"
  docker build -q --label "splitlet.lab/inputs=$hash" -t "$tag" "$work/$dir" >/dev/null
}
image "splitlet-lab/nats:$NATS_VERSION" nats nats-server
image "splitlet-lab/jaeger:$JAEGER_VERSION" jaeger jaeger
