#!/usr/bin/env bash
# hack/node.sh — one real node for the local cluster of hack/cluster.sh: containerd (Debian) with
# runc and the CNI bridge, a kubelet and kube-proxy built from the Go module proxy, and the images
# of `make images` imported. kwok keeps simulating the other nodes.
#
# Usage:
#   hack/node.sh up      start the node (the cluster must be up), print its name
#   hack/node.sh down    stop it and remove everything it made: processes, containers, mounts,
#                        the bridge, its iptables chains, its state
#
# Environment: CLUSTER_NAME and CLUSTER_DIR as for hack/cluster.sh.
#
# What this machine needs and why (measured here, see issue 14):
#   - runc, not crun (crun fails on this machine's hybrid cgroup layout); cgroupfs, no systemd;
#   - restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so runc cannot lower
#     oom_score_adj to the kubelet's -998 for the sandbox;
#   - a pause image built locally (hack/images --only pause): registry.k8s.io cannot be pulled;
#   - kubelet failCgroupV1: false, failSwapOn: false.
set -euo pipefail
shopt -s inherit_errexit

source "$(dirname "${BASH_SOURCE[0]}")/cluster-paths.sh"
NODE_DIR="$CLUSTER_DIR/node"
NODE_NAME="$CLUSTER_NAME-node"
# A bridge name is at most 15 characters; one per cluster, so two clusters never share one.
BRIDGE="tl$(printf '%s' "$CLUSTER_NAME" | sha256sum | cut -c1-8)"
# One /24 per cluster name, inside 10.244.0.0/16.
POD_SUBNET="10.244.$((16#$(printf '%s' "$CLUSTER_NAME" | sha256sum | cut -c1-2))).0/24"
SOCKET="$NODE_DIR/containerd.sock"

