# hack/cluster-paths.sh — where a local cluster keeps its state, for the scripts that run it
# (cluster.sh, node.sh). Sourced, not run. The one home of these names: change them here.
#   CLUSTER_NAME   default telemetrylake
#   CLUSTER_DIR    all of the cluster's state; default
#                  ${XDG_STATE_HOME:-~/.local/state}/telemetrylake/clusters/$CLUSTER_NAME
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_NAME="${CLUSTER_NAME:-telemetrylake}"
DEFAULT_CLUSTERS_DIR="${XDG_STATE_HOME:-$HOME/.local/state}/telemetrylake/clusters"
CLUSTER_DIR="${CLUSTER_DIR:-$DEFAULT_CLUSTERS_DIR/$CLUSTER_NAME}"
# kwokctl keeps each cluster under $KWOK_WORKDIR/clusters/<name>.
export KWOK_WORKDIR="$CLUSTER_DIR/kwok"
KWOK_CLUSTER_DIR="$KWOK_WORKDIR/clusters/$CLUSTER_NAME"
KUBECONFIG_PATH="$KWOK_CLUSTER_DIR/kubeconfig.yaml"
