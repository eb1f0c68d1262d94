#!/usr/bin/env bash
# hack/node.sh — one real node for the local cluster of hack/cluster.sh: containerd (Debian) with
# runc and the CNI bridge, a kubelet and kube-proxy built from the Go module proxy, and the images
# of `make images` imported. kwok keeps simulating the other nodes.
#
# Usage:
#   hack/node.sh up         start the node (the cluster must be up), print its name
#   hack/node.sh down       stop it and remove everything it made: processes, containers, mounts,
#                           the bridge, its iptables chains, its /etc/hosts lines, its state
#   hack/node.sh host-ip    print the host's address on the node's bridge: the one address
#                           besides 127.0.0.1 that both this machine and the node's pods reach
#                           (the demo's and the e2e's SeaweedFS listen there)
#   hack/node.sh placement  print, as JSON, the nodeSelector and tolerations that put a pod on
#                           the node (a TelemetryLake's spec.ingester takes them as they are)
#   hack/node.sh inspect NAMESPACE/POD
#                           print, for each running container of the pod, what the kernel says
#                           its process runs as: "CONTAINER uid=… gid=… capeff=… root=ro|rw pid=…"
#   hack/node.sh logs NAMESPACE/POD
#                           print the log of each container of the pod, from the kubelet's files
#                           (the API server cannot reach this kubelet, which listens on 127.0.0.1)
#   hack/node.sh leftovers  print what of this cluster's node is still on the machine after
#                           `down`, one thing per line, and fail if anything is (the e2e's check)
#   hack/node.sh hosts      write each Service's name (<svc>.<ns>.svc and …svc.cluster.local) and
#                           ClusterIP into /etc/hosts, so this machine reaches a Service by the
#                           name a token Secret's OTEL_EXPORTER_OTLP_ENDPOINT gives, through
#                           kube-proxy, as a pod would; again after Services change
#
# Environment: CLUSTER_NAME and CLUSTER_DIR as for hack/cluster.sh; CLUSTER_SERVICE_CIDR, the
# Services' range, routed to the bridge so this machine reaches ClusterIPs even without a default
# route.
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
# One /24 per cluster name, inside 10.244.0.0/16; the host is .1 on it, the pods' gateway.
POD_NET="10.244.$((16#$(printf '%s' "$CLUSTER_NAME" | sha256sum | cut -c1-2)))"
POD_SUBNET="$POD_NET.0/24"
HOST_IP="$POD_NET.1"
CLUSTER_SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-10.0.0.0/24}"
# The node's label and taint: the taint keeps every pod that does not ask for the node off it
# (the Helm chart's operator pod in the e2e, the scale bench's thousands), the label selects it.
NODE_LABEL_KEY=telemetrylake.io/real-node
# /etc/hosts lines of this cluster sit between these two.
HOSTS_BEGIN="# BEGIN Services of cluster $CLUSTER_NAME (hack/node.sh hosts; removed by hack/node.sh down)"
HOSTS_END="# END Services of cluster $CLUSTER_NAME"
# Not under NODE_DIR: a Unix socket's path has at most 107 bytes, and CLUSTER_DIR may be long (a
# test's temporary directory). One directory per bridge, so per cluster; `down` removes it.
SOCKET_DIR="/run/telemetrylake/$BRIDGE"
SOCKET="$SOCKET_DIR/containerd.sock"

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
  mkdir -p "$NODE_DIR"/{containerd,cni/net.d,cni/ipam,kubelet,logs,images} "$SOCKET_DIR"
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
# Containers' logs under the node's directory, which \`down\` removes, not in /var/log/pods.
podLogsDir: $NODE_DIR/logs/pods
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

running() { [[ -f "$NODE_DIR/$1.pid" ]] && kill -0 "$(<"$NODE_DIR/$1.pid")" 2>/dev/null; }

build_images() {
  log "building the images (pause, ingester, lakehouse)…"
  local start=$SECONDS
  (cd "$REPO_ROOT" && go run ./hack/images --out "$NODE_DIR/images" --only pause,ingester,lakehouse --host-platform-only --tag "$1" \
    --revision "$(git rev-parse HEAD 2>/dev/null || echo unknown)" --source-date-epoch "$(git log -1 --format=%ct 2>/dev/null || echo 0)" >&2)
  log "images built in $((SECONDS - start))s"
}

