#!/usr/bin/env bash
# Makes the images the NodeConformance specs ask for, locally and under the exact names
# the specs use (no registry can be reached here): Docker then has them, so the specs'
# IfNotPresent pulls are satisfied without a registry. agnhost and nonewprivs are the
# upstream programs built from the k8s.io/kubernetes module; busybox, nginx, nonroot
# and pause are stand-ins made from busybox 1.37.0 (upstream's release, the version the
# specs' busybox image has, built here with its default configuration, static) and the
# lab's pause (README.md, "Images", lists what each stand-in cannot do).
#   conformance/images.sh <e2e-bin-dir>   (test/lab/build.sh e2e prints it)
#   conformance/images.sh --busybox       only builds (and caches) busybox, which needs the
#                                         network, and prints its path (the fresh-system
#                                         rehearsal runs the image builds offline)
# An image is rebuilt only when its inputs change (a label carries their hash), as
# test/lab/images.sh does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:?usage: images.sh <e2e-bin-dir> | --busybox}
export DOCKER_BUILDKIT=0
log() { printf '[conformance images] %s\n' "$*" >&2; }

# build_image CONTEXT_DIR TAG... : builds once per inputs hash (of the context's files)
build_image() {
  local ctx=$1; shift
  local hash; hash=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [[ "$(docker image inspect -f '{{index .Config.Labels "splitlet.lab/inputs"}}' "$1" 2>/dev/null)" == "$hash" ]]; then
    log "$1 up to date"
  else
    log "building $1"
    # The legacy builder's deprecation notice on stderr is noise; a failure's output is not.
    docker build -q --label "splitlet.lab/inputs=$hash" -t "$1" "$ctx" >/dev/null 2>"$work/build.err" || { cat "$work/build.err" >&2; return 1; }
  fi
  local tag
  for tag in "${@:2}"; do docker tag "$1" "$tag"; done
}

