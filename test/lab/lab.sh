#!/usr/bin/env bash
# Brings a real single-node Kubernetes control plane (no kubelet: splitlet is the
# node) up and down on this machine, with NATS JetStream and Jaeger beside it.
#
# Usage: test/lab/lab.sh up [--reference]|down|status|env|images|bus
#   up      start whatever is not running yet (idempotent; a second run is fast);
#           --reference (or LAB_REFERENCE=1) adds the reference node: the upstream
#           kubelet on containerd beside splitlet (reference.sh)
#   bus     only the bus: its identities and NATS with auth on (with a scratch LAB_DIR
#           and other LAB_NATS_*_PORTs it runs beside a lab without touching it)
#   images  only the host's prerequisites, Docker, and the local images of images.sh
#           (what test/lab/rehearse-fresh.sh runs on a fresh system)
#   down    stop everything the lab started and drop etcd/NATS state (keeps pki,
#           bin and kubeconfigs so the next up is quick)
#   status  one line per component; exit 0 when all run, 3 otherwise
#   env     shell `export` lines for tests: eval "$(test/lab/lab.sh env)"
#
# State lives in $LAB_DIR (default <repo>/.lab): bin/ (symlinks into the build
# cache), pki/, *.kubeconfig, jaeger.yaml, logs/<name>.log (+ .prev), pids/<name>.pid,
# etcd/, nats/, nats-auth/ (the bus's keys, its server config and each node's .creds;
# kept by `down`). Ports, node name and LAB_DIR come from LAB_* variables (see below).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

