#!/usr/bin/env bash
# Builds the lab's real parts from the Go module proxy, once per version.
# Usage: test/lab/build.sh [k8s|etcd|nats|jaeger|registry|compose|metrics-server|e2e|kubelet|reference|critime|all]
# (e2e, kubelet and reference are not part of all: the conformance runs need e2e
# (`npm test`'s quick subset and `npm run conformance`), only the reference node
# (`lab.sh up --reference`) kubelet and reference)
# Binaries land in $SPLITLET_CACHE/bin/<part>-<version>-<go.sum hash>/ (outside the
# checkout); a second run finds them and returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${SPLITLET_CACHE:-/var/cache/splitlet}
# A caller's GOFLAGS (e.g. -p=1 on a shared machine) are kept beside -mod=mod.
export GOFLAGS="-mod=mod${GOFLAGS:+ $GOFLAGS}" GOTOOLCHAIN=local
export GOCACHE=${GOCACHE:-$cache/go-build}

log() { printf '[lab build] %s\n' "$*" >&2; }

# How long a first build of each part took here (2 cores, module downloads included,
# other work beside it): what the log line promises a new user.
declare -A EXPECTED=([etcd]="3 min" [nats]="1 min" [registry]="3 min" [jaeger]="6-13 min" [compose]="4-8 min" [k8s]="12-22 min" [metrics-server]="5-8 min" [e2e]="3-6 min" [kubelet]="5-10 min" [reference]="4-8 min" [critime]="1 min")
# The folder (test/lab/<dir>, its go.mod) a part is built from, when not named after it.
declare -A SRC=([kubelet]=k8s [critime]=reference)
src_of() { printf '%s' "${SRC[$1]:-$1}"; }

# part_dir PART VERSION -> the cache folder for that part's binaries
part_dir() {
  local sum; sum=$(sha256sum "$here/$(src_of "$1")/go.sum" | cut -c1-12)
  printf '%s/bin/%s-%s-%s' "$cache" "$1" "$2" "$sum"
}

# cached_part PART VERSION BUILDER ARGS... : runs `BUILDER OUTDIR ARGS...` in the
# part's folder (test/lab/PART) once, into the part's cache folder; later calls find
# it there. The builder decides how (go build, go test -c); the caching is the same.
cached_part() {
  local part=$1 version=$2 builder=$3; shift 3
  local out logf; out=$(part_dir "$part" "$version"); logf=$cache/logs/build-$part.log
  mkdir -p "$cache/logs" "$cache/bin"
  # One build of a part at a time: another build.sh may be building it right now (`npm
  # test` starts e2e's first build in the background, and its conformance test asks
  # for it later). Wait for its lock (held until that build.sh exits), then find its
  # result, rather than compile the same thing twice on a small machine.
  local lock
  exec {lock}>"$out.lock"
  flock -n "$lock" || { log "waiting for the build of $part already running"; flock "$lock"; }
  if [[ -f "$out/.complete" ]]; then log "$part $version cached in $out"; echo "$out"; return; fi
  log "building $part $version (first time only; about ${EXPECTED[$part]:-a few minutes} on 2 cores; go's output in $logf)"
  local tmp="$out.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"
  local start=$SECONDS
  # go's download and compile lines go to a log (minutes of them on a first run); its
  # end is shown when the build fails.
  if ! (cd "$here/$(src_of "$part")" && "$builder" "$tmp" "$@") >"$logf" 2>&1; then
    log "building $part failed; the end of $logf:"; tail -n 30 "$logf" >&2; rm -rf "$tmp"; return 1
  fi
  touch "$tmp/.complete"; rm -rf "$out"; mv "$tmp" "$out"
  log "built $part in $((SECONDS - start)) s"
  echo "$out"
}

go_build() { local out=$1 ldflags=$2; shift 2; go build -trimpath -ldflags "-s -w $ldflags" -o "$out/" "$@"; }

# build_part PART VERSION LDFLAGS PKG... : go build the packages into the part's cache folder
build_part() { local part=$1 version=$2; shift 2; cached_part "$part" "$version" go_build "$@"; }