# busybox 1.37.0, the version of the specs' busybox image (registry.k8s.io/e2e-test-
# images/busybox:1.37.0-1 is docker-library's busybox:1.37.0: upstream's release with its
# defconfig), built once from upstream's tarball as Debian's archive serves it (its
# orig tarball is upstream's, same checksum): `make defconfig`, static, and without
# `tc` (it does not build against newer kernel headers; no spec uses it). Debian's
# busybox-static (1.35 in bookworm, 1.37 in trixie) is configured its own way: its nc has
# no -u and its sh drops environment names that are not identifiers (`data-1`), both of
# which the specs use. Takes ~2 minutes on 2 cores; cached in $SPLITLET_CACHE/bin.
BUSYBOX_VERSION=1.37.0
BUSYBOX_SHA256=3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
BUSYBOX_URL=${BUSYBOX_URL:-http://deb.debian.org/debian/pool/main/b/busybox/busybox_$BUSYBOX_VERSION.orig.tar.bz2}
cache=${SPLITLET_CACHE:-/var/cache/splitlet}
build_busybox() {
  local out=$cache/bin/busybox-$BUSYBOX_VERSION-${BUSYBOX_SHA256:0:12}
  if [[ -x $out/busybox ]]; then echo "$out/busybox"; return; fi
  log "building busybox $BUSYBOX_VERSION from source (first time only; about 2 minutes; output in $cache/logs/build-busybox.log)"
  mkdir -p "$cache/logs"
  local src; src=$(mktemp -d)
  (
    set -e
    curl -fsSL -o "$src/busybox.tar.bz2" "$BUSYBOX_URL"
    echo "$BUSYBOX_SHA256  $src/busybox.tar.bz2" | sha256sum -c --quiet
    tar -C "$src" -xjf "$src/busybox.tar.bz2"
    cd "$src/busybox-$BUSYBOX_VERSION"
    make defconfig
    sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config
    make oldconfig </dev/null
    make -j"$(nproc)" busybox
    mkdir -p "$out.tmp"; cp busybox "$out.tmp/busybox"; rm -rf "$out"; mv "$out.tmp" "$out"
  ) >"$cache/logs/build-busybox.log" 2>&1 || { log "building busybox failed; the end of $cache/logs/build-busybox.log:"; tail -n 30 "$cache/logs/build-busybox.log" >&2; rm -rf "$src"; return 1; }
  rm -rf "$src"
  echo "$out/busybox"
}
busybox_bin=$(build_busybox)
if [[ $bin == --busybox ]]; then echo "$busybox_bin"; exit 0; fi

# A busybox root: every applet as a link, as the busybox image has them; the users
# and groups the upstream images define.
busybox_root() { # DIR
  mkdir -p "$1/bin" "$1/etc" "$1/tmp" "$1/root" "$1/var/tmp" "$1/usr/bin" "$1/usr/sbin" "$1/sbin"
  chmod 1777 "$1/tmp" "$1/var/tmp"
  cp "$busybox_bin" "$1/bin/busybox"
  printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n' >"$1/etc/group"
}

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
e2e_registry=registry.k8s.io/e2e-test-images

# busybox: the applets installed as links at build time (the binary knows its own list).
mkdir -p "$work/busybox"; busybox_root "$work/busybox/rootfs"
cat >"$work/busybox/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["sh"]
DOCKERFILE
build_image "$work/busybox" "$e2e_registry/busybox:1.37.0-1" "$e2e_registry/busybox:1.36.1-1"

# agnhost: the real binary from the module, on the busybox root instead of alpine, with
# what the upstream Dockerfile adds: /agnhost-2 (entrypoint specs), porter's key pair,
# /uploads (netexec), the user and group the SupplementalGroups spec expects.
a="$work/agnhost"; mkdir -p "$a"; busybox_root "$a/rootfs"
cp "$bin/agnhost" "$a/rootfs/agnhost"; ln -s agnhost "$a/rootfs/agnhost-2"
# agnhost is built with cgo (test/lab/build.sh says why): the C libraries it links, as
# test/lab/images.sh does for node.
for lib in $(ldd "$bin/agnhost" | grep -oE '/[^ ]+'); do mkdir -p "$a/rootfs$(dirname "$lib")"; cp -L "$lib" "$a/rootfs$lib"; done
porter=$(cd "$root/test/lab/e2e" && GOFLAGS=-mod=mod go list -f '{{.Dir}}' k8s.io/kubernetes/test/images/agnhost/porter)
cp "$porter/localhost.crt" "$porter/localhost.key" "$a/rootfs/"
mkdir -p "$a/rootfs/uploads" "$a/rootfs/home/user-defined-in-image"
echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >>"$a/rootfs/etc/passwd"
printf 'user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n' >>"$a/rootfs/etc/group"
# Upstream's alpine has curl and bash, which specs call: the lifecycle hooks run
# `curl http://<handler>:8080/echo?msg=…`, a probe spec runs `/bin/bash -c`. Stand-ins:
# curl as busybox wget for a plain `curl [flags] URL` (flags dropped; one that takes an
# argument, -o/-H/-d, is not understood), bash as busybox sh (the specs' scripts are sh).
mkdir -p "$a/rootfs/usr/bin"
printf '#!/bin/sh\n# curl stand-in (conformance/images.sh): GET the last non-flag argument with busybox wget.\nurl=\nfor arg; do case $arg in -*) ;; *) url=$arg ;; esac; done\nexec wget -q -O - "$url"\n' >"$a/rootfs/usr/bin/curl"
printf '#!/bin/sh\n# bash stand-in (conformance/images.sh): busybox sh.\nexec /bin/sh "$@"\n' >"$a/rootfs/bin/bash"
chmod 755 "$a/rootfs/usr/bin/curl" "$a/rootfs/bin/bash"
# /var/registry: what `agnhost fake-registry-server` serves (upstream's image holds
# registry.k8s.io's pause 3.10.2 as pause:testing there; the Serial spec "should be able
# to pull from private registry with secret" pulls it): the lab's pause, as
# conformance/fake-registry.ts lays it out.
docker image inspect splitlet-lab/pause:1 >/dev/null 2>&1 || { log "splitlet-lab/pause:1 missing: run test/lab/images.sh"; exit 1; }
mkdir -p "$work/pause-saved"; docker save splitlet-lab/pause:1 | tar -C "$work/pause-saved" -xf -
(cd "$root" && npx tsx conformance/fake-registry.ts "$work/pause-saved" "$a/rootfs/var/registry" pause testing) >/dev/null
cat >"$a/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EXPOSE 80 8080 8081 9376 5000
ENTRYPOINT ["/agnhost"]
CMD ["pause"]
DOCKERFILE
build_image "$a" "$e2e_registry/agnhost:2.63.0" "$e2e_registry/agnhost:2.55"

# nginx (1.15-4 and 1.27-0): busybox httpd serving nginx's default root on port 80, in
# the foreground as nginx's "daemon off" does.
n="$work/nginx"; mkdir -p "$n"; busybox_root "$n/rootfs"
mkdir -p "$n/rootfs/usr/share/nginx/html"
printf '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n' >"$n/rootfs/usr/share/nginx/html/index.html"
cat >"$n/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
DOCKERFILE
build_image "$n" "$e2e_registry/nginx:1.15-4" "$e2e_registry/nginx:1.27-0"

# glibc-dns-testing (the HostnameOverride specs run `hostname; hostname -f` in it):
# upstream is Debian with glibc's resolver; here the busybox root with Debian's glibc
# `hostname` (ahead of busybox's on PATH) and its libraries, hosts from files then DNS.
g="$work/glibc-dns-testing"; mkdir -p "$g"; busybox_root "$g/rootfs"
cp "$(command -v hostname)" "$g/rootfs/usr/bin/hostname"
for lib in $(ldd "$(command -v hostname)" | grep -oE '/[^ ]+'); do mkdir -p "$g/rootfs$(dirname "$lib")"; cp -L "$lib" "$g/rootfs$lib"; done
printf 'hosts: files dns\n' >"$g/rootfs/etc/nsswitch.conf"
printf 'FROM scratch\nCOPY rootfs/ /\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n' >"$g/Dockerfile"
build_image "$g" "$e2e_registry/glibc-dns-testing:2.0.0"

# nonroot: upstream is busybox with USER 1234.
mkdir -p "$work/nonroot"; printf 'FROM %s\nUSER 1234\n' "$e2e_registry/busybox:1.37.0-1" >"$work/nonroot/Dockerfile"
build_image "$work/nonroot" "$e2e_registry/nonroot:1.5"

# nonewprivs: upstream's nnp (prints its effective uid), setuid root, on busybox.
p="$work/nonewprivs"; mkdir -p "$p/rootfs/usr/local/bin"
(cd "$root/test/lab/e2e" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$p/rootfs/usr/local/bin/nnp" k8s.io/kubernetes/test/images/nonewprivs)
# (The legacy builder's COPY drops the setuid bit: set in a RUN step.)
printf 'FROM %s\nCOPY rootfs/ /\nRUN ["/bin/chmod", "4755", "/usr/local/bin/nnp"]\nCMD ["nnp"]\n' "$e2e_registry/busybox:1.37.0-1" >"$p/Dockerfile"
build_image "$p" "$e2e_registry/nonewprivs:1.4"

# pause: the lab's pause (test/lab/images.sh), under the name the specs use.
docker image inspect splitlet-lab/pause:1 >/dev/null 2>&1 || { log "splitlet-lab/pause:1 missing: run test/lab/images.sh"; exit 1; }
docker tag splitlet-lab/pause:1 registry.k8s.io/pause:3.10.2

# What the suite names that is still missing: --list-images covers every spec, not
# only the selected ones; a selected spec that uses one of these fails to pull it.
if [[ -x "$bin/e2e.test" ]]; then
  missing=()
  while read -r img; do
    docker image inspect "$img" >/dev/null 2>&1 || missing+=("$img")
  done < <("$bin/e2e.test" --list-images 2>/dev/null | grep -v -e windows -e invalid.registry)
  ((${#missing[@]} == 0)) || log "${#missing[@]} of the suite's images are not made here (a spec that uses one fails to pull it): ${missing[*]}"
fi
