#!/usr/bin/env bash
# hack/cluster.sh — a local Kubernetes cluster without Docker, for `make demo` and test/e2e.
#
# Usage:
#   hack/cluster.sh up           create (or resume) the cluster and its simulated nodes
#   hack/cluster.sh down         stop it and remove all of its state
#   hack/cluster.sh kubeconfig   print the path of its kubeconfig
#
# Environment:
#   CLUSTER_NAME   default telemetrylake
#   CLUSTER_DIR    all of the cluster's state; default
#                  ${XDG_STATE_HOME:-~/.local/state}/telemetrylake/clusters/$CLUSTER_NAME
#   CLUSTER_NODES  simulated nodes, default 2
#   CLUSTER_SERVICE_CIDR  the Services' IP range, default kube-apiserver's 10.0.0.0/24 (254
#                  Services: each lake has one, so make bench-operator sets a /16)
#   CLUSTER_REAL_NODE  1: also one real node (hack/node.sh: containerd, runc, CNI, kubelet,
#                  kube-proxy, the images of hack/images imported), labeled
#                  telemetrylake.io/real-node=true; needs root. `down` removes it either way.
#
# What it is: kwok's `kwokctl create cluster --runtime binary`. etcd, kube-apiserver,
# kube-controller-manager (so the real Deployment, ReplicaSet, HPA and garbage-collector
# controllers) and kube-scheduler run as local processes, and kwok-controller plays the kubelet of
# the simulated nodes: pods are scheduled and turn Running and Ready, but no container runs.
#
# kwokctl downloads its binaries from GitHub and dl.k8s.io by default, which are unreachable here,
# so every binary is given explicitly, built from the Go module proxy by hack/tools.sh. The five
# component binaries are the only downloads `create cluster` attempts with the binary runtime;
# kubectl is also set in the config, for `kwokctl kubectl`. (etcdctl, used only by
# `kwokctl snapshot` and `kwokctl etcdctl`, is not built; those commands are not used here.)
#
# Everything listens on 127.0.0.1: options.bindAddress (default 0.0.0.0) has no flag or
# environment variable, so it is set in the kwokctl config file. kwokctl picks free ports.
#
# Progress goes to stderr; `up` and `kubeconfig` print the kubeconfig path on stdout.
set -euo pipefail
shopt -s inherit_errexit

# kwokctl reads a cluster's config from $KWOK_WORKDIR/kwok.yaml unless told otherwise; one
# KWOK_WORKDIR per cluster (cluster-paths.sh) keeps every kwokctl command (create, scale, delete)
# on the same config without passing -c each time.
source "$(dirname "${BASH_SOURCE[0]}")/cluster-paths.sh"
CLUSTER_NODES="${CLUSTER_NODES:-2}"
CLUSTER_SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-10.0.0.0/24}"

