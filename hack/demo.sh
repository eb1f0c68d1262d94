#!/usr/bin/env bash
# hack/demo.sh — from clone to "my tenant's telemetry landed in its bucket", on one machine, with
# no Docker. `make demo` runs `hack/demo.sh up`; `make demo-down` runs `hack/demo.sh down`.
#
#   up    1. the local cluster (hack/cluster.sh: kwok, real control plane, simulated nodes) with
#            one real node (hack/node.sh: containerd, runc, kubelet, kube-proxy; the images of
#            `make images` imported);
#         2. SeaweedFS (`weed mini`) with its IAM API and random admin keys, on the host's address
#            on the node's bridge, which the pods reach too;
#         3. the CRDs, and the operator built from this repository and run locally;
#         4. the admin Secret, the sample LakeStorageClass and the two sample TelemetryLakes
#            (config/samples/, placed on the real node), then waits until both lakes are Ready:
#            their ingester pods run from the ingester image on the real node.
#         Then it sends logs, metrics and traces with the OpenTelemetry SDK (cmd/democlient), its
#         environment exactly the token Secret's, through each tenant's Service; shows what
#         landed in the tenant's bucket, that tenant A's token is refused by tenant B, runs the
#         lakehouse CronJob once from its image, and answers SQL.
#         Everything stays up for exploring; running `up` again restarts the operator and reuses
#         the rest.
#   down  stops every process `up` started, deletes the cluster and the node, and removes all
#         demo data.
#
# Environment: DEMO_DIR (default ${XDG_STATE_HOME:-~/.local/state}/telemetrylake/demo) holds the
# demo's state: logs, PIDs, ports, SeaweedFS data. CLUSTER_NAME / CLUSTER_DIR as in
# hack/cluster.sh (default cluster: telemetrylake-demo). It needs root, for the real node.
# Everything listens on 127.0.0.1, but SeaweedFS and the pods, on the node's bridge (10.244.x.0/24),
# which only this machine routes to.
set -Eeuo pipefail
shopt -s inherit_errexit

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
DEFAULT_DEMO_DIR="${XDG_STATE_HOME:-$HOME/.local/state}/telemetrylake/demo"
DEMO_DIR="${DEMO_DIR:-$DEFAULT_DEMO_DIR}"
export CLUSTER_NAME="${CLUSTER_NAME:-telemetrylake-demo}"
STATE_FILE="$DEMO_DIR/state.env"
PID_DIR="$DEMO_DIR/pids"

# The operator's namespace, the admin Secret the sample LakeStorageClass names, and the endpoint
# the sample names (replaced by SeaweedFS's real one).
OPERATOR_NAMESPACE=telemetrylake-system
ADMIN_SECRET=lake-admin
SAMPLE_ENDPOINT=http://127.0.0.1:8333
# The sample tenants, as namespace/name, and the token each sends with (spec.auth.tokens[].name).
TENANTS=(team-a/team-a team-b/team-b)
TOKEN_NAME=claude

if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
export CGO_ENABLED="${CGO_ENABLED:-0}"

# --- output --------------------------------------------------------------------------------------

STEP="starting"
BOLD="" PLAIN=""
if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi
step() {
  STEP="$*"
  printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"
}
say() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }
die() {
  printf '\ndemo: error: %s\n' "$*" >&2
  failed 1
}
on_error() { failed $?; }
failed() {
  # Once, from the main shell: a failure in a $(…) or a pipeline reaches it too.
  if ((BASH_SUBSHELL == 0)); then
    printf '\ndemo: failed during "%s". Logs are in %s/logs.\n' "$STEP" "$DEMO_DIR" >&2
    printf 'demo: everything started so far is still running; "make demo-down" removes it all.\n' >&2
  fi
  exit "$1"
}

# --- processes -----------------------------------------------------------------------------------
#
# Every long-running process is started in its own session (so Ctrl-C on make or the end of make
# does not touch it), with its output in a log file, and its PID and program recorded in
# $PID_DIR/<name>.pid. `down` stops exactly those PIDs, and only while their command line still
# names that program, so a PID reused by an unrelated process after a reboot is never signalled.

