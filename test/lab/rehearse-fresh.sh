#!/usr/bin/env bash
# Rehearses set-up on a really fresh system: a minimal Debian bookworm made by
# debootstrap (nothing but the base system), a copy of this checkout's files (git's
# tracked and untracked-but-not-ignored ones: no node_modules, no .lab), then
#   1. scripts/prereqs.sh          installs every host prerequisite from Debian's packages
#   2. scripts/setup.sh --deps-only npm ci, Node.js 24 from the npm registry
#   3. test/lab/lab.sh images       starts a Docker Engine inside the rehearsal and
#                                   builds every image of test/lab/images.sh
# A prerequisite that the scripts use but do not install fails step 1's final check
# or steps 2–3. Run it whenever set-up changes:  bash test/lab/rehearse-fresh.sh
#
# With --conformance, a step 5 makes what `npm test`'s quick NodeConformance subset
# needs, as a new machine's first `npm test` does: test/lab/build.sh e2e (e2e.test,
# ginkgo and agnhost from the Go module proxy, built inside the rehearsal with an empty
# build cache), busybox 1.37 from its source tarball, then conformance/images.sh with
# a Docker Engine of the rehearsal's own (offline, as step 3). On 2 cores, with
# other work beside it: e2e 384 s, the whole step 437 s (2026-12-05).
#
# With --reference, a step 4 brings up the reference node (issue 18) as its README
# command does, `lab.sh up --reference`, and runs a pod on it: the kubelet, containerd
# + CNI plugins and critime are built inside the rehearsal from the Go module proxy
# (on 2 cores: containerd + CNI 71 s, the kubelet 157 s; the whole rehearsal ~6
# minutes), and the node must turn Ready and run the pod. The
# control plane's binaries (etcd, Kubernetes, NATS, registry, Jaeger, compose,
# metrics-server: ~48 minutes to build, proven on a new machine by CI's own first run)
# are lent from this machine's cache; build them first with `lab.sh up` if it has none.
#
# What the machine itself brings is lent from the host, as a new machine of this kind
# has it: Go (/usr/local/go, read-only), and the host's extra CA certificates (this
# machine reaches the registries through a TLS-inspecting proxy). Node.js is NOT lent:
# prereqs.sh installs Debian's, which runs npm ci as the machine's own would.
# Runs as root (debootstrap, chroot, mounts); takes ~5–8 minutes, most of it apt and
# npm ci. The base system is debootstrapped once and kept as a tarball in
# $SPLITLET_CACHE/rehearsal/; every run unpacks it anew.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${SPLITLET_CACHE:-/var/cache/splitlet}
mirror=${REHEARSAL_MIRROR:-http://deb.debian.org/debian}
log() { printf '[rehearsal] %s\n' "$*" >&2; }
(($(id -u) == 0)) || { log "run as root (debootstrap, chroot, mounts)"; exit 1; }
reference=0 conformance=0
for arg in "$@"; do
  case $arg in --reference) reference=1 ;; --conformance) conformance=1 ;; *) log "unknown option $arg (known: --reference, --conformance)"; exit 2 ;; esac
done

command -v debootstrap >/dev/null || {
  log "installing debootstrap (the rehearsal's own tool)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2
}

base=$cache/rehearsal/bookworm-minbase.tar
if [[ ! -f $base ]]; then
  log "debootstrapping a minimal bookworm (once; kept in $base)"
  mkdir -p "$(dirname "$base")"
  tmp=$(mktemp -d /var/tmp/splitlet-debootstrap.XXXXXX)
  debootstrap --variant=minbase bookworm "$tmp" "$mirror" >&2
  tar -C "$tmp" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf "$tmp"
fi

