#!/usr/bin/env bash
# Builds the lab's local images (no registry can be reached): the pod sandbox, the
# test box and a Node.js 24 base image. Skips an image that already exists with the
# same inputs (the image carries a label with the inputs' hash).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export DOCKER_BUILDKIT=0
log() { printf '[lab images] %s\n' "$*" >&2; }

# build_image TAG CONTEXT_DIR HASH
build_image() {
  local tag=$1 ctx=$2 hash=$3
  if [[ "$(docker image inspect -f '{{index .Config.Labels "splitlet.lab/inputs"}}' "$tag" 2>/dev/null)" == "$hash" ]]; then
    log "$tag up to date"; return
  fi
  log "building $tag"
  docker build -q --label "splitlet.lab/inputs=$hash" -t "$tag" "$ctx" >/dev/null
}

copy_busybox() { # rootfs
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/root"; chmod 1777 "$1/tmp"
  cp /bin/busybox "$1/bin/busybox"
}

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# pause
mkdir -p "$work/pause"; cp "$here/images/pause/Dockerfile" "$work/pause/"
gcc -static -Os -o "$work/pause/pause" "$here/images/pause/pause.c"; strip "$work/pause/pause"
build_image splitlet-lab/pause:1 "$work/pause" "$(cat "$here/images/pause/"* | sha256sum | cut -c1-16)"

# testbox
mkdir -p "$work/testbox"; cp "$here/images/testbox/Dockerfile" "$work/testbox/"
copy_busybox "$work/testbox/rootfs"
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$work/testbox/rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' > "$work/testbox/rootfs/etc/group"
build_image splitlet-lab/testbox:1 "$work/testbox" "$( (cat "$here/images/testbox/Dockerfile"; busybox | head -1) | sha256sum | cut -c1-16)"

# node base
node_bin="$root/node_modules/node/bin/node"
[[ -x "$node_bin" ]] || { log "node_modules/node missing: run npm ci first"; exit 1; }
nroot="$work/node/rootfs"; mkdir -p "$work/node"; cp "$here/images/node/Dockerfile" "$work/node/"
copy_busybox "$nroot"; mkdir -p "$nroot/usr/local/bin" "$nroot/home/node" "$nroot/etc/ssl/certs"
cp "$node_bin" "$nroot/usr/local/bin/node"; strip "$nroot/usr/local/bin/node" 2>/dev/null || true
for lib in $(ldd "$node_bin" | grep -oE '/[^ ]+'); do mkdir -p "$nroot$(dirname "$lib")"; cp -L "$lib" "$nroot$lib"; done
cp -L /etc/ssl/certs/ca-certificates.crt "$nroot/etc/ssl/certs/" 2>/dev/null || true
# npm, as the official image has it (the Dockerfiles' build stage runs npm ci)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mkdir -p "$nroot/usr/local/lib/node_modules"; cp -r "$npm_dir" "$nroot/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$nroot/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$nroot/usr/local/bin/npx"
mkdir -p "$nroot/usr/bin"; ln -s /bin/busybox "$nroot/usr/bin/env"   # for the scripts' #!/usr/bin/env node
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n' > "$nroot/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$nroot/etc/group"
chown 1000:1000 "$nroot/home/node"
build_image splitlet-lab/node:24 "$work/node" "$( ("$node_bin" --version; npm --version; cat "$here/images/node/Dockerfile" "$0") | sha256sum | cut -c1-16)"

# The registry's copy of the test box: tests pull it with and without credentials.
if [[ -n "${LAB_REGISTRY:-}" ]]; then
  ref="$LAB_REGISTRY/splitlet-lab/private:1"
  if ! curl -sf --noproxy '*' -u "$LAB_REGISTRY_USER:$LAB_REGISTRY_PASSWORD" -o /dev/null \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' "http://$LAB_REGISTRY/v2/splitlet-lab/private/manifests/1"; then
    log "pushing $ref"
    cfg="$work/docker-config"; mkdir -p "$cfg"   # credentials for this push only, not root's docker config
    printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$LAB_REGISTRY" "$(printf '%s:%s' "$LAB_REGISTRY_USER" "$LAB_REGISTRY_PASSWORD" | base64 -w0)" >"$cfg/config.json"
    # Its own image (a label on the test box): pulling it must not give testbox:1 a repo digest.
    printf 'FROM splitlet-lab/testbox:1\nLABEL splitlet.lab/image=private\n' | docker build -q -t "$ref" - >/dev/null
    DOCKER_CONFIG=$cfg docker push -q "$ref" >/dev/null
    docker rmi "$ref" >/dev/null
  fi
fi