log() { echo "node.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}
tool() { "$REPO_ROOT/hack/tools.sh" "$1"; }
ctr_() { ctr --address "$SOCKET" -n k8s.io "$@"; }

# ensure_packages installs the Debian packages of the runtime when missing, as root.
ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  ((${#missing[@]} == 0)) && return 0
  log "installing ${missing[*]} (Debian packages)…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; } ||
    die "could not install ${missing[*]}: the real node needs them (apt-get install ${missing[*]})"
}

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    ss -Hltn "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}

write_configs() {
  mkdir -p "$NODE_DIR"/{containerd,cni/net.d,cni/ipam,kubelet,logs,images}
  cat >"$NODE_DIR/containerd.toml" <<EOF
# Written by hack/node.sh.
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
[grpc]
  address = "$SOCKET"
[ttrpc]
  address = "$SOCKET.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
EOF
  cat >"$NODE_DIR/cni/net.d/10-telemetrylake.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$BRIDGE",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$NODE_DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
  cat >"$NODE_DIR/kubelet.yaml" <<EOF
# Written by hack/node.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $(free_port)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(free_port)
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podCIDR: $POD_SUBNET
containerRuntimeEndpoint: unix://$SOCKET
resolvConf: /etc/resolv.conf
# The development machine's disk is not the node's to manage: no eviction, no image GC.
evictionHard: {}
imageGCHighThresholdPercent: 100
registerNode: true
EOF
}

wait_for() {
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${seconds}s; logs in $NODE_DIR/logs"
    sleep 0.2
  done
}

start() { # start NAME CMD...: a daemon in its own session, its pid in NODE_DIR/NAME.pid
  local name="$1"
  shift
  setsid "$@" >"$NODE_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/$name.pid"
}

up() {
  local start_time=$SECONDS
  [[ $EUID -eq 0 ]] || die "the real node needs root: containerd and runc make namespaces, mounts, a bridge and iptables rules"
  [[ -f "$KUBECONFIG_PATH" ]] || die "cluster $CLUSTER_NAME is not up; run hack/cluster.sh up first"
  ensure_packages
  local kubelet kube_proxy
  kubelet="$(tool kubelet)"
  kube_proxy="$(tool kube-proxy)"
  local tag
  tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$REPO_ROOT/charts/telemetrylake-operator/Chart.yaml")"
  PAUSE_IMAGE="ghcr.io/telemetrylake/pause:$tag"
  write_configs

  log "building the images (pause, ingester, lakehouse)…"
  (cd "$REPO_ROOT" && go run ./hack/images --out "$NODE_DIR/images" --only pause,ingester,lakehouse --tag "$tag" \
    --revision "$(git rev-parse HEAD 2>/dev/null || echo unknown)" --source-date-epoch "$(git log -1 --format=%ct 2>/dev/null || echo 0)" >&2)

  log "starting containerd…"
  start containerd containerd --config "$NODE_DIR/containerd.toml"
  wait_for containerd 30 ctr_ version
  local archive
  for archive in "$NODE_DIR"/images/*.tar; do
    ctr_ images import "$archive" >&2
  done

  log "starting kubelet and kube-proxy (node $NODE_NAME, pods in $POD_SUBNET on bridge $BRIDGE)…"
  start kubelet "$kubelet" --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$KUBECONFIG_PATH" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" --hostname-override "$NODE_NAME" \
    --node-ip 127.0.0.1 --node-labels "telemetrylake.io/real-node=true"
  start kube-proxy "$kube_proxy" --kubeconfig "$KUBECONFIG_PATH" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$POD_SUBNET" --bind-address 127.0.0.1 \
    --healthz-bind-address "127.0.0.1:$(free_port)" --metrics-bind-address "127.0.0.1:$(free_port)"
  wait_for "node $NODE_NAME" 90 bash -c "KUBECONFIG='$KUBECONFIG_PATH' '$(tool kubectl)' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -q True"
  log "node $NODE_NAME is Ready in $((SECONDS - start_time))s"
  echo "$NODE_NAME"
}

stop_pidfile() {
  local f="$NODE_DIR/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(<"$f")"
  if kill -TERM "$pid" 2>/dev/null; then
    local deadline=$((SECONDS + 15))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# remove_kubelet_chains removes what the kubelet adds to iptables and ip6tables: KUBE-FIREWALL
# (whose rule drops connections to 127.0.0.0/8 from other sources, for the whole machine),
# KUBE-KUBELET-CANARY and KUBE-IPTABLES-HINT.
remove_kubelet_chains() {
  local cmd table hook
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for hook in INPUT OUTPUT; do
      while "$cmd" -D "$hook" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    "$cmd" -F KUBE-FIREWALL 2>/dev/null && "$cmd" -X KUBE-FIREWALL 2>/dev/null || true
    for table in filter nat mangle; do
      "$cmd" -t "$table" -X KUBE-KUBELET-CANARY 2>/dev/null || true
      "$cmd" -t "$table" -X KUBE-IPTABLES-HINT 2>/dev/null || true
    done
  done
}

down() {
  [[ -d "$NODE_DIR" ]] || return 0
  local start_time=$SECONDS kubectl
  kubectl="$(tool kubectl)"
  log "stopping node $NODE_NAME…"
  # First through the API, so that the kubelet stops each pod as it would anywhere: containers,
  # then the sandbox, whose network the runtime releases through CNI (veth, IP, iptables rules).
  # Cordoned first, or a ReplicaSet's replacement pods would land on the node again.
  if [[ -f "$KUBECONFIG_PATH" ]] && KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" get node "$NODE_NAME" >/dev/null 2>&1; then
    KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" cordon "$NODE_NAME" >/dev/null 2>&1 || true
    KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" \
      --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 60))
    while [[ -S "$SOCKET" && -n "$(ctr_ tasks ls -q 2>/dev/null)" ]] && ((SECONDS < deadline)); do sleep 0.5; done
    KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  stop_pidfile kubelet
  stop_pidfile kube-proxy
  if [[ -S "$SOCKET" ]]; then
    # Whatever the kubelet did not stop (the API server was gone): kill, then delete, each task.
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
    sleep 0.5
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop_pidfile containerd
  # A shim outlives containerd; end those of this node only (their command line names its socket).
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCKET" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  # kube-proxy's own chains (KUBE-…), and the kubelet's, which nothing else removes.
  "$(tool kube-proxy)" --cleanup >/dev/null 2>&1 || true
  remove_kubelet_chains
  # Masquerade rules the bridge plugin left for this network only (commented with its name).
  local rule chain
  while read -r rule; do
    chain="${rule##* -j }"
    eval "iptables -t nat ${rule/-A POSTROUTING/-D POSTROUTING}" 2>/dev/null || true
    iptables -t nat -F "$chain" 2>/dev/null || true
    iptables -t nat -X "$chain" 2>/dev/null || true
  done < <(iptables -t nat -S POSTROUTING 2>/dev/null | grep -F "name: \\\"$BRIDGE\\\"" || true)
  ip link delete "$BRIDGE" 2>/dev/null || true
  # Mounts under the node's directory (overlay roots, tmpfs Secrets), deepest first.
  local m
  for m in $(awk -v d="$NODE_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$NODE_DIR"
  log "node $NODE_NAME removed in $((SECONDS - start_time))s"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  remove-kubelet-chains) remove_kubelet_chains ;;
  *)
    echo "usage: $0 up|down   (CLUSTER_NAME=$CLUSTER_NAME)" >&2
    exit 2
    ;;
esac