# start_process NAME LOGFILE PROGRAM COMMAND... runs COMMAND (which runs PROGRAM, an absolute path,
# possibly through env) in the background.
start_process() {
  local name="$1" logfile="$2" program="$3"
  shift 3
  mkdir -p "$PID_DIR" "$(dirname "$logfile")"
  printf '=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"
  # Not a process-group leader (no job control here), so setsid execs in place: $! is the PID of
  # the program itself once env has exec'd it in turn.
  setsid "$@" </dev/null >>"$logfile" 2>&1 &
  echo "$! $program" >"$PID_DIR/$name.pid"
}

# running NAME succeeds if the process recorded as NAME is alive and runs its program.
running() {
  local f="$PID_DIR/$1.pid" pid program
  [[ -f "$f" ]] || return 1
  read -r pid program <"$f"
  [[ -r "/proc/$pid/cmdline" ]] && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$program"
}

pid_of() { cut -d' ' -f1 "$PID_DIR/$1.pid"; }

# stop_processes NAME... sends SIGTERM to each, then waits for all of them (the ingesters keep
# serving for their shutdownDelay first), and SIGKILLs what is left after 20 s.
stop_processes() {
  local name pid waiting=()
  for name in "$@"; do
    if running "$name"; then
      pid="$(pid_of "$name")"
      kill -TERM "$pid" 2>/dev/null || true
      waiting+=("$name")
    fi
  done
  local deadline=$((SECONDS + 20))
  for name in "${waiting[@]}"; do
    while running "$name"; do
      if ((SECONDS >= deadline)); then
        pid="$(pid_of "$name")"
        say "$name (PID $pid) did not stop within 20 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
        break
      fi
      sleep 0.1
    done
    say "stopped $name"
  done
  for name in "$@"; do rm -f "$PID_DIR/$name.pid"; done
}

# --- ports ---------------------------------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The ports picked in this run: nothing listens on them until their process starts, so they must
# not be handed out twice.
PICKED=" "
# pick_port VAR [PREFERRED] sets VAR to a port that nothing listens on: PREFERRED if it is free,
# else a random one below the kernel's ephemeral range and below kwok's own picks (it counts down
# from 32767). It sets a variable rather than printing, since $(pick_port) would pick in a
# subshell and forget the pick.
pick_port() {
  local p="${2:-}" i
  if [[ -n "$p" && "$PICKED" != *" $p "* ]] && port_free "$p"; then
    PICKED+="$p "
    printf -v "$1" '%s' "$p"
    return
  fi
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + RANDOM % 10000))
    if [[ "$PICKED" != *" $p "* ]] && port_free "$p"; then
      PICKED+="$p "
      printf -v "$1" '%s' "$p"
      return
    fi
  done
  die "found no free port on 127.0.0.1"
}

# random_string CLASS N prints N random characters of the tr class CLASS.
random_string() {
  local s
  s="$(LC_ALL=C tr -dc "$1" < <(head -c 4096 /dev/urandom))"
  echo "${s:0:$2}"
}

wait_http() { # wait_http URL SECONDS WHAT LOG
  local url="$1" deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || die "$3 did not answer $url within $2 s; see $4"
    sleep 0.2
  done
}

# --- state ---------------------------------------------------------------------------------------
#
# state.env keeps what must survive between runs: SeaweedFS's admin keys (its data and the
# tenants' IAM users are only valid with them), its ports, and the UID of the cluster they belong
# to. A new cluster gets a new SeaweedFS, since the old one holds tenants the new cluster does not.

save_state() {
  mkdir -p "$DEMO_DIR"
  {
    echo "# Written by hack/demo.sh."
    local v
    for v in CLUSTER_UID S3_ACCESS_KEY S3_SECRET_KEY "${!WEED_PORT_@}"; do
      printf '%s=%q\n' "$v" "${!v}"
    done
  } >"$STATE_FILE.tmp"
  chmod 600 "$STATE_FILE.tmp"
  mv -f "$STATE_FILE.tmp" "$STATE_FILE"
}

# --- the steps -----------------------------------------------------------------------------------

KUBECTL=""
kubectl() { "$KUBECTL" "$@"; }