# --- settings (all overridable from the environment) ---------------------------
LAB_DIR=${LAB_DIR:-$root/.lab}
LAB_NODE_NAME=${LAB_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
LAB_APISERVER_PORT=${LAB_APISERVER_PORT:-6443}
LAB_ETCD_PORT=${LAB_ETCD_PORT:-2379}
LAB_ETCD_PEER_PORT=${LAB_ETCD_PEER_PORT:-2380}
LAB_KCM_PORT=${LAB_KCM_PORT:-10257}
LAB_SCHEDULER_PORT=${LAB_SCHEDULER_PORT:-10259}
LAB_NATS_PORT=${LAB_NATS_PORT:-4222}
LAB_NATS_MONITOR_PORT=${LAB_NATS_MONITOR_PORT:-8222}
LAB_OTLP_GRPC_PORT=${LAB_OTLP_GRPC_PORT:-4317}
LAB_OTLP_HTTP_PORT=${LAB_OTLP_HTTP_PORT:-4318}
LAB_JAEGER_QUERY_PORT=${LAB_JAEGER_QUERY_PORT:-16686}
# Not 5000: the Serial NodeConformance spec "pull from private registry with secret" runs
# agnhost's fake registry on the node's host port 5000 (conformance/README.md).
LAB_REGISTRY_PORT=${LAB_REGISTRY_PORT:-5050}
LAB_METRICS_SERVER_PORT=${LAB_METRICS_SERVER_PORT:-4443}
SPLITLET_CACHE=${SPLITLET_CACHE:-/var/cache/splitlet}   # where build.sh caches binaries

# Fixed cluster shape (the node agent and tests assume these).
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1          # first IP of SERVICE_CIDR: the `kubernetes` Service
SA_ISSUER=https://kubernetes.default.svc.cluster.local
PAUSE_IMAGE=splitlet-lab/pause:1
# The local registry's basic-auth user (Docker trusts 127.0.0.0/8 registries over HTTP).
REGISTRY_USER=lab REGISTRY_PASSWORD=lab-registry-secret

# Start order; `down` stops in reverse. dockerd is handled apart (first up, last down).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler nats-server registry jaeger metrics-server)

LAB_DIR=$(realpath -m "$LAB_DIR")   # absolute: it ends up in daemons' argv and in `env`
BIN=$LAB_DIR/bin PKI=$LAB_DIR/pki LOGS=$LAB_DIR/logs PIDS=$LAB_DIR/pids
APISERVER_URL=https://127.0.0.1:$LAB_APISERVER_PORT
ADMIN_KC=$LAB_DIR/admin.kubeconfig
NODE_KC=$LAB_DIR/node.kubeconfig
RESTART_ALL=0   # set when certs/kubeconfigs were rewritten: running processes hold stale ones (stop_for_new_certs)

log() { printf '[lab] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=reference.sh
source "$here/reference.sh"

# --- process bookkeeping ----------------------------------------------------------

pidfile() { echo "$PIDS/$1.pid"; }

# pid_of NAME -> pid of the lab's NAME process if alive, else fails. The process's
# argv[0] must end in /NAME, so a recycled pid never makes us kill a stranger.
pid_of() {
  local f; f=$(pidfile "$1"); [[ -f $f ]] || return 1
  local pid arg0; pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  arg0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1) || return 1
  [[ ${arg0##*/} == "$1" ]] || return 1
  echo "$pid"
}

# same_cmdline PID ARGS... : is PID running exactly ARGS? (a changed port/flag => restart)
same_cmdline() {
  local pid=$1; shift
  [[ "$(tr '\0' '\n' <"/proc/$pid/cmdline")" == "$(printf '%s\n' "$@")" ]]
}

# spawn NAME CMD... : start CMD detached from the caller. setsid + nohup so it outlives
# this shell; every std fd (and the lock fd 9) redirected so a caller reading our
# output (npm test, CI) never waits on a pipe a daemon still holds. argv[0] must be
# .../NAME (see pid_of). The previous log is kept as NAME.log.prev.
spawn() {
  local name=$1; shift
  local logf=$LOGS/$name.log
  [[ -f $logf ]] && mv -f "$logf" "$logf.prev"
  setsid nohup "$@" >"$logf" 2>&1 </dev/null 9>&- &
  echo $! >"$(pidfile "$name")"
}

# proc_running PID: alive and not a zombie. Our daemons are reparented to PID 1, and
# an init that reaps lazily (this VM's reaps every ~2 s) leaves an exited daemon
# answering `kill -0` for a while.
proc_running() {
  local st
  st=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

# stop NAME [TIMEOUT]: SIGTERM, wait up to TIMEOUT s (default 10), then SIGKILL.
stop() {
  local name=$1 timeout=${2:-10} pid
  if pid=$(pid_of "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while proc_running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if proc_running "$pid"; then
      log "$name did not exit in ${timeout} s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while proc_running "$pid"; do sleep 0.1; done
    fi
  fi
  rm -f "$(pidfile "$name")"
}

# wait_healthy NAME TIMEOUT CHECK... : poll CHECK until it passes; fail fast if the
# process dies, and on failure show the end of its log.
wait_healthy() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout)) start=$SECONDS
  local pid; pid=$(<"$(pidfile "$name")")
  until "$@" >/dev/null 2>&1; do
    # Alive by pid, not pid_of: just after spawn argv[0] may still be setsid's or nohup's.
    if ! proc_running "$pid"; then
      log "$name exited during startup; last 40 lines of $LOGS/$name.log:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "$name not healthy after ${timeout} s; last 40 lines of $LOGS/$name.log:"
      tail -n 40 "$LOGS/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
  log "$name healthy ($((SECONDS - start)) s)"
}

# port_busy PORT -> prints the listener if something listens on TCP PORT
port_busy() { ss -Hltnp "( sport = :$1 )" 2>/dev/null | grep .; }

# ensure NAME TIMEOUT "PORTS" CHECK -- CMD... : make NAME run CMD and pass CHECK.
# A live process with the same command line that passes CHECK is left alone (the
# fast path of a second `up`); a changed command line or a failing check restart it.
ensure() {
  local name=$1 timeout=$2 ports=$3 check=$4; shift 5
  local pid
  if pid=$(pid_of "$name"); then
    if ! same_cmdline "$pid" "$@"; then log "$name: settings changed, restarting"; stop "$name"
    elif $check >/dev/null 2>&1; then log "$name already running (pid $pid)"; return
    else log "$name running but unhealthy, restarting"; stop "$name"
    fi
  fi
  rm -f "$(pidfile "$name")"
  local p busy
  for p in $ports; do
    if busy=$(port_busy "$p"); then die "$name: port $p is taken by a process the lab did not start: $busy"; fi
  done
  log "starting $name"
  spawn "$name" "$@"
  wait_healthy "$name" "$timeout" "$check"
}

# --- health checks ---------------------------------------------------------------

curl_local() { curl -sf --noproxy '*' --max-time 3 "$@"; }
etcd_ok() {
  curl_local --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key" \
    "https://127.0.0.1:$LAB_ETCD_PORT/health" | grep -q '"health":"true"'
}
apiserver_ok() { [[ "$("$BIN/kubectl" --kubeconfig "$ADMIN_KC" --request-timeout=3s get --raw /readyz 2>/dev/null)" == ok ]]; }
kcm_ok()       { [[ "$(curl_local -k "https://127.0.0.1:$LAB_KCM_PORT/healthz")" == ok ]]; }
scheduler_ok() { [[ "$(curl_local -k "https://127.0.0.1:$LAB_SCHEDULER_PORT/healthz")" == ok ]]; }
nats_ok()      { curl_local "http://127.0.0.1:$LAB_NATS_MONITOR_PORT/healthz" >/dev/null; }
registry_ok()  { [[ "$(curl -s --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LAB_REGISTRY_PORT/v2/")" == 401 ]]; }
jaeger_ok()    { curl_local "http://127.0.0.1:$LAB_JAEGER_QUERY_PORT/api/services" >/dev/null; }
# (Bounded: a wedged engine answers nothing, and a check must not hang `up` or `down`.)
docker_ok()    { timeout 20 docker info >/dev/null 2>&1; }
metrics_server_ok() { [[ "$(curl_local --cacert "$PKI/ca.crt" --resolve "metrics-server.kube-system.svc:$LAB_METRICS_SERVER_PORT:$(host_ip)" "https://metrics-server.kube-system.svc:$LAB_METRICS_SERVER_PORT/livez")" == ok ]]; }

# check_of NAME -> the health check function for a component
check_of() {
  case $1 in
    etcd) echo etcd_ok ;; kube-apiserver) echo apiserver_ok ;; kube-controller-manager) echo kcm_ok ;;
    kube-scheduler) echo scheduler_ok ;; nats-server) echo nats_ok ;; jaeger) echo jaeger_ok ;; registry) echo registry_ok ;;
    metrics-server) echo metrics_server_ok ;; dockerd) echo docker_ok ;;
  esac
}

# --- 1. docker -------------------------------------------------------------------

# engine_dir -> a folder holding Debian trixie's dockerd and docker-proxy at
# DOCKERD_VERSION, fetched once into the cache, or nothing when they cannot be had.
# Bookworm's dockerd (20.10.24) deadlocks in libnetwork when many containers exit at
# once: each exit's sandbox leave takes a network's lock then the controller's, while
# libnetwork's watch loop deleting an endpoint takes them the other way round
# (moby/moby#46661; fixed in 20.10.27 by moby/libnetwork#2679). From then on every
# start, exit and inspect waits while `docker ps` and `_ping` still answer: it happened
# here under the soak bench and under 100 pods deleted at once. The package comes
# through apt with a configuration of its own (trixie's index in the cache, signed by
# Debian's archive key): the machine's apt sources are not touched, and it is unpacked,
# not installed. Its other parts (containerd, runc, tini, the CLI) are bookworm's.
engine_dir() {
  local out=$SPLITLET_CACHE/bin/dockerd-$DOCKERD_VERSION apt=$SPLITLET_CACHE/apt-trixie lock deb
  mkdir -p "$SPLITLET_CACHE/bin"
  exec {lock}>"$out.lock"
  flock "$lock"
  if [[ ! -f $out/.complete ]]; then
    log "fetching Debian trixie's dockerd $DOCKERD_VERSION (first time only)"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' >"$apt/sources.list"
    local opts=(-q -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$apt/lists"
      -o "Dir::Cache=$apt/cache" -o Dir::State::Status=/dev/null -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
    local tmp=$out.tmp.$$ version
    rm -rf "$tmp" && mkdir -p "$tmp"
    if apt-get "${opts[@]}" update >"$LOGS/engine-fetch.log" 2>&1 \
      && version=$(apt-cache "${opts[@]}" policy docker.io | sed -n 's/^ *Candidate: //p') \
      && [[ $version == "$DOCKERD_VERSION"+* ]] \
      && (cd "$tmp" && apt-get "${opts[@]}" download "docker.io=$version") >>"$LOGS/engine-fetch.log" 2>&1 \
      && deb=$(ls "$tmp"/docker.io_*.deb) && dpkg-deb -x "$deb" "$tmp/pkg" \
      && cp "$tmp/pkg/usr/sbin/dockerd" "$tmp/pkg/usr/sbin/docker-proxy" "$tmp/" && "$tmp/dockerd" --version >/dev/null; then
      rm -rf "$tmp/pkg" "$deb"; touch "$tmp/.complete"; rm -rf "$out"; mv "$tmp" "$out"
      log "dockerd ${version:-?} in $out"
    else
      rm -rf "$tmp"
      log "WARNING: cannot fetch trixie's docker.io $DOCKERD_VERSION (trixie has ${version:-nothing}; $LOGS/engine-fetch.log); the machine's dockerd it is"
    fi
  fi
  flock -u "$lock"
  [[ -f $out/.complete ]] && echo "$out"
  return 0
}

# Use a working Docker as is. Otherwise install Debian's docker.io if needed (its CLI,
# containerd and runc) and run the lab's engine (engine_dir; else the machine's dockerd)
# ourselves; its pidfile is the record that `down` may stop it.
ensure_docker() {
  local pid
  if docker_ok; then
    if pid=$(pid_of dockerd); then log "docker up (started by the lab, pid $pid)"; else log "docker up (not managed by the lab)"; fi
    return
  fi
  # scripts/prereqs.sh (run by cmd_up) installed Debian's docker.io where it was missing.
  # A dockerd the lab started that no longer answers (wedged) goes first; no pidfile: nothing to stop.
  stop dockerd 30
  local engine; engine=$(engine_dir)
  if [[ -n $engine ]]; then
    log "starting dockerd ($engine)"
    # Its own docker-proxy first on the PATH it searches.
    spawn dockerd env PATH="$engine:$PATH" "$engine/dockerd"
  else
    log "starting dockerd ($(command -v dockerd))"
    spawn dockerd "$(command -v dockerd)"
  fi
  wait_healthy dockerd 60 docker_ok
}

# --- 2. binaries -----------------------------------------------------------------

# build PART VERSION -> cache folder holding PART's binaries (build.sh waits, by a
# lock of the part's, for a build of the same part another build.sh is running)
build() { "$here/build.sh" "$1"; }

# link DIR NAME CANDIDATE...: point $BIN/NAME at the first DIR/CANDIDATE that exists
# (the link is only touched when it changes).
link() {
  local dir=$1 name=$2 c; shift 2
  for c in "$@"; do
    if [[ -x $dir/$c ]]; then
      [[ "$(readlink "$BIN/$name" 2>/dev/null)" == "$dir/$c" ]] || ln -sfn "$dir/$c" "$BIN/$name"
      return
    fi
  done
  die "no $name binary in $dir (looked for: $*)"
}

ensure_binaries() {
  mkdir -p "$BIN"
  local k8s etcd nats jaeger registry compose ms b
  etcd=$(build etcd "$ETCD_VERSION")
  nats=$(build nats "$NATS_VERSION")
  registry=$(build registry "$REGISTRY_VERSION")
  jaeger=$(build jaeger "$JAEGER_VERSION")
  compose=$(build compose "$COMPOSE_VERSION")
  k8s=$(build k8s "$K8S_VERSION")
  ms=$(build metrics-server "$METRICS_SERVER_VERSION")
  for b in kubectl kube-apiserver kube-controller-manager kube-scheduler; do link "$k8s" "$b" "$b"; done
  # go build names a binary after its package path; the Go toolchain here drops a
  # trailing major-version element (/v3 -> "server", /v2 -> "nats-server"), older
  # ones keep it ("v3", "v2"). Accept either.
  link "$etcd" etcd server v3 etcd
  link "$nats" nats-server nats-server v2
  link "$jaeger" jaeger jaeger
  link "$registry" registry registry
  link "$registry" registry-htpasswd htpasswd
  link "$compose" docker-compose cmd
  link "$ms" metrics-server metrics-server
  install_compose_plugin "$compose/cmd"
}

# install_compose_plugin BINARY: `docker compose` (v2) for this machine, whose Debian
# packages have only docker-compose 1.29: the CLI plugin in the system-wide plugin
# folder the docker CLI searches. A plugin installed there by anything else is left alone.
install_compose_plugin() {
  local dir=/usr/local/lib/docker/cli-plugins current
  current=$(readlink "$dir/docker-compose" 2>/dev/null || true)
  if [[ -e $dir/docker-compose && $current != "$SPLITLET_CACHE"/bin/compose-* ]]; then
    log "$dir/docker-compose is not the lab's: left as it is"; return
  fi
  [[ $current == "$1" ]] && return
  mkdir -p "$dir" && ln -sfn "$1" "$dir/docker-compose" && log "docker compose: $dir/docker-compose -> $1"
}

# --- 3. PKI ----------------------------------------------------------------------

host_ip() {
  if [[ -n ${LAB_HOST_IP:-} ]]; then echo "$LAB_HOST_IP"; return; fi
  local ip; ip=$(ip route get 1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}')
  echo "${ip:-127.0.0.1}"
}

new_key() { (umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null); }

# ensure_ca NAME CN: a self-signed CA NAME.crt/NAME.key, renewed a week before expiry
# (every leaf it signed then fails `openssl verify` in issue_by and is reissued).
ensure_ca() {
  local crt=$PKI/$1.crt key=$PKI/$1.key
  if [[ -f $crt && -f $key ]] && openssl x509 -in "$crt" -noout -checkend $((7 * 86400)) >/dev/null; then
    return
  fi
  log "generating CA $1"
  new_key "$key"
  openssl req -x509 -new -key "$key" -sha256 -days 365 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$crt"
  RESTART_ALL=1
}

# issue_by CA NAME SUBJECT USAGE [SANS]: a leaf cert NAME.crt/NAME.key signed by CA.
# USAGE is server, client or peer (both). Regenerated when missing, not signed by the
# current CA, expiring within a day, or when its subject/SANs changed (e.g. a new
# host IP); NAME.spec records what it was made for.
issue_by() {
  local ca=$PKI/$1 name=$2 subj=$3 usage=$4 sans=${5:-}
  local crt=$PKI/$name.crt key=$PKI/$name.key spec="$1|$subj|$usage|$sans"
  if [[ -f $crt && -f $key && "$(cat "$PKI/$name.spec" 2>/dev/null)" == "$spec" ]] &&
    openssl verify -CAfile "$ca.crt" "$crt" >/dev/null 2>&1 &&
    openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null; then
    return
  fi
  log "generating certificate $name ($subj)"
  local eku
  case $usage in server) eku=serverAuth ;; client) eku=clientAuth ;; peer) eku=serverAuth,clientAuth ;; esac
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [[ -z $sans ]] || echo "subjectAltName=$sans"
  } >"$ext"
  new_key "$key"
  openssl req -new -key "$key" -subj "$subj" |
    openssl x509 -req -CA "$ca.crt" -CAkey "$ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -days 365 -sha256 -extfile "$ext" -out "$crt" 2>/dev/null
  rm -f "$ext"
  echo "$spec" >"$PKI/$name.spec"
  RESTART_ALL=1
}
issue() { issue_by ca "$@"; }   # the lab CA signs everything but the front proxy

# no_restart CMD...: run CMD without flagging a control-plane restart, for the
# credentials only kubectl, tests and the node agent use (admin, node).
no_restart() { local keep=$RESTART_ALL; "$@"; RESTART_ALL=$keep; }

ensure_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  ensure_ca ca splitlet-lab-ca
  # A separate CA for the aggregation layer's front proxy, as kubeadm does: without
  # --requestheader-client-ca-file the controller-manager and scheduler log an error
  # about it forever, and reusing the lab CA would let every lab client cert (the
  # node's too) impersonate anyone through X-Remote-User headers.
  ensure_ca front-proxy-ca splitlet-lab-front-proxy-ca
  issue_by front-proxy-ca front-proxy-client "/CN=front-proxy-client" client
  local ip host sans
  ip=$(host_ip); host=$(hostname)
  issue etcd-server "/CN=etcd-server" peer "IP:127.0.0.1,DNS:localhost"
  issue apiserver-etcd-client "/CN=kube-apiserver-etcd-client" client
  # SANs: every name a client may use for the API server, inside or outside pods.
  sans=$(printf '%s\n' IP:127.0.0.1 DNS:localhost "IP:$ip" "IP:$SERVICE_IP" DNS:kubernetes \
    DNS:kubernetes.default DNS:kubernetes.default.svc DNS:kubernetes.default.svc.cluster.local \
    "DNS:$host" "DNS:${host,,}" | awk '!seen[$0]++' | paste -sd, -)
  issue apiserver "/CN=kube-apiserver" server "$sans"
  no_restart issue admin "/O=system:masters/CN=kubernetes-admin" client
  issue kube-controller-manager "/CN=system:kube-controller-manager" client
  issue kube-scheduler "/CN=system:kube-scheduler" client
  # The API server's identity toward kubelets (node-api): no group, only what the binding
  # to system:kubelet-api-admin gives it (ensure_kubelet_api_admin), not system:masters.
  issue apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" client
  # metrics-server: serving as the aggregator dials it (the Service's DNS name), and its
  # identity toward the API server and the kubelets (node-api authorizes nodes/metrics).
  no_restart issue metrics-server "/CN=metrics-server" server "DNS:metrics-server.kube-system.svc,IP:$ip,IP:127.0.0.1"
  no_restart issue metrics-server-client "/CN=system:metrics-server" client
  # Named by node name so a new LAB_NODE_NAME gets its own identity.
  no_restart issue "node-$LAB_NODE_NAME" "/O=system:nodes/CN=system:node:$LAB_NODE_NAME" client
  ensure_nats_pki
  if [[ ! -f $PKI/sa.key || ! -f $PKI/sa.pub ]]; then
    log "generating service-account key pair"
    (umask 077; openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null)
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
    RESTART_ALL=1
  fi
}

# --- 4. kubeconfigs --------------------------------------------------------------

# kubeconfig FILE USER CERT_NAME: rewritten only when missing, older than its cert or
# the CA, or pointing at another server/user (port or node name changed).
kubeconfig() {
  local file=$1 user=$2 crt=$PKI/$3.crt key=$PKI/$3.key
  if [[ -f $file && ! $crt -nt $file && ! $PKI/ca.crt -nt $file ]] &&
    grep -qxF "    server: $APISERVER_URL" "$file" && grep -qxF -- "- name: $user" "$file"; then
    return
  fi
  log "writing $(basename "$file")"
  local tmp=$file.tmp k=("$BIN/kubectl" config --kubeconfig "$file.tmp")
  rm -f "$tmp"
  "${k[@]}" set-cluster lab --server="$APISERVER_URL" --certificate-authority="$PKI/ca.crt" --embed-certs=true >/dev/null
  "${k[@]}" set-credentials "$user" --client-certificate="$crt" --client-key="$key" --embed-certs=true >/dev/null
  "${k[@]}" set-context lab --cluster=lab --user="$user" >/dev/null
  "${k[@]}" use-context lab >/dev/null
  chmod 600 "$tmp"; mv -f "$tmp" "$file"
  RESTART_ALL=1
}

ensure_kubeconfigs() {
  no_restart kubeconfig "$ADMIN_KC" kubernetes-admin admin
  no_restart kubeconfig "$NODE_KC" "system:node:$LAB_NODE_NAME" "node-$LAB_NODE_NAME"
  no_restart kubeconfig "$LAB_DIR/metrics-server.kubeconfig" system:metrics-server metrics-server-client
  kubeconfig "$LAB_DIR/controller-manager.kubeconfig" system:kube-controller-manager kube-controller-manager
  kubeconfig "$LAB_DIR/scheduler.kubeconfig" system:kube-scheduler kube-scheduler
}

# --- 5-9. processes --------------------------------------------------------------

# Processes that read certs/kubeconfigs only at start. When ensure_pki/kubeconfigs
# rewrote any, stop the running ones (dependents first, so the API server does not
# hang on a vanished etcd) and let the start steps bring them back.
PKI_USERS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
stop_for_new_certs() {
  ((RESTART_ALL)) || return 0
  local i
  for ((i = ${#PKI_USERS[@]} - 1; i >= 0; i--)); do
    if pid_of "${PKI_USERS[i]}" >/dev/null; then
      log "${PKI_USERS[i]}: certificates changed, restarting"; stop "${PKI_USERS[i]}"
    fi
  done
}

start_etcd() {
  local peer=https://127.0.0.1:$LAB_ETCD_PEER_PORT client=https://127.0.0.1:$LAB_ETCD_PORT
  mkdir -p "$LAB_DIR/etcd"; chmod 700 "$LAB_DIR/etcd"
  # --unsafe-no-fsync: the data is thrown away on `down`, and fsync latency on a VM
  # disk would otherwise slow every API write of the tests.
  ensure etcd 30 "$LAB_ETCD_PORT $LAB_ETCD_PEER_PORT" etcd_ok -- "$BIN/etcd" \
    --name=lab --data-dir="$LAB_DIR/etcd" \
    --listen-client-urls="$client" --advertise-client-urls="$client" \
    --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" \
    --initial-cluster="lab=$peer" --initial-cluster-state=new --initial-cluster-token=splitlet-lab \
    --cert-file="$PKI/etcd-server.crt" --key-file="$PKI/etcd-server.key" \
    --trusted-ca-file="$PKI/ca.crt" --client-cert-auth=true \
    --peer-cert-file="$PKI/etcd-server.crt" --peer-key-file="$PKI/etcd-server.key" \
    --peer-trusted-ca-file="$PKI/ca.crt" --peer-client-cert-auth=true \
    --unsafe-no-fsync=true
}

# --kubelet-preferred-address-types as kubeadm sets it: the node's InternalIP first. The
# default puts Hostname first, and a host name that resolves to loopback (this machine's
# /etc/hosts) makes nodes/<n>/proxy refuse with "address not allowed".
start_apiserver() {
  ensure kube-apiserver 120 "$LAB_APISERVER_PORT" apiserver_ok -- "$BIN/kube-apiserver" \
    --advertise-address="$(host_ip)" --secure-port="$LAB_APISERVER_PORT" \
    --etcd-servers="https://127.0.0.1:$LAB_ETCD_PORT" --etcd-cafile="$PKI/ca.crt" \
    --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer="$SA_ISSUER" --api-audiences="$SA_ISSUER" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true
}

# The API server's kubelet client (--kubelet-client-certificate, user
# kube-apiserver-kubelet-client) may do what system:kubelet-api-admin allows on the
# kubelet API: logs, exec, port-forward, stats. node-api asks the API server (a
# SubjectAccessReview) for every request, so this binding is what lets them through.
# The API server verifies the node in turn (--kubelet-certificate-authority): the lab CA
# is the controller-manager's signer (--cluster-signing-cert-file), so it signed the
# kubelet-serving certificate node-api serves.
ensure_kubelet_api_admin() {
  "$BIN/kubectl" --kubeconfig "$ADMIN_KC" apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: lab:kube-apiserver-kubelet-api-admin
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client }
YAML
}

start_controller_manager() {
  local kc=$LAB_DIR/controller-manager.kubeconfig
  ensure kube-controller-manager 60 "$LAB_KCM_PORT" kcm_ok -- "$BIN/kube-controller-manager" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --use-service-account-credentials=true --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$LAB_KCM_PORT"
}

start_scheduler() {
  local kc=$LAB_DIR/scheduler.kubeconfig
  ensure kube-scheduler 60 "$LAB_SCHEDULER_PORT" scheduler_ok -- "$BIN/kube-scheduler" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$LAB_SCHEDULER_PORT"
}

# NATS serves TLS with a certificate of the lab CA (the services verify it with
# SPLITLET_NATS_CA); a new certificate restarts nats-server only, not the control plane.
NATS_CERT_CHANGED=0
ensure_nats_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  ensure_ca ca splitlet-lab-ca
  local before; before=$(stat -c %Y "$PKI/nats-server.crt" 2>/dev/null || echo none)
  no_restart issue nats-server "/CN=nats-server" server "IP:127.0.0.1,DNS:localhost"
  [[ "$(stat -c %Y "$PKI/nats-server.crt")" == "$before" ]] || NATS_CERT_CHANGED=1
}

# The bus's identities (libs/bus-auth, tools/bus-creds): the operator and account keys
# are made once and kept 0600 in $NATS_AUTH; the server trusts them through auth.conf;
# the lab node's services get one .creds file each. Tests mint their own nodes' files
# with the same account key (libs/testing reads LAB_NATS_AUTH_DIR).
NATS_AUTH=$LAB_DIR/nats-auth
ensure_bus_auth() {
  "$root/tools/bus-creds" init --state "$NATS_AUTH" --server-config "$NATS_AUTH/auth.conf" >&2
  "$root/tools/bus-creds" mint --state "$NATS_AUTH" --node "$LAB_NODE_NAME" >/dev/null
  log "bus identities: $NATS_AUTH/creds/$(lab_node_token)/<service>.creds"
}
lab_node_token() { echo "${LAB_NODE_NAME//./_}"; }

# Auth on: operator mode, anonymous connections refused (auth.conf from ensure_bus_auth);
# TLS with the lab CA's certificate (ensure_nats_pki). The monitor port stays HTTP.
start_nats() {
  mkdir -p "$LAB_DIR/nats"
  # A store from a lab whose NATS ran without accounts ($G, the global account) cannot
  # be recovered in operator mode and keeps /healthz failing: that lab's streams and
  # buckets are dropped (as `down` drops them), once.
  if [[ -d "$LAB_DIR/nats/jetstream/\$G" ]]; then
    log "nats-server: dropping the JetStream store of the global account (a lab from before the bus's auth)"
    stop nats-server
    rm -rf "$LAB_DIR/nats/jetstream/\$G"
  fi
  if ((NATS_CERT_CHANGED)) && pid_of nats-server >/dev/null; then log "nats-server: certificate changed, restarting"; stop nats-server; fi
  # TLS in the config rather than --tls flags: only there can the handshake be given
  # longer than the 2 s default. A service starting on a loaded 2-core host can take
  # longer than that to answer; the server then hangs up and the service starts over.
  # (auth.conf gives the CONNECT after it 10 s likewise; a reload, SIGHUP, reads both.)
  cat >"$NATS_AUTH/server.conf" <<CONF
include auth.conf
tls {
  cert_file: "$PKI/nats-server.crt"
  key_file: "$PKI/nats-server.key"
  timeout: 10
}
CONF
  ensure nats-server 30 "$LAB_NATS_PORT $LAB_NATS_MONITOR_PORT" nats_ok -- "$BIN/nats-server" \
    -c "$NATS_AUTH/server.conf" -js -sd "$LAB_DIR/nats" -a 127.0.0.1 -p "$LAB_NATS_PORT" -m "$LAB_NATS_MONITOR_PORT"
}

# A local image registry (distribution) with basic auth, so that tests pull real
# images: imagePullSecrets, pull policies, ErrImagePull for an image it lacks.
start_registry() {
  mkdir -p "$LAB_DIR/registry"
  # bcrypt salts differ each time: keep the file (and the running registry) while the user is the same.
  if [[ "$(cut -d: -f1 "$LAB_DIR/registry/htpasswd" 2>/dev/null)" != "$REGISTRY_USER" ]]; then
    "$BIN/registry-htpasswd" "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$LAB_DIR/registry/htpasswd"
  fi
  cat >"$LAB_DIR/registry/config.yml" <<EOF
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $LAB_DIR/registry/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$LAB_REGISTRY_PORT }
auth: { htpasswd: { realm: splitlet-lab, path: $LAB_DIR/registry/htpasswd } }
EOF
  ensure registry 30 "$LAB_REGISTRY_PORT" registry_ok -- "$BIN/registry" serve "$LAB_DIR/registry/config.yml"
}

# Jaeger v2 (an OpenTelemetry Collector build). Without --config it runs an embedded
# all-in-one config that also opens ~10 fixed ports (zipkin 9411, jaeger thrift/grpc,
# sampling 5778/5779, health 13133, metrics 8888, ...), which would clash with a second
# lab or anything else on those ports. So the lab writes a minimal config of its own:
# memory storage, OTLP in, query API/UI out (query gRPC one below the HTTP port, as
# upstream's 16685/16686), no self-metrics listener, and no self-tracing: the query
# service's own spans go to localhost:4317 through a separate exporter, which (a) puts
# a "jaeger" service in every test's /api/services and (b) makes SIGTERM hang ~10 s
# flushing to the OTLP port it has just closed.
jaeger_config() {
  cat <<EOF
# Written by test/lab/lab.sh; rewritten on every up.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      lab_memory:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: lab_memory
    enable_tracing: false
    http:
      endpoint: 127.0.0.1:$LAB_JAEGER_QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$((LAB_JAEGER_QUERY_PORT - 1))
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$LAB_OTLP_GRPC_PORT
      http:
        endpoint: 127.0.0.1:$LAB_OTLP_HTTP_PORT
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: lab_memory
EOF
}

start_jaeger() {
  local cfg=$LAB_DIR/jaeger.yaml
  if [[ "$(jaeger_config)" != "$(cat "$cfg" 2>/dev/null)" ]]; then
    jaeger_config >"$cfg"
    if pid_of jaeger >/dev/null; then log "jaeger: config changed, restarting"; stop jaeger; fi
  fi
  ensure jaeger 60 "$LAB_OTLP_GRPC_PORT $LAB_OTLP_HTTP_PORT $LAB_JAEGER_QUERY_PORT" jaeger_ok -- \
    "$BIN/jaeger" --config="$cfg"
}

# metrics-server v0.8 (kubectl top) as a process beside the control plane, served through
# the aggregation layer as in a cluster: APIService v1beta1.metrics.k8s.io -> Service
# kube-system/metrics-server, whose endpoint (an EndpointSlice) is this host (no selector,
# no kube-proxy: the API server routes to the endpoint, --enable-aggregator-routing). Its RBAC is upstream's
# manifest's (system:metrics-server, auth-delegator, the authentication reader). It scrapes
# each node's /metrics/resource at its InternalIP and kubelet port, verifying the serving
# certificate with the lab CA (the kubelet-serving signer).
start_metrics_server() {
  local ca; ca=$(base64 -w0 "$PKI/ca.crt")
  "$BIN/kubectl" --kubeconfig "$ADMIN_KC" apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: system:metrics-server }
rules:
  - { apiGroups: [""], resources: [nodes/metrics], verbs: [get] }
  - { apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: system:metrics-server }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:metrics-server }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: metrics-server:system:auth-delegator }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: metrics-server-auth-reader, namespace: kube-system }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: system:metrics-server }]
