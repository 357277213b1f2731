#!/usr/bin/env bash
# `npm test`: all set-up, the lab, then every check and test: contracts (buf lint,
# generated code up to date), typecheck, lint, unit tests of every project, the
# end-to-end suite against the lab and, last, upstream's quick NodeConformance subset
# (conformance/quick.e2e.ts). Ends with one line: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
log() { printf '[test] %s\n' "$*" >&2; }

bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
bash test/lab/lab.sh up
eval "$(bash test/lab/lab.sh env)"

# The upstream e2e suite's binaries for the quick conformance subset (test/lab/build.sh
# e2e; cached once built): a new machine's first build starts now at the lowest
# priority, beside the checks and tests; the conformance test comes last and waits
# for it.
setsid nice -n 19 bash test/lab/build.sh e2e >"${LAB_DIR:-.lab}/build-e2e.log" 2>&1 &
quick_build=$!
trap 'kill -- -$quick_build 2>/dev/null || true' EXIT

log "contracts, typecheck, lint"
nx run-many -t buf-lint buf-breaking generated-up-to-date typecheck lint --outputStyle=static

log "unit and end-to-end tests"
results=.lab/test-results.json
status=0
# Each e2e node's service logs, for a look at a failure afterwards (libs/testing pod-node.ts).
export SPLITLET_E2E_DUMP_DIR="${SPLITLET_E2E_DUMP_DIR:-$PWD/.lab/e2e-logs}"
rm -rf "$SPLITLET_E2E_DUMP_DIR"
vitest run --reporter=default --reporter=json --outputFile.json="$results" || status=$?
node -e '
  const r = require(process.argv[1]);
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$PWD/$results"
# A run can fail with every test passed: vitest counts an unhandled error (thrown outside
# any test) as a failure of the run, and says so above its summary ("Errors  1 error").
((status == 0)) || log "vitest exited $status; its summary above says why (failed tests, or errors outside the tests)"
log "done in $((SECONDS - started)) s"
exit "$status"