cluster_up() {
  step "[1/9] Local cluster ($CLUSTER_NAME) with one real node"
  local start=$SECONDS
  ((EUID == 0)) || die "the demo runs its tenants' pods on a real node (containerd, runc, a bridge, iptables), which needs root"
  CLUSTER_REAL_NODE=1 hack/cluster.sh up 2>&1 >"$DEMO_DIR/kubeconfig-path" | indent
  KUBECONFIG="$(<"$DEMO_DIR/kubeconfig-path")"
  export KUBECONFIG
  KUBECTL="$(hack/tools.sh kubectl)"
  CLUSTER_UID="$(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')"
  HOST_IP="$(hack/node.sh host-ip)"
  kubectl get nodes -o wide | indent
  say "kubeconfig: $KUBECONFIG ($((SECONDS - start)) s)"
}

# SeaweedFS: `weed mini` runs master, volume, filer and the S3 gateway with the embedded IAM API in
# one process. Its flags are those of test/harness/seaweedfs.go, which explains each.
WEED_FLAGS=(master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc
  s3.port s3.port.grpc admin.port admin.port.grpc)

seaweedfs_up() {
  step "[2/9] SeaweedFS with IAM on $HOST_IP (the host's address on the node's bridge)"
  local weed start=$SECONDS
  weed="$(hack/tools.sh weed)"
  local data="$DEMO_DIR/seaweedfs" current_uid="$CLUSTER_UID" known_uid=""
  if [[ -f "$STATE_FILE" ]]; then
    # shellcheck disable=SC1090
    source "$STATE_FILE"
    known_uid="$CLUSTER_UID"
    CLUSTER_UID="$current_uid"
  fi
  if [[ -z "${S3_ACCESS_KEY:-}" || "$known_uid" != "$CLUSTER_UID" || "${S3_ENDPOINT:-}" != "http://$HOST_IP:"* ]]; then
    if running seaweedfs || [[ -d "$data" ]]; then
      say "the cluster is new: starting SeaweedFS afresh"
      stop_processes seaweedfs
      rm -rf "$data"
    fi
    S3_ACCESS_KEY="AK$(random_string 'A-Z0-9' 18)"
    S3_SECRET_KEY="$(random_string 'A-Za-z0-9' 40)"
    local f var
    for f in "${WEED_FLAGS[@]}"; do
      var="WEED_PORT_${f//./_}"
      # The S3 port of the sample LakeStorageClass when it is free, so the sample applies as is.
      if [[ "$f" == s3.port ]]; then pick_port "$var" 8333; else pick_port "$var"; fi
    done
  fi
  # shellcheck disable=SC2154 # set through printf -v above, or by state.env
  S3_ENDPOINT="http://$HOST_IP:$WEED_PORT_s3_port"
  save_state

  if running seaweedfs; then
    say "already running (PID $(pid_of seaweedfs))"
  else
    mkdir -p "$data/data" "$data/home" "$data/sock"
    local args=(-logtostderr "-config_dir=$data/home" mini "-dir=$data/data"
      "-ip=$HOST_IP" "-ip.bind=$HOST_IP" -s3.iam.readOnly=false -master.telemetry=false
      -webdav=false -admin.ui=false -admin.port.legacy=0 -s3.port.iceberg=0 -s3.port.lance=0
      "-filer.localSocket=$data/sock/filer.sock" "-s3.localSocket=$data/sock/s3.sock")
    local f var
    for f in "${WEED_FLAGS[@]}"; do
      var="WEED_PORT_${f//./_}"
      port_free "${!var}" || die "port ${!var} for weed -$f is taken; run make demo-down, then make demo"
      args+=("-$f=${!var}")
    done
    # weed takes its admin identity from AWS_* and reads ~/.seaweedfs/*.toml: give it a clean
    # environment of its own.
    (cd "$data/data" && start_process seaweedfs "$DEMO_DIR/logs/seaweedfs.log" "$weed" \
      env -i PATH="$PATH" HOME="$data/home" AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
      "$weed" "${args[@]}")
  fi
  # Ready when an authenticated ListBuckets succeeds (an anonymous request is refused with 403).
  local deadline=$((SECONDS + 90))
  until curl -fsS -o /dev/null --max-time 3 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$S3_ENDPOINT/" 2>/dev/null; do
    running seaweedfs || die "weed exited; see $DEMO_DIR/logs/seaweedfs.log"
    ((SECONDS < deadline)) || die "SeaweedFS did not answer S3 at $S3_ENDPOINT within 90 s; see $DEMO_DIR/logs/seaweedfs.log"
    sleep 0.3
  done
  say "S3 and IAM at $S3_ENDPOINT, admin key $S3_ACCESS_KEY ($((SECONDS - start)) s; log: $DEMO_DIR/logs/seaweedfs.log)"
}

