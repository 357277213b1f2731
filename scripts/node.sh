#!/usr/bin/env bash
# The node's five services in the background: `up`, `down`, `status`.
# Against $KUBECONFIG when set, else the lab's node identity (.lab/node.kubeconfig).
#
# SPLITLET_NODE_MODE picks how they run:
#   compose  (the default when `docker compose` or docker-compose is there) containers
#            from docker-compose.yml, project "splitlet-node"; against the lab, only the
#            five services (the lab's NATS and Jaeger serve them); with $KUBECONFIG, the
#            whole node: NATS and Jaeger too. Logs: `docker compose -p splitlet-node logs`.
#   process  node processes; logs .lab/logs/node-<service>.log, pids .lab/pids/node-<service>.pid
#
# The bus has auth on: each service gets its own .creds file (README.md, "The bus's
# credentials"). Against the lab they are minted for the node with the lab's keys;
# otherwise from SPLITLET_NATS_CREDS_DIR (<service>.creds files), else minted with the
# keys in SPLITLET_NATS_AUTH_DIR (compose's own NATS: .lab/nats-auth, made on first use).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lab_dir=${LAB_DIR:-$root/.lab}
services=(runtime-executor registrar pod-sync prober status-reporter)
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

compose_up() {
  settings
  local env_file=$lab_dir/node.env data=${SPLITLET_DATA_DIR:-/var/lib/splitlet}
  mkdir -p "$lab_dir" "$data"
  # One env file configures the node (node.env.example says what each line is).
  {
    echo "SPLITLET_NODE_NAME=$SPLITLET_NODE_NAME"
    echo "NATS_URL=$NATS_URL"
    echo "OTEL_EXPORTER_OTLP_ENDPOINT=$OTEL_EXPORTER_OTLP_ENDPOINT"
    echo "SPLITLET_PAUSE_IMAGE=${SPLITLET_PAUSE_IMAGE:-registry.k8s.io/pause:3.10}"
    echo "SPLITLET_CLUSTER_DNS=${SPLITLET_CLUSTER_DNS:-10.96.0.10}"
    echo "SPLITLET_DATA_DIR=$data"
    # A NATS that serves TLS (the lab's): its CA, mounted into each service (SPLITLET_NATS_CA_FILE).
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
  # The build stage (npm ci, every service bundled) once; the five images then take it
  # from the build cache instead of running npm ci five times in parallel.
  log "building the services' shared build stage (npm ci + bundles; ~2-4 min the first time, cached after)"
  docker build -q -f services/Dockerfile --target build --build-arg "NODE_IMAGE=${NODE_IMAGE:-node:24}" . >/dev/null
  log "docker-compose.yml: building and starting ${targets[*]} (project $project)"
  $(compose_tool) -p "$project" up -d --build "${opts[@]}" "${targets[@]}"
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
  SPLITLET_ENV_FILE=$env_file SPLITLET_KUBECONFIG=/dev/null SPLITLET_NATS_CREDS_DIR=/dev/null SPLITLET_NATS_AUTH_CONF=/dev/null \
    $(compose_tool) -p "$project" down --remove-orphans
}

process_up() {
  [[ -f services/registrar/dist/main.js ]] || bash scripts/setup.sh
  settings
  mkdir -p "$lab_dir/logs" "$lab_dir/pids"
  for svc in "${services[@]}"; do
    local pidfile="$lab_dir/pids/node-$svc.pid"
    if alive "$pidfile"; then log "$svc already running (pid $(cat "$pidfile"))"; continue; fi
    SPLITLET_NATS_CREDS=${SPLITLET_NATS_CREDS_DIR:+$SPLITLET_NATS_CREDS_DIR/$svc.creds} setsid nohup node --import "./services/$svc/dist/instrumentation.js" \
      "./services/$svc/dist/main.js" >>"$lab_dir/logs/node-$svc.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    log "$svc started (pid $!, log $lab_dir/logs/node-$svc.log)"
  done
  cat >&2 <<MSG

splitlet node "$SPLITLET_NODE_NAME" is running (npm run node:down stops it).
  kubectl:  export KUBECONFIG=${KUBECONFIG_ADMIN:-$KUBECONFIG}
            kubectl get nodes; kubectl get pods -A -o wide
  NATS:     $NATS_URL   (nats micro ls: the node's services)
  traces:   http://127.0.0.1:16686 (Jaeger); a pod's trace: /trace/<its UID without dashes>
MSG
}

process_down() {
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    local svc=${services[i]} pidfile="$lab_dir/pids/node-${services[i]}.pid"
    if alive "$pidfile"; then
      kill -TERM "$(cat "$pidfile")"
      for _ in $(seq 50); do alive "$pidfile" || break; sleep 0.2; done
      alive "$pidfile" && kill -KILL "$(cat "$pidfile")"
      log "$svc stopped"
    fi
    rm -f "$pidfile"
  done
}

status() {
  for svc in "${services[@]}"; do
    if alive "$lab_dir/pids/node-$svc.pid"; then echo "$svc running (process)"; fi
  done
  if [[ -n "$(compose_tool)" && -f $lab_dir/node.env ]]; then
    SPLITLET_ENV_FILE=$lab_dir/node.env SPLITLET_KUBECONFIG=/dev/null SPLITLET_NATS_CREDS_DIR=/dev/null SPLITLET_NATS_AUTH_CONF=/dev/null \
      $(compose_tool) -p "$project" ps
  fi
}

case "${1:-}:$mode" in
  up:compose) compose_up ;; up:process) process_up ;;
  # down stops the node whichever way it was started
  down:*) process_down; [[ -z "$(compose_tool)" ]] || compose_down ;;
  status:*) status ;;
  *) echo "usage: [SPLITLET_NODE_MODE=compose|process] $0 up|down|status" >&2; exit 2 ;;
esac