import_images() {
  local archive
  for archive in "$NODE_DIR"/images/*.tar; do
    ctr_ images import "$archive" >&2
  done
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
  if running containerd && running kubelet && running kube-proxy; then
    # Again (make demo twice): the node stays; the images are those of the source as it is now.
    # Pods keep the image they started with until they are replaced.
    log "node $NODE_NAME: already running; importing the images as built now"
    build_images "$tag"
    import_images
    echo "$NODE_NAME"
    return
  fi
  # Half a node (say, the kubelet died): start over rather than guess.
  [[ -d "$NODE_DIR" ]] && down
  write_configs
  # The kubelet makes /var/lib/kubelet/device-plugins whatever its --root-dir; `down` removes
  # it again only if this node made it.
  [[ -e /var/lib/kubelet ]] || touch "$NODE_DIR/made-var-lib-kubelet"
  build_images "$tag"

  # The bridge exists before any pod, with the host's address on it, so that servers for the pods
  # (SeaweedFS) can listen on HOST_IP from the start; the CNI bridge plugin adopts it as it is.
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr replace "$HOST_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # ClusterIPs through the bridge: kube-proxy rewrites them to pod addresses on the way out.
  ip route replace "$CLUSTER_SERVICE_CIDR" dev "$BRIDGE" src "$HOST_IP"

  log "starting containerd…"
  start containerd containerd --config "$NODE_DIR/containerd.toml"
  wait_for containerd 30 ctr_ version
  import_images

  log "containerd up, images imported, at $((SECONDS - start_time))s"
  log "starting kubelet and kube-proxy (node $NODE_NAME, pods in $POD_SUBNET on bridge $BRIDGE)…"
  start kubelet "$kubelet" --config "$NODE_DIR/kubelet.yaml" --kubeconfig "$KUBECONFIG_PATH" \
    --root-dir "$NODE_DIR/kubelet" --cert-dir "$NODE_DIR/kubelet/pki" --hostname-override "$NODE_NAME" \
    --node-ip "$HOST_IP" --node-labels "$NODE_LABEL_KEY=true" --register-with-taints "$NODE_LABEL_KEY=true:NoSchedule"
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
  [[ -d "$NODE_DIR" ]] || { remove_hosts; rm -rf "$SOCKET_DIR"; return 0; }
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
    # Done when no task runs and no pod's veth is left on the bridge: the runtime kills a pod's
    # tasks first and releases its network (CNI DEL, then the network namespace) after.
    local deadline=$((SECONDS + 60))
    # (Not while no kubelet runs to do it: the sweep below then does.)
    while running kubelet && [[ -S "$SOCKET" ]] && [[ -n "$(ctr_ tasks ls -q 2>/dev/null)" || -n "$(ip -o link show master "$BRIDGE" 2>/dev/null)" ]] &&
      ((SECONDS < deadline)); do sleep 0.5; done
    KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  # The pods' network namespaces, from the runtime's own record of its sandboxes, for the sweep
  # below: one whose pod was stopped half-way (the API server was gone, or time ran out) is
  # otherwise left mounted under /var/run/netns.
  local netns=() id
  if [[ -S "$SOCKET" ]]; then
    for id in $(ctr_ containers ls -q 2>/dev/null); do
      netns+=($(ctr_ containers info "$id" 2>/dev/null | grep -o '/var/run/netns/cni-[0-9a-f-]*' || true))
    done
  fi
  stop_pidfile kubelet
  stop_pidfile kube-proxy
  if [[ -S "$SOCKET" ]]; then
    # Whatever the kubelet did not stop (the API server was gone): kill, then delete, each task.
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
  local ns
  for ns in $(printf '%s\n' "${netns[@]}" | sort -u); do
    [[ -e "$ns" ]] || continue
    ip netns delete "$(basename "$ns")" 2>/dev/null || { umount "$ns" 2>/dev/null; rm -f "$ns"; } || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true # and the Services' route with it
  remove_hosts
  # Mounts under the node's directory (overlay roots, tmpfs Secrets), deepest first.
  local m
  for m in $(awk -v d="$NODE_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [[ -f "$NODE_DIR/made-var-lib-kubelet" ]] && rm -rf /var/lib/kubelet
  rm -rf "$SOCKET_DIR"
  rmdir /run/telemetrylake 2>/dev/null || true
  rm -rf "$NODE_DIR"
  log "node $NODE_NAME removed in $((SECONDS - start_time))s"
}

# write_hosts BLOCK replaces this cluster's lines of /etc/hosts with BLOCK (none if empty). In
# place, not renamed over: /etc/hosts is often a bind mount.
write_hosts() {
  local kept
  kept="$(awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '$0 == b {skip = 1} !skip {print} $0 == e {skip = 0}' /etc/hosts)"
  if [[ -n "$1" ]]; then
    printf '%s\n%s\n%s\n%s\n' "$kept" "$HOSTS_BEGIN" "$1" "$HOSTS_END" >/etc/hosts
  else
    printf '%s\n' "$kept" >/etc/hosts
  fi
}

remove_hosts() { grep -qxF "$HOSTS_BEGIN" /etc/hosts 2>/dev/null && write_hosts "" || true; }

hosts() {
  [[ -f "$KUBECONFIG_PATH" ]] || die "cluster $CLUSTER_NAME is not up"
  local lines
  lines="$(KUBECONFIG="$KUBECONFIG_PATH" "$(tool kubectl)" get services --all-namespaces \
    -o jsonpath='{range .items[*]}{.spec.clusterIP} {.metadata.name}.{.metadata.namespace}.svc {.metadata.name}.{.metadata.namespace}.svc.cluster.local{"\n"}{end}' |
    grep -v '^None ' | grep -v '^ ' || true)"
  write_hosts "$lines"
  log "/etc/hosts: $(grep -c . <<<"$lines") Services of cluster $CLUSTER_NAME"
}

# inspect NAMESPACE/POD reads each container's process from /proc: its IDs, effective
# capabilities and whether its root mount is read-only, as runc made them from the pod spec.
inspect() {
  local ns="${1%%/*}" pod="${1#*/}" name id pid uid gid cap root
  [[ -n "$ns" && -n "$pod" && "$1" == */* ]] || die "usage: $0 inspect NAMESPACE/POD"
  while read -r name id; do
    [[ -n "$id" ]] || continue
    pid="$(ctr_ tasks ls 2>/dev/null | awk -v id="${id#containerd://}" '$1 == id {print $2}')"
    [[ -n "$pid" && -d "/proc/$pid" ]] || die "container $name of $1 ($id) has no running process on $NODE_NAME"
    uid="$(awk '$1 == "Uid:" {print $3}' "/proc/$pid/status")"
    gid="$(awk '$1 == "Gid:" {print $3}' "/proc/$pid/status")"
    cap="$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid/status")"
    root="$(awk '$5 == "/" {split($6, o, ","); print o[1]}' "/proc/$pid/mountinfo" | tail -n1)"
    echo "$name uid=$uid gid=$gid capeff=$cap root=$root pid=$pid"
  done < <(KUBECONFIG="$KUBECONFIG_PATH" "$(tool kubectl)" get pod -n "$ns" "$pod" \
    -o jsonpath='{range .status.containerStatuses[*]}{.name} {.containerID}{"\n"}{end}')
}

# logs NAMESPACE/POD prints the messages of the pod's CRI log files ("TIME STREAM TAG MESSAGE").
logs() {
  local ns="${1%%/*}" pod="${1#*/}" f
  [[ -n "$ns" && -n "$pod" && "$1" == */* ]] || die "usage: $0 logs NAMESPACE/POD"
  for f in "$NODE_DIR/logs/pods/${ns}_${pod}_"*/*/*.log; do
    [[ -f "$f" ]] || die "no log of $1 on $NODE_NAME"
    cut -d' ' -f4- "$f"
  done
}

# leftovers lists what `down` should have removed: processes of the node, mounts under its
# directory, its bridge, network namespaces with an address on its subnet, its sockets'
# directory and its /etc/hosts lines.
leftovers() {
  local found=() pid ns
  for pid in $(pgrep -f -- "$NODE_DIR|$SOCKET" || true); do
    [[ "$pid" == "$$" ]] || found+=("process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)")
  done
  while read -r m; do found+=("mount $m"); done < <(awk -v d="$NODE_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts)
  ip link show "$BRIDGE" >/dev/null 2>&1 && found+=("bridge $BRIDGE")
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    ip netns exec "$ns" ip -4 -o addr 2>/dev/null | grep -q " $POD_NET\." && found+=("network namespace $ns")
  done
  [[ -e "$SOCKET_DIR" ]] && found+=("directory $SOCKET_DIR")
  grep -qxF "$HOSTS_BEGIN" /etc/hosts 2>/dev/null && found+=("/etc/hosts lines")
  ((${#found[@]} == 0)) && return 0
  printf '%s\n' "${found[@]}"
  return 1
}

placement() {
  printf '{"nodeSelector":{"%s":"true"},"tolerations":[{"key":"%s","operator":"Equal","value":"true","effect":"NoSchedule"}]}\n' \
    "$NODE_LABEL_KEY" "$NODE_LABEL_KEY"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  host-ip) echo "$HOST_IP" ;;
  placement) placement ;;
  hosts) hosts ;;
  leftovers) leftovers ;;
  inspect) inspect "${2:-}" ;;
  logs) logs "${2:-}" ;;
  remove-kubelet-chains) remove_kubelet_chains ;;
  *)
    echo "usage: $0 up|down|host-ip|placement|hosts|leftovers|inspect NAMESPACE/POD|logs NAMESPACE/POD   (CLUSTER_NAME=$CLUSTER_NAME)" >&2
    exit 2
    ;;
esac