operator_up() {
  step "[3/9] CRDs and the operator (built from this repository, run locally)"
  local start=$SECONDS
  kubectl apply --server-side --field-manager=telemetrylake-demo -k config/crd | indent
  # Not `kubectl wait --for=condition=Established`: it fails, rather than waits, while a new CRD
  # has no conditions yet.
  local crd deadline=$((SECONDS + 60))
  for crd in telemetrylakes.lake.telemetrylake.io lakestorageclasses.lake.telemetrylake.io; do
    until [[ "$(kubectl get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" == True ]]; do
      ((SECONDS < deadline)) || die "CRD $crd is not Established after 60 s"
      sleep 0.2
    done
  done
  say "go build -o bin/ ./cmd/...   (manager, ingester, democlient)"
  go build -o bin/ ./cmd/...
  # The demo's own helper (test/tenant, as the e2e test reads a lake's Secrets), not a product binary.
  go build -o bin/tenantenv ./hack/tenantenv
  say "cd lakehouse && CGO_ENABLED=1 go build -tags duckdb_arrow -o ../bin/lakehouse ./cmd/lakehouse   (DuckDB inside)"
  (cd lakehouse && CGO_ENABLED=1 go build -tags duckdb_arrow -o ../bin/lakehouse ./cmd/lakehouse)

  stop_processes operator >/dev/null
  local metrics probe
  pick_port metrics
  pick_port probe
  start_process operator "$DEMO_DIR/logs/operator.log" "$REPO_ROOT/bin/manager" \
    env KUBECONFIG="$KUBECONFIG" "$REPO_ROOT/bin/manager" \
    --operator-namespace "$OPERATOR_NAMESPACE" \
    --metrics-bind-address "127.0.0.1:$metrics" \
    --health-probe-bind-address "127.0.0.1:$probe"
  wait_http "http://127.0.0.1:$probe/readyz" 60 "the operator" "$DEMO_DIR/logs/operator.log"
  say "bin/manager --operator-namespace $OPERATOR_NAMESPACE (PID $(pid_of operator); metrics on 127.0.0.1:$metrics; log: $DEMO_DIR/logs/operator.log) ($((SECONDS - start)) s)"
}

