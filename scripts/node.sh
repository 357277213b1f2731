#!/usr/bin/env bash
# The node's five services in the background: `up`, `down`, `status`.
# Against $KUBECONFIG when set, else the lab's node identity (.lab/node.kubeconfig).
# Logs: .lab/logs/node-<service>.log (JSON lines); pids: .lab/pids/node-<service>.pid
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lab_dir=${LAB_DIR:-$root/.lab}
services=(runtime-executor registrar pod-sync prober status-reporter)
log() { printf '[node] %s\n' "$*" >&2; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
  export PATH="$root/node_modules/.bin:$PATH"
  [[ -f services/registrar/dist/main.js ]] || bash scripts/setup.sh
  if [[ -z "${KUBECONFIG:-}" ]]; then
    eval "$(bash test/lab/lab.sh env)"
    export KUBECONFIG=$LAB_NODE_KUBECONFIG SPLITLET_NODE_NAME=${SPLITLET_NODE_NAME:-$LAB_NODE_NAME}
  fi
  export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
  export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}
  mkdir -p "$lab_dir/logs" "$lab_dir/pids"
  for svc in "${services[@]}"; do
    local pidfile="$lab_dir/pids/node-$svc.pid"
    if alive "$pidfile"; then log "$svc already running (pid $(cat "$pidfile"))"; continue; fi
    OTEL_SERVICE_NAME=$svc setsid nohup node --enable-source-maps --import "./services/$svc/dist/instrumentation.js" \
      "./services/$svc/dist/main.js" >>"$lab_dir/logs/node-$svc.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    log "$svc started (pid $!, log $lab_dir/logs/node-$svc.log)"
  done
  cat >&2 <<MSG

splitlet node "${SPLITLET_NODE_NAME:-$(hostname)}" is running (npm run node:down stops it).
  kubectl:  export KUBECONFIG=${KUBECONFIG_ADMIN:-$KUBECONFIG}
            kubectl get nodes; kubectl get pods -A -o wide
  NATS:     $NATS_URL   (nats micro ls: the node's services)
  traces:   http://127.0.0.1:16686 (Jaeger)
MSG
}

down() {
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
    if alive "$lab_dir/pids/node-$svc.pid"; then echo "$svc running"; else echo "$svc stopped"; fi
  done
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
