#!/usr/bin/env bash
# The host prerequisites of `npm start`, `npm test`, `npm run bench` and the lab:
# each is checked, and whatever is missing is installed from Debian's packages (on
# Debian, as root). Anywhere else it prints one line per missing part, with the
# Debian package that provides it, and exits 1.
#
# Usage: scripts/prereqs.sh [--check]   (--check: report only, install nothing)
#
# The machine itself must bring Go (>= the lab's go.mod files ask for: Debian's is
# too old) and Node.js with npm (any version that runs npm ci: the project's own
# Node.js 24 then comes from the npm registry); Node.js falls back to Debian's.
# test/lab/rehearse-fresh.sh proves this list complete on a debootstrapped Debian.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[prereqs] %s\n' "$*" >&2; }

# ok_* PART: does this machine have it? Each checks what the scripts really use.
has() { command -v "$1" >/dev/null 2>&1; }
ok_busybox() { [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; }   # static: copied into scratch images
ok_static_cc() {   # the pause image: gcc -static, then strip
  has gcc && has strip || return 1
  local t; t=$(mktemp -d)
  printf 'int main(void){return 0;}\n' >"$t/p.c"
  gcc -static -Os -o "$t/p" "$t/p.c" >/dev/null 2>&1 && "$t/p"; local rc=$?
  rm -rf "$t"; return $rc
}
ok_ca() { [[ -s /etc/ssl/certs/ca-certificates.crt ]]; }
ok_docker() { has docker && has dockerd; }
ok_iptables() { has iptables; }   # dockerd's networking
ok_node() { has node && has npm; }
npm_major() { npm --version 2>/dev/null | cut -d. -f1; }
ok_npm10() { ok_node && (($(npm_major) >= 10)); }
ok_cmds() { local c; for c in "$@"; do has "$c" || return 1; done; }

# PART | Debian package(s) | check | what needs it
PARTS=(
  "busybox (static)|busybox-static|ok_busybox|the lab's testbox and Node.js images (test/lab/images.sh)"
  "gcc -static, strip|gcc libc6-dev binutils|ok_static_cc|the lab's pause image"
  "make, bzip2|make bzip2|ok_cmds make bzip2|busybox 1.37 built from source for the conformance images (conformance/images.sh)"
  "CA certificates|ca-certificates|ok_ca|TLS to the package registries; copied into the Node.js image"
  "curl|curl|ok_cmds curl|the lab's health checks and registry push"
  "openssl|openssl|ok_cmds openssl|the lab's PKI"
  "ss, ip|iproute2|ok_cmds ss ip|the lab's port checks, the host IP"
  "flock, setsid, findmnt, mountpoint, mount|util-linux mount|ok_cmds flock setsid findmnt mountpoint mount umount losetup|the lab's locking and daemons, pod-sync's volume mounts"
  "mkfs.ext4|e2fsprogs|ok_cmds mkfs.ext4|the image garbage collection tests' small image filesystem (a loop-mounted file)"
  "ps, kill|procps|ok_cmds ps kill|the lab and the tests"
  "hostname|hostname|ok_cmds hostname|the lab's node name"
  "git|git|ok_cmds git|the contracts' breaking-change check"
  "iptables|iptables|ok_iptables|Docker's networking"
  "Docker Engine|docker.io|ok_docker|pods, the lab's images, compose mode"
  "Node.js and npm|nodejs npm|ok_node|npm ci (the project's Node.js 24 then comes from the npm registry)"
)

check_only=0
[[ ${1:-} == --check ]] && check_only=1

missing=() packages=()
for row in "${PARTS[@]}"; do
  IFS='|' read -r part pkgs check why <<<"$row"
  # shellcheck disable=SC2086
  if ! $check; then missing+=("$part|$pkgs|$why"); packages+=($pkgs); fi
done

# Go is not a Debian package here (Debian's is older than the lab's go.mod files need).
go_need=$(awk '$1 == "go" { print $2 }' "$root"/test/lab/*/go.mod | sort -V | tail -1)
go_problem=""
if ! has go; then
  go_problem="Go $go_need or newer is missing: install it from go.dev (Debian's golang is too old); the lab builds its control plane with it"
elif [[ "$(printf '%s\n' "$go_need" "$(go env GOVERSION | sed 's/^go//')" | sort -V | head -1)" != "$go_need" ]]; then
  go_problem="Go $(go env GOVERSION) is older than the lab's go.mod files need ($go_need): install a newer one from go.dev"
fi

npm_old=0
ok_node && ! ok_npm10 && npm_old=1

if ((${#missing[@]} == 0 && npm_old == 0)); then
  [[ -z $go_problem ]] || { log "MISSING: $go_problem"; exit 1; }
  exit 0
fi

for m in "${missing[@]}"; do
  IFS='|' read -r part pkgs why <<<"$m"
  log "missing: $part (Debian: $pkgs) — needed by $why"
done
((npm_old)) && log "missing: npm 10 or newer (npm $(npm --version) misreads the lock file) — npm install -g npm@10"
[[ -z $go_problem ]] || log "MISSING: $go_problem"

cannot=""
((check_only)) && cannot="--check given"
[[ -z $cannot && ! -f /etc/debian_version ]] && cannot="this is not Debian"
[[ -z $cannot && $(id -u) -ne 0 ]] && cannot="not root"
[[ -z $cannot ]] && ! has apt-get && cannot="no apt-get"
if [[ -n $cannot ]]; then
  log "cannot install them here ($cannot): install the packages above, then run this again"
  exit 1
fi

if ((${#packages[@]})); then
  log "installing from Debian: ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # 9>&-: a daemon a package's scripts might start must not inherit a caller's lock.
  apt-get update -q >&2 9>&-
  apt-get install -y -q --no-install-recommends "${packages[@]}" >&2 9>&-
  # Trust anchors added by the machine (/usr/local/share/ca-certificates) join the bundle.
  has update-ca-certificates && update-ca-certificates >/dev/null 2>&1 || true
fi
if ok_node && ! ok_npm10; then
  log "installing npm 10 from the npm registry (npm $(npm --version) is too old)"
  npm install -g --no-audit --no-fund --loglevel=error npm@10 >&2
  hash -r
fi

# Check again: a package that installed but did not give what it should is a failure here.
failed=0
for row in "${PARTS[@]}"; do
  IFS='|' read -r part pkgs check why <<<"$row"
  if ! $check; then log "still missing after install: $part (Debian: $pkgs)"; failed=1; fi
done
ok_node && ! ok_npm10 && { log "still too old after install: npm $(npm --version)"; failed=1; }
[[ -z $go_problem ]] || { log "MISSING: $go_problem"; failed=1; }
((failed == 0)) && log "all prerequisites present"
exit "$failed"
