#!/usr/bin/env bash
# `npm test`: all set-up, the lab, then every check and test: contracts (buf lint,
# generated code up to date), typecheck, lint, unit tests of every project and the
# end-to-end suite against the lab. Ends with one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
log() { printf '[test] %s\n' "$*" >&2; }

bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
bash test/lab/lab.sh up
eval "$(bash test/lab/lab.sh env)"

log "contracts, typecheck, lint"
nx run-many -t buf-lint buf-breaking generated-up-to-date typecheck lint --outputStyle=static

log "unit and end-to-end tests"
results=.lab/test-results.json
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
node -e '
  const r = require(process.argv[1]);
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$PWD/$results"
log "done in $((SECONDS - started)) s"
exit "$status"
