#!/usr/bin/env bash
# `npm run conformance`: the upstream NodeConformance specs (k8s.io/kubernetes e2e at
# the lab's version) against a splitlet node started on the lab for this run.
#   npm run conformance [-- <ginkgo flags, e.g. --focus='Downward API'>]
#   npm run conformance:quick          the quick subset (quick.txt) that `npm test` runs
#                                      (conformance/quick.e2e.ts), about 4 minutes
# Results: conformance/results/ (junit_01.xml, summary.md, summary.json; the run's
# logs in conformance/results/logs/, not committed); --quick: .lab/conformance-quick/.
# Needs the lab up (npm run lab:up). Never brings the lab up or down itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
# The workspace's Node.js 24 (the `node` devDependency) and tsx, as npm run gives them:
# the system node may be older.
export PATH="$root/node_modules/.bin:$PATH"
log() { printf '[conformance] %s\n' "$*" >&2; }

# The upstream selection: every NodeConformance spec that may run beside others
# (the Serial ones are a second pass: CONFORMANCE_LABEL_FILTER='NodeConformance && Serial').
label_filter=${CONFORMANCE_LABEL_FILTER:-'NodeConformance && !Serial && !Slow && !Disruptive && !Flaky'}
quick=0
if [[ ${1:-} == --quick ]]; then quick=1; shift; fi
# Two ginkgo processes for the whole selection: the machine has 2 cores, shared with the
# lab and the node. Four for the quick subset: its specs mostly wait (probe delays,
# volume updates), and `npm test` runs it alone on the machine: 128 s of specs against
# 230 s at two, no spec slower by more than 2 s (measured 2026-12-07).
procs=${CONFORMANCE_PROCS:-$((quick ? 4 : 2))}
if ((quick)); then
  results=${CONFORMANCE_RESULTS:-$root/.lab/conformance-quick}
else
  results=${CONFORMANCE_RESULTS:-$here/results}
fi