# k8s_ldflags: stamp the version as upstream's hack/lib/version.sh does, so clients
# (and the e2e framework's version checks) see a real version.
k8s_ldflags() {
  local v=${K8S_VERSION#v} major minor date ld=""
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  printf '%s' "$ld"
}

build_k8s() {
  build_part k8s "$K8S_VERSION" "$(k8s_ldflags)" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
}
# The upstream e2e suite for the conformance runs (conformance/run.sh): e2e.test is a
# test binary, so `go test -c`; ginkgo is the CLI at the version k8s.io/kubernetes
# pins (it runs e2e.test in parallel processes); agnhost is the specs' main test
# image's binary. Built with cgo like e2e.test, so its packages come from the same
# build cache (CGO_ENABLED=0 recompiled all ~900 of them: minutes); conformance/
# images.sh copies the C libraries it links into its image.
go_build_e2e() {
  local out=$1 ld; ld=$(k8s_ldflags)
  # -vet=off: vet on upstream code tells us nothing and costs minutes here.
  # Chained with &&: cached_part calls this inside `if !`, where set -e does not hold.
  go test -c -vet=off -trimpath -ldflags "-s -w $ld" -o "$out/e2e.test" k8s.io/kubernetes/test/e2e &&
    go build -trimpath -ldflags "-s -w" -o "$out/" github.com/onsi/ginkgo/v2/ginkgo &&
    go build -trimpath -ldflags "-s -w" -o "$out/" k8s.io/kubernetes/test/images/agnhost
}
build_e2e() { cached_part e2e "$K8S_VERSION" go_build_e2e; }
# The reference node (issue 18): the kubelet from the control plane's own module and
# version, stamped the same way (a part of its own, so the control plane's cache stays).
build_kubelet() { build_part kubelet "$K8S_VERSION" "$(k8s_ldflags)" k8s.io/kubernetes/cmd/kubelet; }
# ... and its runtime: containerd, its runc shim and ctr (static: no cgo, no btrfs or
# devmapper snapshotters, which need C headers; the reference uses overlayfs), and the
# CNI plugins it needs (bridge, host-local, portmap, loopback). runc is the machine's
# (Debian's, which docker.io brings).
go_build_reference() {
  local out=$1 v="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION -X github.com/containerd/containerd/v2/version.Revision=$CONTAINERD_VERSION"
  CGO_ENABLED=0 go build -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "-s -w $v" -o "$out/" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr &&
    mkdir -p "$out/cni" &&
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" -o "$out/cni/" \
      github.com/containernetworking/plugins/plugins/main/bridge github.com/containernetworking/plugins/plugins/main/loopback \
      github.com/containernetworking/plugins/plugins/ipam/host-local github.com/containernetworking/plugins/plugins/meta/portmap
}
build_reference() { cached_part reference "$CONTAINERD_VERSION-cni-$CNI_PLUGINS_VERSION" go_build_reference; }
# The bench's runtime scenario times containerd alone through the CRI with it
# (reference/critime): a part of its own, versioned by its source, so a change to it
# does not rebuild containerd.
build_critime() { build_part critime "src-$(sha256sum "$here/reference/critime/main.go" | cut -c1-12)" "" ./critime; }
build_etcd()   { build_part etcd "$ETCD_VERSION" "" go.etcd.io/etcd/server/v3; }
build_nats()   { build_part nats "$NATS_VERSION" "" github.com/nats-io/nats-server/v2; }
build_jaeger() { build_part jaeger "$JAEGER_VERSION" "" github.com/jaegertracing/jaeger/cmd/jaeger; }
build_registry() { build_part registry "$REGISTRY_VERSION" "" github.com/distribution/distribution/v3/cmd/registry ./htpasswd; }
# docker compose v2 as the `docker-compose` CLI plugin (Debian has only 1.29); its
# main package is .../cmd, so the binary is named cmd: the lab installs it as a plugin.
build_compose() { build_part compose "$COMPOSE_VERSION" "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" github.com/docker/compose/v2/cmd; }

# metrics-server (kubectl top): its version stamped as its Makefile does.
build_metrics_server() { build_part metrics-server "$METRICS_SERVER_VERSION" "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" sigs.k8s.io/metrics-server/cmd/metrics-server; }

case "${1:-all}" in
  k8s) build_k8s ;; etcd) build_etcd ;; nats) build_nats ;; jaeger) build_jaeger ;; registry) build_registry ;;
  compose) build_compose ;; metrics-server) build_metrics_server ;; e2e) build_e2e ;;
  kubelet) build_kubelet ;; reference) build_reference ;; critime) build_critime ;;
  all) build_etcd; build_nats; build_registry; build_jaeger; build_compose; build_k8s; build_metrics_server ;;
  *) echo "usage: $0 [k8s|etcd|nats|jaeger|registry|compose|metrics-server|e2e|kubelet|reference|critime|all]" >&2; exit 2 ;;
esac
