# The reference node (issue 18), sourced by lab.sh: the upstream kubelet of the lab's
# own Kubernetes version on containerd, beside splitlet, as the node `ref-<host>` with
# its own identity under the same Node authorizer and NodeRestriction. Started only by
# `lab.sh up --reference` (npm run lab:up -- --reference); `lab.sh down` removes it.
#
# The kubelet runs with its defaults except what a single-VM lab needs (README.md,
# "The reference node"): the cgroupfs driver (no systemd here), cgroup v1 allowed
# (failCgroupV1: false; this VM has no unified hierarchy), swap not checked, the lab's
# CA and certificates, its own ports (10350, healthz 10348: splitlet's node-api may hold
# 10250), its own root, log and CNI folders, and a NoSchedule taint so that pods land
# there only when a test puts them there.

REF_NODE=${LAB_REFERENCE_NODE_NAME:-ref-$LAB_NODE_NAME}
REF_DIR=$LAB_DIR/reference
REF_RUN=/run/splitlet-ref
REF_SOCK=$REF_RUN/containerd.sock
REF_KUBELET_PORT=${LAB_REFERENCE_KUBELET_PORT:-10350}
REF_HEALTHZ_PORT=${LAB_REFERENCE_HEALTHZ_PORT:-10348}
REF_POD_CIDR=${LAB_REFERENCE_POD_CIDR:-10.90.0.0/24}
REF_BRIDGE=cni-ref0
REF_KC=$LAB_DIR/reference.kubeconfig
REF_COMPONENTS=(ref-containerd ref-kubelet)
# The kernel settings the kubelet sets at start (protectKernelDefaults: false, its
# default): saved before the first start, put back by `down`.
REF_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