tenants_up() {
  step "[4/9] Admin Secret, LakeStorageClass and two TelemetryLakes (config/samples/, on the real node)"
  local start=$SECONDS ns
  for ns in "$OPERATOR_NAMESPACE" "${TENANTS[@]%%/*}"; do
    kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  done
  kubectl create secret generic "$ADMIN_SECRET" -n "$OPERATOR_NAMESPACE" \
    --from-literal=AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" --from-literal=AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" \
    --dry-run=client -o yaml | kubectl apply -f - | indent
  # The samples as they are, but for the lakes' spec.ingester nodeSelector and tolerations of the
  # real node (hack/node.sh placement), which the operator gives the lake's every pod.
  local samples overlay="$DEMO_DIR/samples"
  mkdir -p "$overlay"
  cat >"$overlay/kustomization.yaml" <<EOF
# Written by hack/demo.sh: config/samples/, with each lake's pods placed on the real node.
resources:
- $(realpath --relative-to="$overlay" config/samples)
patches:
- target: {kind: TelemetryLake}
  patch: '{"apiVersion": "lake.telemetrylake.io/v1alpha1", "kind": "TelemetryLake", "metadata": {"name": "any"}, "spec": {"ingester": $(hack/node.sh placement)}}'
EOF
  say "spec.ingester of each lake, added to the samples: $(hack/node.sh placement)"
  samples="$(kubectl kustomize "$overlay")"
  [[ "$samples" == *"$SAMPLE_ENDPOINT"* ]] ||
    die "config/samples no longer names the endpoint $SAMPLE_ENDPOINT; update SAMPLE_ENDPOINT in hack/demo.sh"
  if [[ "$S3_ENDPOINT" != "$SAMPLE_ENDPOINT" ]]; then
    say "(the sample LakeStorageClass names $SAMPLE_ENDPOINT; applied with SeaweedFS's $S3_ENDPOINT instead)"
  fi
  kubectl apply -f - <<<"${samples//"$SAMPLE_ENDPOINT"/"$S3_ENDPOINT"}" | indent

  say "waiting for both lakes to be Ready (the operator provisions a bucket and an IAM user each; the real node runs the pods)…"
  local t name deadline=$((SECONDS + 180)) status gen observed cond_observed ready
  for t in "${TENANTS[@]}"; do
    ns="${t%%/*}" name="${t#*/}"
    while :; do
      # Ready for the current generation, on the object and on the condition.
      status="$(kubectl get tl "$name" -n "$ns" -o jsonpath='{.metadata.generation}|{.status.observedGeneration}|{.status.conditions[?(@.type=="Ready")].observedGeneration}|{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
      IFS='|' read -r gen observed cond_observed ready <<<"$status"
      [[ "$ready" == True && "$observed" == "$gen" && "$cond_observed" == "$gen" ]] && break
      if ((SECONDS >= deadline)); then
        kubectl get tl "$name" -n "$ns" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>&1 | indent >&2 || true
        die "TelemetryLake $ns/$name is not Ready after 180 s; see $DEMO_DIR/logs/operator.log"
      fi
      sleep 0.5
    done
  done
  kubectl get tl -A | indent
  kubectl get deployments,pods -A -l app.kubernetes.io/managed-by=telemetrylake-operator | indent
  say "($((SECONDS - start)) s)"
}

# tenantenv NAMESPACE/NAME COMMAND... prints what the operator created for a tenant, as its pods
# get it (hack/tenantenv, on test/tenant: the Go code the e2e test reads the same Secrets with, so
# no Secret name is derived and no YAML parsed here).
tenantenv() { "$REPO_ROOT/bin/tenantenv" "$@"; }

# tenant_storage NAMESPACE NAME prints the store URL the operator rendered into the tenant's
# ingester config.
tenant_storage() { tenantenv "$1/$2" storage; }