eval "$(bash test/lab/lab.sh env)"
kubectl=${LAB_DIR:-$root/.lab}/bin/kubectl
k() { "$kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
k get --raw /readyz >/dev/null || { log "the lab's API server does not answer: npm run lab:up"; exit 1; }

# 1. e2e.test, ginkgo and agnhost, built once per version (test/lab/build.sh's cache),
# at the lowest priority (the machine is shared). `npm test` starts this build in the
# background early on; build.sh waits for one already running.
start=$SECONDS
bin=$(nice -n 19 bash test/lab/build.sh e2e)
log "e2e binaries: $bin ($((SECONDS - start)) s)"
# --quick: ginkgo's focus selects quick.txt's specs, each by its whole text.
if ((quick)); then set -- --focus="$(node_modules/.bin/tsx "$here/quick.ts" focus "$here/quick.txt")" "$@"; fi

# 2. The images the specs use, under the names they use.
start=$SECONDS
bash "$here/images.sh" "$bin"
log "images ready ($((SECONDS - start)) s)"

# 2b. The Serial pass only: a local mirror of the e2e images' registry. "should be able
# to pull image" pulls agnhost from registry.k8s.io/e2e-test-images with PullAlways,
# and no public registry is reachable here. Upstream's suite takes its registries from
# KUBE_TEST_REPO_LIST (what runs behind a mirror does): promoterE2eRegistry names an
# anonymous registry (the lab's distribution binary) on a free local port, which holds
# the stand-ins above under the same paths, also tagged so in Docker. The specs pull
# over HTTP from 127.0.0.1 (Docker's default insecure range) instead of over HTTPS from
# registry.k8s.io; the rest of the pull is the node's as with any registry.
mirror_pid=
mirror_tags=()
# mirror_serve MODE: (re)starts the mirror on its port, writable for the pushes, then
# read-only for the run: only this runner puts images in it; whoever else on the
# machine reaches 127.0.0.1:<port> may pull them (they are the stand-ins above) but
# not push.
mirror_serve() {
  local ro=false
  [[ $1 == read-only ]] && ro=true
  if [[ -n $mirror_pid ]]; then kill "$mirror_pid"; wait "$mirror_pid" 2>/dev/null || true; fi
  printf 'version: 0.1\nlog: { level: info }\nstorage: { filesystem: { rootdirectory: %s/data }, maintenance: { readonly: { enabled: %s } } }\nhttp: { addr: %s }\n' "$mirror_dir" "$ro" "$mirror" >"$mirror_dir/config.yml"
  "${LAB_DIR:-$root/.lab}/bin/registry" serve "$mirror_dir/config.yml" >>"$mirror_dir/registry.log" 2>&1 &
  mirror_pid=$!
  for _ in $(seq 50); do curl -sf --noproxy '*' "http://$mirror/v2/" >/dev/null && return; sleep 0.2; done
  log "the e2e registry's mirror did not start: $mirror_dir/registry.log"
  exit 1
}
if [[ $label_filter != *'!Serial'* ]]; then
  mirror_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  mirror=127.0.0.1:$mirror_port
  mirror_dir=$(mktemp -d /tmp/conformance-mirror.XXXXXX)
  # Until step 4's clean-up takes over (it stops the mirror too).
  trap 'if [[ -n $mirror_pid ]]; then kill "$mirror_pid" 2>/dev/null; fi; rm -rf "$mirror_dir"' EXIT
  mirror_serve writable
  for image in $(docker image ls --format '{{.Repository}}:{{.Tag}}' 'registry.k8s.io/e2e-test-images/*'); do
    docker tag "$image" "$mirror/${image#registry.k8s.io/}"
    mirror_tags+=("$mirror/${image#registry.k8s.io/}")
    docker push -q "$mirror/${image#registry.k8s.io/}" >/dev/null
  done
  mirror_serve read-only
  printf 'promoterE2eRegistry: %s/e2e-test-images\n' "$mirror" >"$mirror_dir/repo-list.yaml"
  export KUBE_TEST_REPO_LIST=$mirror_dir/repo-list.yaml
  log "the e2e images' registry mirrored at $mirror (KUBE_TEST_REPO_LIST: ${#mirror_tags[@]} images)"
fi

# 3. The services as this checkout has them (esbuild bundles: seconds).
for svc in runtime-executor registrar pod-sync prober status-reporter node-api; do
  node tools/build-service.mjs "$svc" >/dev/null
done

# 4. A fresh splitlet node for this run.
node_name=conformance-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
rm -rf "$results"; mkdir -p "$results/logs"
node_pid=
cleanup() {
  set +e
  log "cleaning up: the run's namespaces, the scheduling policy, node $node_name"
  k delete mutatingadmissionpolicybinding splitlet-conformance-node --ignore-not-found >/dev/null
  k delete mutatingadmissionpolicy splitlet-conformance-node --ignore-not-found >/dev/null
  # Only the e2e framework labels its namespaces e2e-framework; nothing else on the lab does.
  k delete namespace -l e2e-framework --wait=false >/dev/null 2>&1
  if [[ -n $node_pid ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"; wait "$node_pid"
  fi
  if [[ -n $mirror_pid ]]; then
    kill "$mirror_pid"; wait "$mirror_pid" 2>/dev/null
    # Its access log shows what the node pulled from it.
    cp "$mirror_dir/registry.log" "$results/logs/e2e-mirror-registry.log" 2>/dev/null
    ((${#mirror_tags[@]})) && docker image rm "${mirror_tags[@]}" >/dev/null 2>&1
    rm -rf "$mirror_dir"
  fi
}
trap cleanup EXIT
# A TERM or INT (a stopped run) must still clean up: bash runs the EXIT trap on exit only.
trap 'exit 143' TERM INT
# tsx itself, not npx: npm exec does not pass SIGTERM on to its child.
coproc NODE { exec node_modules/.bin/tsx --tsconfig "$here/tsconfig.json" "$here/node.ts" "$node_name" "$results/logs" 2>"$results/logs/node-harness.log"; }
node_pid=$NODE_PID
read -r -t 180 ready _ port <&"${NODE[0]}" || true
[[ ${ready:-} == ready ]] || { log "node $node_name did not start: $results/logs/node-harness.log"; exit 1; }
log "node $node_name is up (node-api on kubelet port $port)"

# 5. The specs schedule onto any schedulable node, and other test runs on the lab
# register splitlet nodes of their own for minutes at a time. A mutating admission
# policy gives every pod the framework creates (namespaces labelled e2e-run) a
# nodeSelector for this node's label, so none lands on another node; pods that name
# a node themselves are left alone. (Every splitlet node on one machine shares
# kubernetes.io/hostname, so a label of its own is needed.)
k label node "$node_name" "splitlet.dev/conformance=$node_name" --overwrite >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: splitlet-conformance-node
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE"]
        resources: ["pods"]
    namespaceSelector:
      matchExpressions: [{ key: e2e-run, operator: Exists }]
  matchConditions:
    - name: not-bound
      expression: "!has(object.spec.nodeName) || object.spec.nodeName == ''"
  failurePolicy: Fail
  reinvocationPolicy: Never
  mutations:
    # A JSON patch, not an apply configuration: nodeSelector is an atomic map, which
    # an apply configuration may not merge into.
    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          has(object.spec.nodeSelector) ?
          [JSONPatch{op: "add", path: "/spec/nodeSelector/splitlet.dev~1conformance", value: "$node_name"}] :
          [JSONPatch{op: "add", path: "/spec/nodeSelector", value: {"splitlet.dev/conformance": "$node_name"}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata:
  name: splitlet-conformance-node
spec:
  policyName: splitlet-conformance-node
YAML

# 6. The specs. --allowed-not-ready-nodes=-1: the framework must not wait for other
# runs' nodes (they come and go). The framework writes junit_01.xml to --report-dir.
if ((quick)); then what="the quick subset ($(grep -c '^\[' "$here/quick.txt") specs of quick.txt), ginkgo --procs=$procs"; else what="ginkgo --procs=$procs $*"; fi
log "running: $label_filter, $what; ginkgo's output in $results/logs/ginkgo.log"
start=$SECONDS
rc=0
if ((quick)); then timeout=${CONFORMANCE_TIMEOUT:-30m}; else timeout=${CONFORMANCE_TIMEOUT:-2h}; fi
"$bin/ginkgo" --procs="$procs" --no-color --timeout="$timeout" \
  --label-filter="$label_filter" "$@" "$bin/e2e.test" -- \
  --provider=skeleton --kubeconfig="$KUBECONFIG_ADMIN" --kubectl-path="$kubectl" \
  --report-dir="$results" --allowed-not-ready-nodes=-1 --disable-log-dump \
  >"$results/logs/ginkgo.log" 2>&1 || rc=$?
log "specs done in $((SECONDS - start)) s (ginkgo exit $rc)"

# 7. The summary: counts per SIG and each failure's one-line cause.
node_modules/.bin/tsx --tsconfig "$here/tsconfig.json" "$here/summary.ts" "$results/junit_01.xml" "$results" "$node_name"
exit "$rc"