---
apiVersion: v1
kind: Service
metadata: { name: metrics-server, namespace: kube-system }
spec: { ports: [{ name: https, port: 443, targetPort: $LAB_METRICS_SERVER_PORT }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: metrics-server-lab, namespace: kube-system, labels: { kubernetes.io/service-name: metrics-server } }
addressType: IPv4
endpoints: [{ addresses: ["$(host_ip)"], conditions: { ready: true } }]
ports: [{ name: https, port: $LAB_METRICS_SERVER_PORT, protocol: TCP }]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1beta1.metrics.k8s.io }
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: { name: metrics-server, namespace: kube-system, port: 443 }
  caBundle: $ca
YAML
  local kc=$LAB_DIR/metrics-server.kubeconfig
  ensure metrics-server 60 "$LAB_METRICS_SERVER_PORT" metrics_server_ok -- "$BIN/metrics-server" \
    --secure-port="$LAB_METRICS_SERVER_PORT" --bind-address="$(host_ip)" \
    --tls-cert-file="$PKI/metrics-server.crt" --tls-private-key-file="$PKI/metrics-server.key" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --kubelet-preferred-address-types=InternalIP --kubelet-use-node-status-port \
    --kubelet-certificate-authority="$PKI/ca.crt" --metric-resolution=15s
}

