#!/usr/bin/env bash
# `npm start`: all set-up, the lab when no KUBECONFIG is given, then the node's
# six services in the background; says how to use kubectl against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [[ -z "${KUBECONFIG:-}" ]]; then
  bash test/lab/lab.sh up
fi
bash scripts/node.sh up