sys=$(mktemp -d /var/tmp/splitlet-rehearsal.XXXXXX)
cleanup() {
  # Anything still mounted below the rehearsal (lazily: a dockerd may still hold it).
  local m
  for m in $(awk -v d="$sys" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$sys"
}
trap cleanup EXIT
log "unpacking the base system into $sys"
tar -C "$sys" -xf "$base"

log "copying the checkout (tracked and untracked-not-ignored files)"
mkdir -p "$sys/work/splitlet"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  (cd "$root" && xargs -0 tar --ignore-failed-read -cf - 2>/dev/null) | tar -C "$sys/work/splitlet" -xf -

# What a new machine of this kind brings: Go, and the extra CA certificates.
mkdir -p "$sys/usr/local/go" "$sys/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/* "$sys/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/apt/sources.list.d/* "$sys/etc/apt/sources.list.d/" 2>/dev/null && rm -f "$sys/etc/apt/sources.list" || true
cp /etc/resolv.conf "$sys/etc/resolv.conf"
# No service starts from a package's postinst inside the rehearsal (as in a container).
printf '#!/bin/sh\nexit 101\n' >"$sys/usr/sbin/policy-rc.d"; chmod +x "$sys/usr/sbin/policy-rc.d"

# in_sys [--net-private] SCRIPT: run SCRIPT in the rehearsal, in its own mount and pid
# namespaces (and, for the Docker step, its own network namespace: the rehearsal's
# dockerd makes its bridge and iptables rules there, not on the host).
in_sys() {
  local net=()
  [[ $1 == --net-private ]] && { net=(--net); shift; }
  unshare --mount --pid --fork "${net[@]}" --propagation private bash -euo pipefail -c '
    sys=$1; script=$2
    # Its root a mount point of its own: dockerd remounts / private (EINVAL otherwise).
    mount --bind "$sys" "$sys"
    mount -t proc proc "$sys/proc"
    mount --rbind /sys "$sys/sys"
    mount --rbind /dev "$sys/dev"
    mount -t tmpfs tmpfs "$sys/run"
    mount --bind -o ro /usr/local/go "$sys/usr/local/go"
    exec chroot "$sys" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt CI=true \
      /bin/bash -euo pipefail -c "cd /work/splitlet; $script"
  ' _ "$sys" "$*"
}

t0=$SECONDS
log "1. scripts/prereqs.sh (on a system that has none of them)"
in_sys 'bash scripts/prereqs.sh'
log "   took $((SECONDS - t0)) s"
t1=$SECONDS
log "2. scripts/setup.sh --deps-only (npm ci with the system's Node.js)"
in_sys 'bash scripts/setup.sh --deps-only'
log "   took $((SECONDS - t1)) s"
t2=$SECONDS
# Step 3 runs without a network; the engine it starts is fetched first, with the
# network, as `lab.sh up` does on a new machine (Debian trixie's dockerd: lab.sh, engine_dir).
log "3. test/lab/lab.sh engine, then lab.sh images (a Docker Engine of the rehearsal's own, every lab image)"
in_sys 'bash test/lab/lab.sh engine'
in_sys --net-private 'ip link set lo up; bash test/lab/lab.sh images 2>&1 | tee /tmp/images.log >&2; if grep WARNING /tmp/images.log; then exit 1; fi; docker version --format "engine {{.Server.Version}}" >&2; docker images --format "{{.Repository}}:{{.Tag}}" | sort; bash test/lab/lab.sh down >/dev/null 2>&1 || true'
log "   took $((SECONDS - t2)) s"
if ((reference)); then
  t3=$SECONDS
  log "4. lab.sh up --reference (the kubelet, containerd and CNI plugins built inside; the control plane lent)"
  mkdir -p "$sys/var/cache/splitlet/bin"
  for d in "$cache"/bin/*/; do
    case $(basename "$d") in kubelet-* | reference-* | critime-* | e2e-*) continue ;; esac
    [[ -f $d/.complete ]] && cp -a "$d" "$sys/var/cache/splitlet/bin/"
  done
  # The builds reach the Go module proxy as a new machine does (the host's network)...
  in_sys 'for p in reference kubelet critime; do bash test/lab/build.sh $p >/dev/null; done'
  # ...the lab runs in a network of its own with one interface (a veth end) and a
  # default route, as a machine has: the lab binds its host IP, and the kubelet takes
  # the node's address from that route.
  in_sys --net-private '
    ip link set lo up
    ip link add eth0 type veth peer name eth1; ip addr add 10.77.0.2/24 dev eth0; ip link set eth0 up; ip link set eth1 up
    ip route add default via 10.77.0.1 dev eth0
    trap "bash test/lab/lab.sh down >/dev/null 2>&1 || true" EXIT
    bash test/lab/lab.sh up --reference
    KC=.lab/admin.kubeconfig; k() { .lab/bin/kubectl --kubeconfig "$KC" "$@"; }
    node=$(k get nodes -o name | grep "/ref-")
    k wait --for=condition=Ready "$node" --timeout=120s
    k apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: { name: rehearsal-ref, namespace: default }
spec:
  nodeName: ${node#node/}
  tolerations: [{ key: splitlet.dev/reference, operator: Exists, effect: NoSchedule }]
  containers:
    - { name: main, image: splitlet-lab/testbox:1, imagePullPolicy: Never, command: [sh, -c, "echo ran on the reference node; sleep 3600"] }
YAML
    k wait --for=condition=Ready pod/rehearsal-ref --timeout=120s
    k get pod rehearsal-ref -o wide
    k logs rehearsal-ref
    k delete pod rehearsal-ref --wait=true --timeout=60s
  '
  log "   took $((SECONDS - t3)) s"
fi
if ((conformance)); then
  t5=$SECONDS
  log "5. test/lab/build.sh e2e, busybox from source, conformance/images.sh (the quick conformance subset's parts)"
  in_sys 'bash test/lab/build.sh e2e >/dev/null; bash conformance/images.sh --busybox'
  in_sys --net-private 'ip link set lo up; trap "bash test/lab/lab.sh down >/dev/null 2>&1 || true" EXIT
    bash test/lab/lab.sh images >/dev/null
    bash conformance/images.sh "$(bash test/lab/build.sh e2e)"
    docker images --format "{{.Repository}}:{{.Tag}}" | grep e2e-test-images | sort
    ls "$(bash test/lab/build.sh e2e)"'
  log "   took $((SECONDS - t5)) s"
fi
log "passed: a fresh bookworm got every prerequisite from the set-up and built the lab's images$( ((reference)) && echo ', and ran a pod on the reference node')$( ((conformance)) && echo ", and made the conformance subset's binaries and images") ($((SECONDS - t0)) s)"