# --- commands --------------------------------------------------------------------

# Serialise up/down (parallel test workers may all call `up`). fd 9 is closed in
# every daemon we spawn so they never hold the lock.
take_lock() {
  mkdir -p "$LAB_DIR"
  exec 9>"$LAB_DIR/.lock"
  flock -n 9 || { log "another lab.sh up/down is running; waiting"; flock 9; }
}

ensure_prereqs() {
  # 9>&-: the prerequisites' package scripts may start daemons; they must not hold the lock.
  log "checking the host's prerequisites (scripts/prereqs.sh)"
  bash "$root/scripts/prereqs.sh" 9>&-
}

# engine: fetch the lab's Docker engine into the cache (what `up` and `images` do first
# when it is not there), failing when it cannot be had.
cmd_engine() {
  mkdir -p "$LOGS"
  local dir; dir=$(engine_dir)
  [[ -n $dir ]] || { log "no engine: $LOGS/engine-fetch.log"; exit 1; }
  log "the lab's engine: $dir"
}

cmd_images() {
  take_lock
  ensure_prereqs
  mkdir -p "$LOGS" "$PIDS"
  ensure_docker
  log "building local images"
  "$here/images.sh" >&2
}

cmd_bus() {
  take_lock
  mkdir -p "$LOGS" "$PIDS" "$BIN"
  link "$(build nats "$NATS_VERSION")" nats-server nats-server v2
  ensure_nats_pki
  ensure_bus_auth
  start_nats
  log "bus up: nats://127.0.0.1:$LAB_NATS_PORT, auth on (stop it: kill \$(cat $(pidfile nats-server)))"
}

