#!/usr/bin/env bash
# Everything a fresh clone needs before it can run: the host's prerequisites (Debian
# packages: scripts/prereqs.sh), npm packages (with Node.js 24 from the npm
# registry's `node` package), then the services' bundles.
# Usage: scripts/setup.sh [--deps-only]
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

bash scripts/prereqs.sh

# npm ci when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "installing npm packages (npm ci)"
  npm ci --include=optional --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH"
[[ "$(node --version)" == v24.* ]] || { log "expected Node.js 24 from node_modules/.bin, got $(node --version)"; exit 1; }
[[ "${1:-}" == --deps-only ]] && exit 0

log "building the services"
nx run-many -t build --outputStyle=static >/dev/null