log() { echo "cluster.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# die_with_logs is die for a cluster that did not come up, with the tail of each component's log.
die_with_logs() {
  local f
  for f in "$KWOK_CLUSTER_DIR"/logs/*.log; do
    [[ -f "$f" ]] || continue
    log "last lines of $f:"
    tail -n 15 "$f" >&2
  done
  die "$* (component logs in $KWOK_CLUSTER_DIR/logs)"
}

tool() { "$REPO_ROOT/hack/tools.sh" "$1"; }

# api_ready says whether the cluster's API server answers /readyz, with kubectl at $1.
api_ready() { KUBECONFIG="$KUBECONFIG_PATH" "$1" get --raw /readyz --request-timeout=2s >/dev/null 2>&1; }

# write_config writes the kwokctl configuration: loopback binds, and local binaries only.
write_config() {
  local kubectl="$1"
  mkdir -p "$KWOK_WORKDIR"
  cat >"$KWOK_WORKDIR/kwok.yaml.tmp" <<EOF
# Written by hack/cluster.sh.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
  kubectlBinary: $kubectl
# kwok-controller plays the kubelet only of its simulated nodes, which \`kwokctl scale node\`
# annotates kwok.x-k8s.io/node=fake: the binary runtime would otherwise pass --manage-all-nodes=true,
# and kwok would also write the status of a real node's pods (their podIPs), racing its kubelet.
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - key: service-cluster-ip-range
    value: $CLUSTER_SERVICE_CIDR
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false", override: true}
  - {key: manage-nodes-with-annotation-selector, value: "kwok.x-k8s.io/node=fake"}
EOF
  mv -f "$KWOK_WORKDIR/kwok.yaml.tmp" "$KWOK_WORKDIR/kwok.yaml"
}

up() {
  local start=$SECONDS
  log "cluster $CLUSTER_NAME: making sure the tools are built (first time: minutes; see hack/tools.sh)…"
  local kwokctl kubectl apiserver kcm scheduler kwok etcd
  kwokctl="$(tool kwokctl)"
  kubectl="$(tool kubectl)"
  apiserver="$(tool kube-apiserver)"
  kcm="$(tool kube-controller-manager)"
  scheduler="$(tool kube-scheduler)"
  kwok="$(tool kwok)"
  etcd="$(tool etcd)"

  mkdir -p "$CLUSTER_DIR"
  # Two `up`s at once (say, the demo and a test with the same name) must not both create it.
  # kwokctl's daemons must not inherit the lock's descriptor (hence 9>&- below), or they would
  # hold the lock for as long as the cluster runs.
  exec 9>"$CLUSTER_DIR/.lock"
  flock -x 9

  write_config "$kubectl"
  if [[ -f "$KUBECONFIG_PATH" ]] && api_ready "$kubectl"; then
    log "cluster $CLUSTER_NAME: already running (state in $CLUSTER_DIR)"
  else
    log "cluster $CLUSTER_NAME: starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok-controller on 127.0.0.1 (state in $CLUSTER_DIR)…"
  fi
  # An existing, healthy cluster is left as it is; a stopped one (after a reboot) is started again.
  # --kubeconfig "": kwokctl would otherwise add a context to ~/.kube/config and make it current.
  "$kwokctl" create cluster \
    --name "$CLUSTER_NAME" \
    --runtime binary \
    --kubeconfig "" \
    --etcd-binary "$etcd" \
    --kube-apiserver-binary "$apiserver" \
    --kube-controller-manager-binary "$kcm" \
    --kube-scheduler-binary "$scheduler" \
    --kwok-controller-binary "$kwok" \
    --wait 2m \
    --timeout 3m \
    -v WARN >&2 9>&- ||
    die_with_logs "kwokctl could not create the cluster"
  [[ -f "$KUBECONFIG_PATH" ]] || die "kwokctl made no kubeconfig at $KUBECONFIG_PATH"
  # kwokctl exits 0 even when its --wait ran out (seen once in CI: the API server never served),
  # so readiness is checked here, and a failure shows the components' own last words.
  local ready=""
  for _ in $(seq 30); do
    if api_ready "$kubectl"; then
      ready=1
      break
    fi
    sleep 2
  done
  [[ -n "$ready" ]] || die_with_logs "the API server of $CLUSTER_NAME does not answer /readyz"

  log "cluster $CLUSTER_NAME: $CLUSTER_NODES simulated nodes…"
  # scale is declarative: running it again keeps the count at CLUSTER_NODES.
  "$kwokctl" scale node --name "$CLUSTER_NAME" --replicas "$CLUSTER_NODES" -v WARN >&2 9>&-
  # Polled rather than `kubectl wait`, which fails instead of waiting while a node has no
  # conditions yet.
  local ready deadline=$((SECONDS + 60))
  while :; do
    ready="$(KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$' || true)"
    ((ready >= CLUSTER_NODES)) && break
    ((SECONDS < deadline)) ||
      die "$ready of $CLUSTER_NODES simulated nodes are Ready after 60 s; see $KWOK_CLUSTER_DIR/logs/kwok-controller.log"
    sleep 0.2
  done
  # Pods of a new namespace wait for its "default" ServiceAccount; so does every namespace the
  # demo creates, and the service-account controller is what makes them. Check it works once.
  local i
  for ((i = 0; i < 100; i++)); do
    KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" get serviceaccount default -n default >/dev/null 2>&1 && break
    sleep 0.1
  done

  if [[ "${CLUSTER_REAL_NODE:-0}" == 1 ]]; then
    CLUSTER_NAME="$CLUSTER_NAME" CLUSTER_DIR="$CLUSTER_DIR" CLUSTER_SERVICE_CIDR="$CLUSTER_SERVICE_CIDR" "$REPO_ROOT/hack/node.sh" up >/dev/null 9>&-
  fi

  local server
  server="$(KUBECONFIG="$KUBECONFIG_PATH" "$kubectl" config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  exec 9>&-
  log "cluster $CLUSTER_NAME is up in $((SECONDS - start))s: API server $server, $CLUSTER_NODES simulated nodes$([[ "${CLUSTER_REAL_NODE:-0}" == 1 ]] && echo " and one real node")"
  log "  export KUBECONFIG=$KUBECONFIG_PATH"
  echo "$KUBECONFIG_PATH"
}

down() {
  if [[ ! -d "$CLUSTER_DIR" ]]; then
    log "cluster $CLUSTER_NAME: nothing to remove ($CLUSTER_DIR does not exist)"
    return 0
  fi
  local start=$SECONDS pids=() f pid
  # kwokctl signals its processes and returns at once; collect their PIDs first, so that we can
  # wait until they are really gone and their ports free.
  for f in "$KWOK_CLUSTER_DIR"/pids/*.pid; do
    [[ -f "$f" ]] || continue
    pid="$(<"$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] && pids+=("$pid")
  done
  # The real node first, while the API server can still stop its pods the normal way (and its
  # /etc/hosts lines, which `hack/node.sh hosts` may have written without a node too).
  CLUSTER_NAME="$CLUSTER_NAME" CLUSTER_DIR="$CLUSTER_DIR" "$REPO_ROOT/hack/node.sh" down
  if [[ -f "$KWOK_WORKDIR/kwok.yaml" && -d "$KWOK_CLUSTER_DIR" ]]; then
    log "cluster $CLUSTER_NAME: stopping…"
    "$(tool kwokctl)" delete cluster --name "$CLUSTER_NAME" -v WARN >&2 ||
      log "kwokctl delete cluster failed; stopping the processes directly"
  fi
  local deadline=$((SECONDS + 15))
  for pid in "${pids[@]}"; do
    # Only a process still running a binary of this cluster: the PID may have been reused.
    while [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$KWOK_CLUSTER_DIR"* ]]; do
      if ((SECONDS >= deadline)); then
        log "process $pid did not stop; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
        break
      fi
      kill -TERM "$pid" 2>/dev/null || true
      sleep 0.1
    done
  done
  rm -rf "$CLUSTER_DIR"
  # The default parent directories too, once nothing else is in them.
  rmdir "$DEFAULT_CLUSTERS_DIR" "$(dirname "$DEFAULT_CLUSTERS_DIR")" 2>/dev/null || true
  log "cluster $CLUSTER_NAME removed in $((SECONDS - start))s"
}

kubeconfig() {
  [[ -f "$KUBECONFIG_PATH" ]] || die "cluster $CLUSTER_NAME is not up (no $KUBECONFIG_PATH); run: hack/cluster.sh up"
  echo "$KUBECONFIG_PATH"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kubeconfig) kubeconfig ;;
  *)
    echo "usage: $0 up|down|kubeconfig   (CLUSTER_NAME=$CLUSTER_NAME, CLUSTER_DIR=$CLUSTER_DIR)" >&2
    exit 2
    ;;
esac