cmd_up() {
  local t0=$SECONDS reference=0 arg
  for arg in "$@"; do
    case $arg in --reference) reference=1 ;; *) die "up: unknown option $arg (known: --reference)" ;; esac
  done
  [[ ${LAB_REFERENCE:-0} == 1 ]] && reference=1
  take_lock
  ensure_prereqs
  mkdir -p "$LOGS" "$PIDS"
  ensure_docker
  ensure_binaries
  ensure_pki
  ensure_kubeconfigs
  stop_for_new_certs
  start_etcd
  start_apiserver
  ensure_kubelet_api_admin
  start_controller_manager
  start_scheduler
  ensure_bus_auth
  start_nats
  start_registry
  start_jaeger
  start_metrics_server
  log "building local images"
  LAB_REGISTRY=127.0.0.1:$LAB_REGISTRY_PORT LAB_REGISTRY_USER=$REGISTRY_USER LAB_REGISTRY_PASSWORD=$REGISTRY_PASSWORD \
    "$here/images.sh" >&2
  "$here/compose-images.sh" "$BIN" >&2
  ((reference)) && start_reference
  log "up in $((SECONDS - t0)) s"
  cat >&2 <<EOF
[lab] ready:
[lab]   kubectl:  export KUBECONFIG=$ADMIN_KC   (binary: $BIN/kubectl)
[lab]   node:     $NODE_KC  (system:node:$LAB_NODE_NAME)
[lab]   apiserver $APISERVER_URL   etcd https://127.0.0.1:$LAB_ETCD_PORT
[lab]   nats      nats://127.0.0.1:$LAB_NATS_PORT (monitor http://127.0.0.1:$LAB_NATS_MONITOR_PORT), TLS (CA $PKI/ca.crt), auth on: $NATS_AUTH/creds/$(lab_node_token)/<service>.creds
[lab]   registry  127.0.0.1:$LAB_REGISTRY_PORT (user $REGISTRY_USER)
[lab]   metrics   metrics-server https://$(host_ip):$LAB_METRICS_SERVER_PORT (kubectl top)
[lab]   jaeger    OTLP grpc 127.0.0.1:$LAB_OTLP_GRPC_PORT, http http://127.0.0.1:$LAB_OTLP_HTTP_PORT, UI http://127.0.0.1:$LAB_JAEGER_QUERY_PORT
[lab]   test env: eval "\$($0 env)"    logs: $LOGS
EOF
  if ((reference)); then
    log "  reference node $REF_NODE: the kubelet $K8S_VERSION on containerd $CONTAINERD_VERSION (port $REF_KUBELET_PORT), kubeconfig $REF_KC"
  fi
}

