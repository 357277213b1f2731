#!/usr/bin/env bash
# Builds the lab's real parts from the Go module proxy, once per version.
# Usage: test/lab/build.sh [k8s|etcd|nats|jaeger|registry|compose|all]
# Binaries land in $SPLITLET_CACHE/bin/<part>-<version>-<go.sum hash>/ (outside the
# checkout); a second run finds them and returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${SPLITLET_CACHE:-/var/cache/splitlet}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOCACHE=${GOCACHE:-$cache/go-build}

log() { printf '[lab build] %s\n' "$*" >&2; }

# How long a first build of each part took here (2 cores, module downloads included,
# other work beside it): what the log line promises a new user.
declare -A EXPECTED=([etcd]="3 min" [nats]="1 min" [registry]="3 min" [jaeger]="6-13 min" [compose]="4-8 min" [k8s]="12-22 min")

# part_dir PART VERSION -> the cache folder for that part's binaries
part_dir() {
  local sum; sum=$(sha256sum "$here/$1/go.sum" | cut -c1-12)
  printf '%s/bin/%s-%s-%s' "$cache" "$1" "$2" "$sum"
}

# build_part PART VERSION LDFLAGS PKG... : go build the packages into the part's cache folder
build_part() {
  local part=$1 version=$2 ldflags=$3; shift 3
  local out logf; out=$(part_dir "$part" "$version"); logf=$cache/logs/build-$part.log
  mkdir -p "$cache/logs"
  if [[ -f "$out/.complete" ]]; then log "$part $version cached in $out"; echo "$out"; return; fi
  log "building $part $version (first time only; about ${EXPECTED[$part]:-a few minutes} on 2 cores; go's output in $logf)"
  local tmp="$out.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
  local start=$SECONDS
  # go's download and compile lines go to a log (minutes of them on a first run); its
  # end is shown when the build fails.
  if ! (cd "$here/$part" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "$@") >"$logf" 2>&1; then
    log "building $part failed; the end of $logf:"; tail -n 30 "$logf" >&2; rm -rf "$tmp"; return 1
  fi
  touch "$tmp/.complete"; rm -rf "$out"; mv "$tmp" "$out"
  log "built $part in $((SECONDS - start)) s"
  echo "$out"
}

build_k8s() {
  local v=${K8S_VERSION#v} major minor date ld=""
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # Stamp the version as upstream's hack/lib/version.sh does, so clients see a real version.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  build_part k8s "$K8S_VERSION" "$ld" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
}
build_etcd()   { build_part etcd "$ETCD_VERSION" "" go.etcd.io/etcd/server/v3; }
build_nats()   { build_part nats "$NATS_VERSION" "" github.com/nats-io/nats-server/v2; }
build_jaeger() { build_part jaeger "$JAEGER_VERSION" "" github.com/jaegertracing/jaeger/cmd/jaeger; }
build_registry() { build_part registry "$REGISTRY_VERSION" "" github.com/distribution/distribution/v3/cmd/registry ./htpasswd; }
# docker compose v2 as the `docker-compose` CLI plugin (Debian has only 1.29); its
# main package is .../cmd, so the binary is named cmd: the lab installs it as a plugin.
build_compose() { build_part compose "$COMPOSE_VERSION" "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" github.com/docker/compose/v2/cmd; }

case "${1:-all}" in
  k8s) build_k8s ;; etcd) build_etcd ;; nats) build_nats ;; jaeger) build_jaeger ;; registry) build_registry ;;
  compose) build_compose ;;
  all) build_etcd; build_nats; build_registry; build_jaeger; build_compose; build_k8s ;;
  *) echo "usage: $0 [k8s|etcd|nats|jaeger|registry|compose|all]" >&2; exit 2 ;;
esac