# as_tenant NAMESPACE NAME COMMAND... runs COMMAND with the tenant's own storage credentials, from
# its storage Secret, as its pods get them.
as_tenant() {
  local ns=$1 name=$2 creds=()
  shift 2
  mapfile -t creds < <(tenantenv "$ns/$name" storage-env)
  ((${#creds[@]})) || die "no storage credentials for $ns/$name"
  env "${creds[@]}" "$@"
}

# token_value NAMESPACE NAME KEY prints one key of the tenant's token Secret.
token_value() {
  local kv
  while IFS= read -r kv; do
    if [[ "$kv" == "$3="* ]]; then
      printf '%s\n' "${kv#*=}"
      return
    fi
  done < <(tenantenv "$1/$2" token-env "$TOKEN_NAME")
  die "the token Secret of $1/$2 has no $3"
}

# pods_of NAMESPACE NAME COMPONENT prints "POD IP METRICS-PORT" of each Running pod of the lake's
# COMPONENT.
pods_of() {
  kubectl get pods -n "$1" -l "app.kubernetes.io/instance=$2,app.kubernetes.io/component=$3" \
    --field-selector status.phase=Running \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP} {.spec.containers[0].ports[?(@.name=="metrics")].containerPort}{"\n"}{end}'
}

pods_shown() {
  step "[5/9] Each tenant's ingester pods: Running on the real node, from the ingester image"
  kubectl get pods -A -l app.kubernetes.io/managed-by=telemetrylake-operator -o wide | indent
  say ""
  say "What each ingester container runs as, read from /proc by hack/node.sh inspect:"
  local t ns name pod ip image _
  for t in "${TENANTS[@]}"; do
    ns="${t%%/*}" name="${t#*/}"
    while read -r pod ip _; do
      image="$(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.status.containerStatuses[0].image} {.status.containerStatuses[0].imageID}')"
      say "  $ns/$pod ($ip): $(hack/node.sh inspect "$ns/$pod")"
      say "      image $image"
    done < <(pods_of "$ns" "$name" ingester)
  done
}

# The token Secret's endpoint names the Service (http://<lake>-ingester.<ns>.svc:4318/…), as a pod
# of the cluster would use it. This machine has no cluster DNS, so hack/node.sh writes each
# Service's ClusterIP under that name into /etc/hosts; kube-proxy does the rest, as for a pod.
services_reachable() {
  hack/node.sh hosts 2>&1 | indent
}

send_telemetry() {
  local ns="$1" name="$2" secret endpoint
  secret="$(tenantenv "$ns/$name" secret "token:$TOKEN_NAME")"
  endpoint="$(token_value "$ns" "$name" OTEL_EXPORTER_OTLP_ENDPOINT)"
  local env=()
  mapfile -t env < <(tenantenv "$ns/$name" token-env "$TOKEN_NAME")
  ((${#env[@]})) || die "no environment from Secret $ns/$secret"
  local host="${endpoint#*://}"
  host="${host%%[:/]*}"
  say "$ns/$name: environment from Secret $secret, as envFrom gives it:"
  local kv
  for kv in "${env[@]}"; do
    case "$kv" in
      OTEL_EXPORTER_OTLP_ENDPOINT=*) say "  ${kv}   ($host → ClusterIP $(getent hosts "$host" | awk '{print $1}'), through kube-proxy)" ;;
      OTEL_EXPORTER_OTLP_HEADERS=*) say "  OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer tlk_…" ;;
      *) say "  ${kv%%=*}=…" ;;
    esac
  done
  # A clean environment, as a pod has: nothing of the caller's OTEL_* settings leaks in.
  env -i PATH="$PATH" HOME="$HOME" "${env[@]}" "$REPO_ROOT/bin/democlient" | indent
}

show_results() {
  local t ns name storage pod ip port
  step "[7/9] What landed"
  say "Requests counted by each ingester pod (telemetrylake_ingester_requests_total on its /metrics; the"
  say "SDK's connections spread over the Service's pods):"
  for t in "${TENANTS[@]}"; do
    ns="${t%%/*}" name="${t#*/}"
    while read -r pod ip port; do
      say "  $ns/$pod (http://$ip:$port/metrics):"
      curl -fsS "http://$ip:$port/metrics" | grep '^telemetrylake_ingester_requests_total' | indent | indent || say "      (none)"
    done < <(pods_of "$ns" "$name" ingester)
  done

  say ""
  say "Blocks in each tenant's bucket (ingester blocks list, with the tenant's own storage credentials):"
  local show_block="" show_storage="" show_t=""
  for t in "${TENANTS[@]}"; do
    ns="${t%%/*}" name="${t#*/}"
    storage="$(tenant_storage "$ns" "$name")"
    say "  $ns/$name: bin/ingester blocks list --storage '$storage'"
    as_tenant "$ns" "$name" bin/ingester blocks list --storage "$storage" | indent | indent
    if [[ -z "$show_block" ]]; then
      show_block="$(as_tenant "$ns" "$name" bin/ingester blocks list --storage "$storage" --signal logs |
        awk 'NR > 1 { id = $1 } END { print id }')"
      show_storage="$storage" show_t="$t"
    fi
  done
  [[ -n "$show_block" ]] || die "no log block landed in ${TENANTS[0]}'s bucket"

  ns="${show_t%%/*}" name="${show_t#*/}"
  local json="$DEMO_DIR/block-$show_block.json" lines
  say ""
  say "One of $ns/$name's log blocks as OTLP/JSON (the whole of it in $json):"
  say "  bin/ingester blocks show --storage '$show_storage' $show_block"
  as_tenant "$ns" "$name" bin/ingester blocks show --storage "$show_storage" "$show_block" >"$json"
  lines="$(wc -l <"$json")"
  # Up to the end of the first log record, then only how many there are.
  awk '{ print }
    /"logRecords"/ { inrecords = 1; next }
    inrecords { depth += gsub(/{/, "{") - gsub(/}/, "}"); if (depth > 0) started = 1; else if (started) exit }' "$json" | indent | indent
  local bodies
  bodies="$(grep -o '"stringValue": "democlient log [^"]*"' "$json" | sed 's/"stringValue": //')"
  say "        … ($lines lines in all) $(wc -l <<<"$bodies") log records: $(head -n1 <<<"$bodies") … $(tail -n1 <<<"$bodies")"
}

show_isolation() {
  local a="${TENANTS[0]}" b="${TENANTS[1]}"
  step "[8/9] Tenant isolation: ${a%%/*}/${a#*/}'s token at ${b%%/*}/${b#*/}'s Service"
  local headers auth body code url
  headers="$(token_value "${a%%/*}" "${a#*/}" OTEL_EXPORTER_OTLP_HEADERS)"
  auth="${headers#Authorization=}"
  url="$(token_value "${b%%/*}" "${b#*/}" OTEL_EXPORTER_OTLP_ENDPOINT)/v1/logs"
  body="$(mktemp)"
  code="$(curl -sS -o "$body" -w '%{http_code}' -X POST -H "Authorization: $auth" -H 'Content-Type: application/json' \
    --data '{"resourceLogs":[]}' "$url")"
  say "POST $url with ${a#*/}'s Authorization header → HTTP $code"
  say "$(cat "$body")"
  rm -f "$body"
  [[ "$code" == 401 ]] || die "expected 401 from ${b#*/}'s ingester for ${a#*/}'s token, got $code"
}

# The lakehouse: its CronJob once, from the lakehouse image on the real node; then SQL here, with
# the tenant's own storage credentials, as the CronJob runs.
show_sql() {
  local t="${TENANTS[0]}" ns name storage job
  ns="${t%%/*}" name="${t#*/}"
  step "[9/9] $ns/$name's lake in SQL: the lakehouse CronJob from its image, then bin/lakehouse"
  job="$name-lakehouse-demo-$(date +%s)"
  say "kubectl create job -n $ns $job --from=cronjob/$name-lakehouse   (the CronJob runs it every 15 minutes)"
  kubectl create job -n "$ns" "$job" --from="cronjob/$name-lakehouse" | indent
  local deadline=$((SECONDS + 180)) state
  while :; do
    state="$(kubectl get job -n "$ns" "$job" -o jsonpath='{.status.succeeded}/{.status.failed}')"
    [[ "$state" == 1/* ]] && break
    [[ "$state" == */[1-9]* ]] && { hack/node.sh logs "$ns/$(kubectl get pods -n "$ns" -l "job-name=$job" -o jsonpath='{.items[0].metadata.name}')" | indent >&2 || true; die "Job $ns/$job failed"; }
    ((SECONDS < deadline)) || die "Job $ns/$job did not complete in 180 s"
    sleep 0.5
  done
  local pod
  pod="$(kubectl get pods -n "$ns" -l "job-name=$job" -o jsonpath='{.items[0].metadata.name}')"
  say "Job $job completed on $(kubectl get pod -n "$ns" "$pod" -o jsonpath='{.spec.nodeName}'); its pod's log (hack/node.sh logs $ns/$pod):"
  hack/node.sh logs "$ns/$pod" | indent | indent

  storage="$(tenant_storage "$ns" "$name")"
  local lake=(--storage "$storage" --cache "$DEMO_DIR/lakehouse-cache")
  # The CronJob leaves the current hour to the next run, once it is over; the demo includes it, so
  # that the queries below read Parquet parts (blocks no part holds yet are decoded on the fly).
  say ""
  say "bin/lakehouse materialize --storage '$storage' --until 0s   (the current hour too, which the CronJob leaves until it is over)"
  as_tenant "$ns" "$name" bin/lakehouse materialize "${lake[@]}" --until 0s | indent
  local q
  for q in "SELECT service_name, severity_text, count(*) AS logs FROM log_entries GROUP BY ALL ORDER BY ALL" \
    "SELECT name, kind, sum(coalesce(value, sum)) AS total, sum(count) AS points FROM measures GROUP BY ALL ORDER BY ALL" \
    "SELECT name, count(*) AS spans, count(parent_span_id) FILTER (WHERE parent_span_id <> '') AS children FROM otel_spans GROUP BY ALL ORDER BY ALL LIMIT 4"; do
    say ""
    say "bin/lakehouse sql \"$q\""
    as_tenant "$ns" "$name" bin/lakehouse sql "${lake[@]}" "$q" | indent
  done
}

summary() {
  local t total=$1
  step "Done in ${total} s"
  cat <<EOF | indent
Running now (state, logs and PIDs in $DEMO_DIR):
  cluster     export KUBECONFIG=$KUBECONFIG
              bin/kubectl get tl,lsc,deployments,pods,secrets -A -o wide
  real node   $CLUSTER_NAME-node: containerd, kubelet, kube-proxy (hack/node.sh; logs in
              $(dirname "$KUBECONFIG")/../../../node/logs)
  SeaweedFS   $S3_ENDPOINT (admin key in Secret $OPERATOR_NAMESPACE/$ADMIN_SECRET)
  operator    bin/manager, log $DEMO_DIR/logs/operator.log
EOF
  for t in "${TENANTS[@]}"; do
    printf '  ingester    %-13s %s (pods on the real node)\n' "$t" "$(token_value "${t%%/*}" "${t#*/}" OTEL_EXPORTER_OTLP_ENDPOINT)" | indent
  done
  cat <<EOF | indent

Each tenant got from the operator: a bucket and an IAM user in SeaweedFS, the Secrets
<name>-storage, <name>-ingester-config, <name>-ingester-auth and <name>-token-<token>, an ingester
Deployment and Service, and a lakehouse CronJob; the real node runs their pods from the images of
make images. /etc/hosts names each Service's ClusterIP until make demo-down.

Send more:   make demo (again; it reuses what runs), or point any OTLP/HTTP exporter at an endpoint
             above with the environment of a token Secret (bin/tenantenv NS/NAME token-env claude).
Clean up:    make demo-down   (stops every process above, deletes the cluster, the node and $DEMO_DIR)
EOF
}

up() {
  trap on_error ERR
  local begin=$SECONDS t
  mkdir -p "$DEMO_DIR/logs"
  cluster_up
  seaweedfs_up
  operator_up
  tenants_up
  pods_shown

  step "[6/9] The OpenTelemetry SDK (cmd/democlient) sends logs, metrics and traces through each tenant's Service"
  services_reachable
  for t in "${TENANTS[@]}"; do send_telemetry "${t%%/*}" "${t#*/}"; done

  show_results
  show_isolation
  show_sql
  summary $((SECONDS - begin))
}

down() {
  local begin=$SECONDS names=() f
  step "Stopping the demo's processes"
  if [[ -d "$PID_DIR" ]]; then
    for f in "$PID_DIR"/*.pid; do
      [[ -f "$f" ]] && names+=("$(basename "$f" .pid)")
    done
  fi
  # The operator first, then the store it provisions.
  local ordered=() n
  for n in "${names[@]}"; do [[ "$n" == operator ]] && ordered+=("$n"); done
  for n in "${names[@]}"; do [[ "$n" != operator ]] && ordered+=("$n"); done
  if ((${#ordered[@]})); then stop_processes "${ordered[@]}"; else say "none running"; fi
  # weed's same-host gRPC sockets are at fixed paths keyed by its gRPC ports.
  if [[ -f "$STATE_FILE" ]]; then
    local c port
    for c in master volume filer s3 admin; do
      port="$(sed -n "s/^WEED_PORT_${c}_port_grpc=//p" "$STATE_FILE")"
      [[ -n "$port" ]] && rm -f "/tmp/seaweedfs-$c-grpc-$port.sock"
    done
  fi

  step "Deleting the cluster ($CLUSTER_NAME)"
  hack/cluster.sh down 2>&1 | indent

  step "Removing $DEMO_DIR"
  rm -rf "$DEMO_DIR"
  # The default parent too, once nothing else is in it.
  [[ "$DEMO_DIR" != "$DEFAULT_DEMO_DIR" ]] || rmdir "$(dirname "$DEMO_DIR")" 2>/dev/null || true
  say "done in $((SECONDS - begin)) s"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: $0 up|down   (DEMO_DIR=$DEMO_DIR, CLUSTER_NAME=$CLUSTER_NAME)" >&2
    exit 2
    ;;
esac