# remove_lab_containers: containers labelled splitlet.dev/lab=true or carrying any
# io.kubernetes.* label (the node agent's pods); nothing else on this Docker.
# Each Docker call is bounded: an engine wedged on a container (seen under a soak's load:
# its libnetwork-setkey hook never answered) must not keep `down` from stopping it.
remove_lab_containers() {
  docker_ok || return 0
  local ids
  ids=$(timeout 60 docker ps -aq --no-trunc) || { log "docker did not list its containers; leaving them"; return 0; }
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086
  ids=$(timeout 60 docker inspect --format '{{$id := .Id}}{{range $k, $v := .Config.Labels}}{{printf "%s\t%s\t%s\n" $id $k $v}}{{end}}' $ids |
    awk -F'\t' '($2 == "splitlet.dev/lab" && $3 == "true") || $2 ~ /^io\.kubernetes\./ { print $1 }' | sort -u) || true
  [[ -n $ids ]] || return 0
  log "removing $(wc -l <<<"$ids") lab container(s)"
  # shellcheck disable=SC2086
  timeout 120 docker rm -f -v $ids >/dev/null || log "docker did not remove every lab container in 120 s; going on"
}

cmd_down() {
  take_lock
  mkdir -p "$PIDS"
  local f name i
  # The reference node first: its pods' containers and the Node, while the API server runs.
  stop_reference
  # Anything unexpected in pids/ (a component from a newer lab.sh) goes first.
  for f in "$PIDS"/*.pid; do
    [[ -f $f ]] || continue
    name=$(basename "$f" .pid)
    [[ $name == dockerd || " ${COMPONENTS[*]} " == *" $name "* ]] || stop "$name"
  done
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[i]}"; done
  remove_lab_containers
  # dockerd only has a pidfile if the lab started it; it may need longer to stop containers.
  stop dockerd 30
  rm -rf "$LAB_DIR/etcd" "$LAB_DIR/nats" "$LAB_DIR/registry"
  log "down (kept $BIN, $PKI and kubeconfigs)"
}

cmd_status() {
  local name pid all=0 state check
  if docker_ok; then
    if pid=$(pid_of dockerd); then state="running (started by the lab, pid $pid)"; else state="running (external)"; fi
  else state=stopped; all=3; fi
  printf '%-24s %s\n' docker "$state"
  for name in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$name"); then
      check=$(check_of "$name")
      if "$check" >/dev/null 2>&1; then state="running (pid $pid)"; else state="unhealthy (pid $pid)"; all=3; fi
    else state=stopped; all=3; fi
    printf '%-24s %s\n' "$name" "$state"
  done
  status_reference || all=3
  return $all
}

cmd_env() {
  local kv
  for kv in "KUBECONFIG_ADMIN=$ADMIN_KC" "LAB_NODE_KUBECONFIG=$NODE_KC" \
    "NATS_URL=nats://127.0.0.1:$LAB_NATS_PORT" "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$LAB_OTLP_HTTP_PORT" \
    "JAEGER_QUERY_URL=http://127.0.0.1:$LAB_JAEGER_QUERY_PORT" "LAB_NODE_NAME=$LAB_NODE_NAME" \
    "SPLITLET_PAUSE_IMAGE=$PAUSE_IMAGE" "LAB_REGISTRY=127.0.0.1:$LAB_REGISTRY_PORT" \
    "LAB_REGISTRY_USER=$REGISTRY_USER" "LAB_REGISTRY_PASSWORD=$REGISTRY_PASSWORD" \
    "LAB_NATS_AUTH_DIR=$NATS_AUTH" "LAB_NATS_CREDS_DIR=$NATS_AUTH/creds/$(lab_node_token)" \
    "SPLITLET_NATS_CA=$PKI/ca.crt" "LAB_REFERENCE_NODE_NAME=$REF_NODE" "LAB_REFERENCE_KUBECONFIG=$REF_KC"; do
    printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  images) cmd_images ;;
  engine) cmd_engine ;;
  bus) cmd_bus ;;
  *) echo "usage: $0 up [--reference]|down|status|env|images|engine|bus" >&2; exit 2 ;;
esac
