#!/usr/bin/env bash
# Rehearses the lab's bus with auth on beside a running lab, without touching it: a
# scratch LAB_DIR whose NATS (`lab.sh bus`: the lab's own bus-creds steps and
# nats-server flags) listens on free ports, then the end-to-end files that need only
# NATS and Docker against it (the lab's Docker and images are used as they are).
# Usage: test/lab/bus-rehearsal.sh [vitest file filter...]
#        (default: bus-auth.e2e container-events.e2e runtime-executor.e2e)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$PATH"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

scratch=$(mktemp -d /tmp/splitlet-bus-rehearsal.XXXXXX)
export LAB_DIR=$scratch LAB_NATS_PORT=$(free_port) LAB_NATS_MONITOR_PORT=$(free_port)
cleanup() {
  local pid
  pid=$(cat "$scratch/pids/nats-server.pid" 2>/dev/null) && kill "$pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
bash test/lab/lab.sh bus
eval "$(bash test/lab/lab.sh env)"   # NATS_URL and LAB_NATS_AUTH_DIR of the scratch bus
[[ -f services/runtime-executor/dist/main.js ]] || node tools/build-service.mjs runtime-executor
if (($#)); then filters=("$@"); else filters=(bus-auth.e2e container-events.e2e runtime-executor.e2e); fi
vitest run --project e2e "${filters[@]}"