ref_containerd_ok() { "$BIN/ref-ctr" --address "$REF_SOCK" version >/dev/null; }
ref_kubelet_ok() {
  [[ "$(curl_local "http://127.0.0.1:$REF_HEALTHZ_PORT/healthz")" == ok ]] &&
    [[ "$("$BIN/kubectl" --kubeconfig "$ADMIN_KC" --request-timeout=3s get node "$REF_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

ref_binaries() {
  local ref kubelet runc critime
  ref=$(build reference "$CONTAINERD_VERSION")
  kubelet=$(build kubelet "$K8S_VERSION")
  # The bench's runtime scenario: containerd timed alone through the CRI (bench/README.md).
  critime=$(build critime src)
  # argv[0] names the lab's component (pid_of): the links are named after it.
  link "$ref" ref-containerd containerd
  link "$ref" ref-ctr ctr
  link "$kubelet" ref-kubelet kubelet
  link "$critime" ref-critime critime
  REF_PARTS=$ref
  runc=$(command -v runc) || die "the reference node needs runc (Debian's runc package, which docker.io brings)"
  REF_RUNC=$runc
}

ref_config() {
  local ip; ip=$(host_ip)
  mkdir -p "$REF_DIR"/{containerd,kubelet,pods-logs,cni/net.d,cni/ipam} "$REF_RUN"
  no_restart issue "node-$REF_NODE" "/O=system:nodes/CN=system:node:$REF_NODE" client
  no_restart issue "kubelet-serving-$REF_NODE" "/O=system:nodes/CN=system:node:$REF_NODE" server "IP:$ip,IP:127.0.0.1,DNS:$REF_NODE"
  no_restart kubeconfig "$REF_KC" "system:node:$REF_NODE" "node-$REF_NODE"
  cat >"$REF_DIR/cni/net.d/10-splitlet-ref.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "splitlet-ref",
  "plugins": [
    {
      "type": "bridge", "bridge": "$REF_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$REF_POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$REF_DIR/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$REF_DIR/containerd.toml" <<EOF
version = 4
root = "$REF_DIR/containerd"
state = "$REF_RUN/containerd"

[plugins.'io.containerd.server.v1.grpc']
  address = "$REF_SOCK"
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$REF_SOCK.ttrpc"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "docker.io/$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.runtime']
  # This machine's root lacks CAP_SYS_RESOURCE (its bounding set): no process may lower
  # its oom_score_adj, and the kubelet asks -998 for every pod sandbox. containerd's
  # option for that case keeps each score at least its own (0).
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$REF_RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$REF_PARTS/cni"]
    conf_dir = "$REF_DIR/cni/net.d"
EOF
  cat >"$REF_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$REF_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
port: $REF_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $REF_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving-$REF_NODE.crt
tlsPrivateKeyFile: $PKI/kubelet-serving-$REF_NODE.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
podLogsDir: $REF_DIR/pods-logs
registerWithTaints:
  - { key: splitlet.dev/reference, value: "true", effect: NoSchedule }
EOF
}

ref_save_sysctls() {
  [[ -f $REF_DIR/sysctls.saved ]] && return
  local k
  for k in "${REF_SYSCTLS[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$REF_DIR/sysctls.saved"
}

ref_import_images() {
  # The lab's images the reference node's pods use, from Docker into containerd's
  # k8s.io namespace (no registry is reachable; the kubelet pulls nothing it has).
  local images=("$PAUSE_IMAGE" splitlet-lab/testbox:1) missing=()
  local i
  for i in "${images[@]}"; do
    "$BIN/ref-ctr" --address "$REF_SOCK" -n k8s.io images ls -q "name==docker.io/$i" | grep -q . || missing+=("$i")
  done
  ((${#missing[@]})) || return 0
  log "importing ${missing[*]} into the reference node's containerd"
  docker save "${missing[@]}" | "$BIN/ref-ctr" --address "$REF_SOCK" -n k8s.io images import --all-platforms - >/dev/null
}

start_reference() {
  ref_binaries
  ref_config
  ref_save_sysctls
  # PATH: containerd finds its runc shim there (the environment, not argv: ensure compares argv).
  PATH="$REF_PARTS:$PATH" ensure ref-containerd 60 "" ref_containerd_ok -- "$BIN/ref-containerd" --config "$REF_DIR/containerd.toml"
  ref_import_images
  ensure ref-kubelet 120 "$REF_KUBELET_PORT $REF_HEALTHZ_PORT" ref_kubelet_ok -- "$BIN/ref-kubelet" \
    --config="$REF_DIR/kubelet.yaml" --kubeconfig="$REF_KC" --hostname-override="$REF_NODE" \
    --node-ip="$(host_ip)" --root-dir="$REF_DIR/kubelet" --cert-dir="$REF_DIR/kubelet/pki" --v=1
}

# stop_reference: the kubelet, then every pod container containerd runs (its shims
# outlive it), containerd, the mounts and the bridge; the Node object goes too.
stop_reference() {
  local any=0 c
  for c in "${REF_COMPONENTS[@]}"; do [[ -f $(pidfile "$c") ]] && any=1; done
  ((any)) || [[ -d $REF_DIR ]] || return 0
  stop ref-kubelet 30
  if pid_of ref-containerd >/dev/null; then
    local ids
    ids=$("$BIN/ref-ctr" --address "$REF_SOCK" -n k8s.io tasks ls -q 2>/dev/null || true)
    for c in $ids; do "$BIN/ref-ctr" --address "$REF_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    sleep 1
    for c in $ids; do "$BIN/ref-ctr" --address "$REF_SOCK" -n k8s.io tasks rm -f "$c" >/dev/null 2>&1 || true; done
  fi
  stop ref-containerd 30
  # What the kubelet and containerd mounted (volumes, rootfs, sandbox shm) under their folders.
  { grep -oE " ($REF_DIR|$REF_RUN)/[^ ]*" /proc/self/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip link del "$REF_BRIDGE" 2>/dev/null || true
  rm -rf "$REF_DIR/cni/ipam" "$REF_RUN"
  if [[ -f $REF_DIR/sysctls.saved ]]; then
    while IFS= read -r kv; do sysctl -qw "$kv" || true; done <"$REF_DIR/sysctls.saved"
    rm -f "$REF_DIR/sysctls.saved"
  fi
  if [[ -x $BIN/kubectl ]] && apiserver_ok; then
    "$BIN/kubectl" --kubeconfig "$ADMIN_KC" delete node "$REF_NODE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
}

status_reference() {
  local name pid state check all=0
  for name in "${REF_COMPONENTS[@]}"; do
    if pid=$(pid_of "$name"); then
      check=${name//-/_}_ok
      if "$check" >/dev/null 2>&1; then state="running (pid $pid)"; else state="unhealthy (pid $pid)"; all=3; fi
      printf '%-24s %s\n' "$name" "$state"
    fi
  done
  return $all
}
