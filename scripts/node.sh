#!/usr/bin/env bash
# The node's six services in the background: `up`, `down`, `status`.
# Against $KUBECONFIG when set, else the lab's node identity (.lab/node.kubeconfig).
#
# SPLITLET_NODE_MODE picks how they run:
#   compose  (the default when `docker compose` or docker-compose is there) containers
#            from docker-compose.yml, project "splitlet-node"; against the lab, only the
#            six services (the lab's NATS and Jaeger serve them); with $KUBECONFIG, the
#            whole node: NATS (TLS, with a CA of its own: tools/nats-tls) and Jaeger too.
#            Logs: `docker compose -p splitlet-node logs`.
#   process  node processes; logs .lab/logs/node-<service>.log, pids .lab/pids/node-<service>.pid
#   single   the all-in-one node: one node process hosting all six services, which still
#            talk over NATS, each with its own credentials (README, "Footprint");
#            log .lab/logs/node-all-in-one.log, pid .lab/pids/node-all-in-one.pid
#
# The bus has auth on: each service gets its own .creds file (README.md, "The bus's
# credentials"). Against the lab they are minted for the node with the lab's keys;
# otherwise from SPLITLET_NATS_CREDS_DIR (<service>.creds files), else minted with the
# keys in SPLITLET_NATS_AUTH_DIR (compose's own NATS: .lab/nats-auth, made on first use).
#
# node-api listens on the kubelet port once the cluster signed its serving certificate
# (a CSR with signer kubernetes.io/kubelet-serving). Against the lab, this script
# approves that CSR as the lab's admin; against $KUBECONFIG an operator must (README,
# "On a real cluster"), or give SPLITLET_TLS_CERT_FILE/SPLITLET_TLS_PRIVATE_KEY_FILE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lab_dir=${LAB_DIR:-$root/.lab}
services=(runtime-executor registrar pod-sync prober status-reporter node-api)
project=splitlet-node
log() { printf '[node] %s\n' "$*" >&2; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

compose_tool() {
  if docker compose version >/dev/null 2>&1; then echo "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose
  fi
}
mode=${SPLITLET_NODE_MODE:-$( [[ -n "$(compose_tool)" ]] && echo compose || echo process )}

# The settings both modes share; against the lab when no KUBECONFIG is given.
settings() {
  export PATH="$root/node_modules/.bin:$PATH"
  lab=0
  if [[ -z "${KUBECONFIG:-}" ]]; then
    eval "$(bash test/lab/lab.sh env)"
    export KUBECONFIG=$LAB_NODE_KUBECONFIG SPLITLET_NODE_NAME=${SPLITLET_NODE_NAME:-$LAB_NODE_NAME}
    lab=1
  fi
  export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
  export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}
  export SPLITLET_NODE_NAME=${SPLITLET_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}
  bus_credentials
}

# Sets SPLITLET_NATS_CREDS_DIR (each service's <service>.creds) and SPLITLET_NATS_AUTH_CONF
# (what compose's NATS trusts), minting this node's credentials where it has the keys.
bus_credentials() {
  if [[ -n ${SPLITLET_NATS_CREDS_DIR:-} ]]; then return; fi
  local state=${SPLITLET_NATS_AUTH_DIR:-}
  if ((lab)); then
    state=$LAB_NATS_AUTH_DIR
    [[ -f $state/account.nk ]] || { log "the lab's bus has no keys in $state: run npm run lab:up (its NATS has auth on)"; exit 1; }
  elif [[ -z $state && $mode == compose ]]; then
    state=$lab_dir/nats-auth   # compose runs the node's own NATS
  fi
  if [[ -z $state ]]; then
    log "neither SPLITLET_NATS_CREDS_DIR nor SPLITLET_NATS_AUTH_DIR is set: the services connect anonymously (a NATS with auth on refuses them)"
    return
  fi
  [[ -f $state/account.nk && -f $state/auth.conf ]] || tools/bus-creds init --state "$state" --server-config "$state/auth.conf" >&2
  export SPLITLET_NATS_AUTH_CONF=$state/auth.conf SPLITLET_NATS_CREDS_DIR=$state/creds/${SPLITLET_NODE_NAME//./_}
  tools/bus-creds mint --state "$state" --node "$SPLITLET_NODE_NAME" --out "$SPLITLET_NATS_CREDS_DIR" >/dev/null
  log "bus credentials of node $SPLITLET_NODE_NAME: $SPLITLET_NATS_CREDS_DIR/<service>.creds"
}

# compose_credentials: each container's copy of its .creds, 0600 and owned by the uid
# it runs as (runtime-executor and pod-sync run as root, the others as 1000).
compose_credentials() {
  local dir=$lab_dir/node-compose-creds svc owner
  [[ -n ${SPLITLET_NATS_CREDS_DIR:-} ]] || { log "compose needs the services' credentials: set SPLITLET_NATS_CREDS_DIR or SPLITLET_NATS_AUTH_DIR"; exit 1; }
  install -d -m 755 "$dir"
  for svc in "${services[@]}"; do
    owner=1000; [[ $svc == runtime-executor || $svc == pod-sync ]] && owner=0
    install -m 600 -o "$owner" -g "$owner" "$SPLITLET_NATS_CREDS_DIR/$svc.creds" "$dir/$svc.creds"
  done
  export SPLITLET_NATS_CREDS_DIR=$dir SPLITLET_NATS_AUTH_CONF=${SPLITLET_NATS_AUTH_CONF:?set SPLITLET_NATS_AUTH_CONF, the auth config of the NATS of compose}
}

# node-api's serving certificate. Against the lab, the lab stands in for the approver a
# cluster would need (nothing approves kubelet-serving CSRs in a kubeadm-style one): as
# the lab's admin, it approves the pending CSRs with signer kubernetes.io/kubelet-serving
# filed by system:node:<this node>, and only those, until node-api serves on the kubelet
# port. node-api keeps the issued certificate (SPLITLET_CERT_DIR) and serves it again
# after a restart, so only a first start, or one after it expired, asks again.
serving_certificate() {
  local port=${SPLITLET_KUBELET_PORT:-10250}
  if [[ -n ${SPLITLET_TLS_CERT_FILE:-} ]]; then return; fi
  if ((!lab)); then
    cat >&2 <<MSG
[node] node-api serves the kubelet port ($port) once its serving certificate is issued:
[node]   kubectl get csr   (signer kubernetes.io/kubelet-serving, requestor system:node:$SPLITLET_NODE_NAME)
[node]   kubectl certificate approve <name>    (as a cluster admin; or set SPLITLET_TLS_CERT_FILE/SPLITLET_TLS_PRIVATE_KEY_FILE)
MSG
    return
  fi
  local kubectl=$lab_dir/bin/kubectl deadline=$((SECONDS + 180)) said=0 name user conditions
  [[ -x $kubectl ]] || kubectl=kubectl
  local pending='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name}{"\t"}{.spec.username}{"\t"}{.status.conditions[*].type}{"\n"}{end}'
  # Served: any TLS answer on the port (401 without credentials) will do.
  until curl -sk --noproxy '*' -o /dev/null --max-time 3 "https://127.0.0.1:$port/healthz"; do
    ((said)) || { said=1; log "waiting for node-api to serve: approving its serving certificate request (signer kubernetes.io/kubelet-serving) as the lab's admin"; }
    while IFS=$'\t' read -r name user conditions; do
      [[ -n $name && $user == "system:node:$SPLITLET_NODE_NAME" && -z $conditions ]] || continue
      "$kubectl" --kubeconfig "$KUBECONFIG_ADMIN" certificate approve "$name" >/dev/null &&
        log "approved $name: node-api's serving certificate for $SPLITLET_NODE_NAME"
    done < <("$kubectl" --kubeconfig "$KUBECONFIG_ADMIN" get csr -o jsonpath="$pending" 2>/dev/null)
    if ((SECONDS >= deadline)); then
      log "node-api does not serve on port $port after 180 s: kubectl logs/exec will not work (see its log)"
      return
    fi
    sleep 1
  done
  log "node-api serves the kubelet port $port"
}

# nats_tls: compose's own NATS serves TLS with a certificate of a CA made for it
# (tools/nats-tls; SPLITLET_NATS_TLS_DIR, default .lab/nats-tls), which the services verify.
nats_tls() {
  export SPLITLET_NATS_TLS_DIR=${SPLITLET_NATS_TLS_DIR:-$lab_dir/nats-tls}
  tools/nats-tls --dir "$SPLITLET_NATS_TLS_DIR" >&2
  export SPLITLET_NATS_CA=$SPLITLET_NATS_TLS_DIR/ca.crt
}

compose_up() {
  settings
  local env_file=$lab_dir/node.env data=${SPLITLET_DATA_DIR:-/var/lib/splitlet}
  mkdir -p "$lab_dir" "$data"
  # A whole node: its own NATS serves TLS. Against the lab the lab's NATS does (its CA is
  # SPLITLET_NATS_CA) and compose's is not started (the variable only has to be set).
  if ((lab)); then export SPLITLET_NATS_TLS_DIR=${SPLITLET_NATS_TLS_DIR:-/dev/null}; else nats_tls; fi
  # One env file configures the node (node.env.example says what each line is).
  {
    echo "SPLITLET_NODE_NAME=$SPLITLET_NODE_NAME"
    echo "NATS_URL=$NATS_URL"
    echo "OTEL_EXPORTER_OTLP_ENDPOINT=$OTEL_EXPORTER_OTLP_ENDPOINT"
    echo "SPLITLET_PAUSE_IMAGE=${SPLITLET_PAUSE_IMAGE:-registry.k8s.io/pause:3.10}"
    echo "SPLITLET_CLUSTER_DNS=${SPLITLET_CLUSTER_DNS:-10.96.0.10}"
    echo "SPLITLET_DATA_DIR=$data"
    # The kubelet port node-api listens on and registrar reports (default 10250).
    [[ -z ${SPLITLET_KUBELET_PORT:-} ]] || echo "SPLITLET_KUBELET_PORT=$SPLITLET_KUBELET_PORT"
    # NATS serves TLS (the lab's, or compose's own): its CA, mounted into each service (SPLITLET_NATS_CA_FILE).
    [[ -z ${SPLITLET_NATS_CA:-} ]] || echo "SPLITLET_NATS_CA=/etc/splitlet/nats-ca.crt"
  } >"$env_file"
  [[ -z ${SPLITLET_NATS_CA:-} ]] || export SPLITLET_NATS_CA_FILE=$SPLITLET_NATS_CA
  # registrar and status-reporter run as uid 1000: their copy of the kubeconfig is
  # theirs to read (0600, owned by 1000; pod-sync, root, reads it too).
  local kc=$lab_dir/node-compose.kubeconfig
  install -m 600 -o 1000 -g 1000 "$KUBECONFIG" "$kc"
  compose_credentials
  export SPLITLET_ENV_FILE=$env_file SPLITLET_KUBECONFIG=$kc SPLITLET_DATA_DIR=$data DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
  # The data dir must be a shared mount for pod-sync's mounts (tmpfs per Secret) to
  # reach Docker on the host; where / is private (this lab's host), make it one.
  if [[ "$(findmnt -no PROPAGATION --target "$data" 2>/dev/null)" == private ]]; then
    if ! { mountpoint -q "$data" || mount --bind "$data" "$data"; } || ! mount --make-rshared "$data"; then
      log "cannot make $data a shared mount: pods' Secret volumes will look empty"; export SPLITLET_DATA_PROPAGATION=${SPLITLET_DATA_PROPAGATION:-rprivate}
    fi
  fi
  local targets=(nats jaeger "${services[@]}") opts=()
  if ((lab)); then
    # The lab's own images (no registry), its NATS and Jaeger.
    export NODE_IMAGE=${NODE_IMAGE:-splitlet-lab/node:24} SPLITLET_PAUSE_IMAGE=${SPLITLET_PAUSE_IMAGE:-splitlet-lab/pause:1}
    sed -i "s|^SPLITLET_PAUSE_IMAGE=.*|SPLITLET_PAUSE_IMAGE=$SPLITLET_PAUSE_IMAGE|" "$env_file"
    targets=("${services[@]}") opts=(--no-deps)
  fi
  # The build stage (npm ci, every service bundled) once; the six images then take it
  # from the build cache instead of running npm ci six times in parallel.
  log "building the services' shared build stage (npm ci + bundles; ~2-4 min the first time, cached after)"
  docker build -q -f services/Dockerfile --target build --build-arg "NODE_IMAGE=${NODE_IMAGE:-node:24}" . >/dev/null
  log "docker-compose.yml: building and starting ${targets[*]} (project $project)"
  $(compose_tool) -p "$project" up -d --build "${opts[@]}" "${targets[@]}"
  serving_certificate
  cat >&2 <<MSG

splitlet node "$(grep ^SPLITLET_NODE_NAME= "$env_file" | cut -d= -f2)" is running under compose (npm run node:down stops it).
  kubectl:  export KUBECONFIG=${KUBECONFIG_ADMIN:-$KUBECONFIG}
            kubectl get nodes; kubectl get pods -A -o wide
  services: $(compose_tool) -p $project ps    (logs: ... logs -f pod-sync)
  NATS:     $NATS_URL
  traces:   http://127.0.0.1:16686 (Jaeger); a pod's trace: /trace/<its UID without dashes>
MSG
}

compose_down() {
  local env_file=$lab_dir/node.env
  [[ -f $env_file ]] || { log "no compose node was started from here ($env_file missing)"; return; }
  # down needs the file's variables set, not their values.
  SPLITLET_ENV_FILE=$env_file SPLITLET_KUBECONFIG=/dev/null SPLITLET_NATS_CREDS_DIR=/dev/null SPLITLET_NATS_AUTH_CONF=/dev/null SPLITLET_NATS_TLS_DIR=/dev/null \
    $(compose_tool) -p "$project" down --remove-orphans
}

process_up() {
  local svc
  # dist/package.json marks a CommonJS build (an older ES module dist is built again).
  for svc in "${services[@]}"; do [[ -f services/$svc/dist/package.json ]] || { bash scripts/setup.sh; break; }; done
  settings
  mkdir -p "$lab_dir/logs" "$lab_dir/pids"
  # node-api keeps its CSR-issued serving certificate here, for its next start.
  export SPLITLET_CERT_DIR=${SPLITLET_CERT_DIR:-$lab_dir/node-api-pki/${SPLITLET_NODE_NAME//./_}}
  for svc in "${services[@]}"; do
    local pidfile="$lab_dir/pids/node-$svc.pid"
    if alive "$pidfile"; then log "$svc already running (pid $(cat "$pidfile"))"; continue; fi
    SPLITLET_NATS_CREDS=${SPLITLET_NATS_CREDS_DIR:+$SPLITLET_NATS_CREDS_DIR/$svc.creds} setsid nohup node "${node_flags[@]}" --require "./services/$svc/dist/instrumentation.js" \
      "./services/$svc/dist/main.js" >>"$lab_dir/logs/node-$svc.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    log "$svc started (pid $!, log $lab_dir/logs/node-$svc.log)"
  done
  serving_certificate
  cat >&2 <<MSG

splitlet node "$SPLITLET_NODE_NAME" is running (npm run node:down stops it).
  kubectl:  export KUBECONFIG=${KUBECONFIG_ADMIN:-$KUBECONFIG}
            kubectl get nodes; kubectl get pods -A -o wide
  NATS:     $NATS_URL   (nats micro ls: the node's services)
  traces:   http://127.0.0.1:16686 (Jaeger); a pod's trace: /trace/<its UID without dashes>
MSG
}

# The V8 and glibc settings every splitlet node process runs with (README, "Footprint"):
# a young generation of 2 MiB semi-spaces instead of 16, and two malloc arenas.
node_flags=(--max-semi-space-size=2)
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}

single_up() {
  [[ -f services/all-in-one/dist/package.json ]] || bash scripts/setup.sh
  settings
  mkdir -p "$lab_dir/logs" "$lab_dir/pids"
  export SPLITLET_CERT_DIR=${SPLITLET_CERT_DIR:-$lab_dir/node-api-pki/${SPLITLET_NODE_NAME//./_}}
  local pidfile="$lab_dir/pids/node-all-in-one.pid"
  if alive "$pidfile"; then log "the all-in-one node is already running (pid $(cat "$pidfile"))"; else
    setsid nohup node "${node_flags[@]}" --require ./services/all-in-one/dist/instrumentation.js ./services/all-in-one/dist/main.js \
      >>"$lab_dir/logs/node-all-in-one.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    log "all-in-one started: ${SPLITLET_SERVICES:-${services[*]}} (pid $!, log $lab_dir/logs/node-all-in-one.log)"
  fi
  serving_certificate
  cat >&2 <<MSG

splitlet node "$SPLITLET_NODE_NAME" is running in one process (npm run node:down stops it).
  kubectl:  export KUBECONFIG=${KUBECONFIG_ADMIN:-$KUBECONFIG}
            kubectl get nodes; kubectl get pods -A -o wide
  NATS:     $NATS_URL   (nats micro ls: the node's services)
  traces:   http://127.0.0.1:16686 (Jaeger); a pod's trace: /trace/<its UID without dashes>
MSG
}

# stop_process <name> <pidfile> <tries>: SIGTERM, up to <tries> × 0.2 s for it to exit, then SIGKILL.
stop_process() {
  local name=$1 pidfile=$2 tries=$3
  if alive "$pidfile"; then
    kill -TERM "$(cat "$pidfile")"
    for _ in $(seq "$tries"); do alive "$pidfile" || break; sleep 0.2; done
    alive "$pidfile" && kill -KILL "$(cat "$pidfile")"
    log "$name stopped"
  fi
  rm -f "$pidfile"
}

process_down() {
  # the all-in-one's six services wind down together: more time than one's
  stop_process all-in-one "$lab_dir/pids/node-all-in-one.pid" 75
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    stop_process "${services[i]}" "$lab_dir/pids/node-${services[i]}.pid" 50
  done
}

status() {
  if alive "$lab_dir/pids/node-all-in-one.pid"; then echo "all-in-one running (process $(cat "$lab_dir/pids/node-all-in-one.pid"))"; fi
  for svc in "${services[@]}"; do
    if alive "$lab_dir/pids/node-$svc.pid"; then echo "$svc running (process)"; fi
  done
  if [[ -n "$(compose_tool)" && -f $lab_dir/node.env ]]; then
    SPLITLET_ENV_FILE=$lab_dir/node.env SPLITLET_KUBECONFIG=/dev/null SPLITLET_NATS_CREDS_DIR=/dev/null SPLITLET_NATS_AUTH_CONF=/dev/null SPLITLET_NATS_TLS_DIR=/dev/null \
      $(compose_tool) -p "$project" ps
  fi
}

# drain [--cancel] [--no-wait]: the node's graceful shutdown (README, "Graceful node
# shutdown"), asked of pod-sync with an operator's bus identity: minted here with the
# keys the node's credentials come from, or SPLITLET_NATS_OPERATOR_CREDS.
drain() {
  settings
  if [[ -z ${SPLITLET_NATS_OPERATOR_CREDS:-} ]]; then
    local state=${SPLITLET_NATS_AUTH_DIR:-}
    if ((lab)); then state=$LAB_NATS_AUTH_DIR
    elif [[ -z $state && $mode == compose ]]; then state=$lab_dir/nats-auth
    fi
    if [[ -n $state && -f $state/account.nk ]]; then
      # one operator identity per key set, minted once (as the tests' labOperatorCredsFile)
      export SPLITLET_NATS_OPERATOR_CREDS=$state/operator.creds
      [[ -f $SPLITLET_NATS_OPERATOR_CREDS ]] || tools/bus-creds mint-operator --state "$state" --out "$SPLITLET_NATS_OPERATOR_CREDS" >/dev/null
    fi
  fi
  # compose's own NATS (a whole node against $KUBECONFIG) serves TLS with the node's CA
  if ((!lab)) && [[ $mode == compose && -z ${SPLITLET_NATS_CA:-} ]]; then
    export SPLITLET_NATS_CA=${SPLITLET_NATS_TLS_DIR:-$lab_dir/nats-tls}/ca.crt
  fi
  exec tsx --tsconfig tsconfig.base.json services/pod-sync/src/drain.ts "$@"
}

case "${1:-}:$mode" in
  up:compose) compose_up ;; up:process) process_up ;; up:single) single_up ;;
  # down stops the node whichever way it was started
  down:*) process_down; [[ -z "$(compose_tool)" ]] || compose_down ;;
  status:*) status ;;
  drain:*) shift; drain "$@" ;;
  *) echo "usage: [SPLITLET_NODE_MODE=compose|process|single] $0 up|down|status|drain [--cancel]" >&2; exit 2 ;;
esac
