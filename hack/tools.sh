#!/usr/bin/env bash
# Functions are also invoked indirectly (via with_lock and build_tool).
# shellcheck disable=SC2317
# hack/tools.sh — build pinned third-party tools from the Go module proxy and
# cache them by version.
#
# Usage:
#   hack/tools.sh TOOL [TOOL...]   ensure each tool is built; print the absolute
#                                  path of each cached binary (one per line)
#   hack/tools.sh --list           print tool=version lines
#
# For each TOOL this ensures that
#   ${TELEMETRYLAKE_TOOLS_CACHE:-$HOME/.cache/telemetrylake/bin}/<tool>-<version>
# exists and that <repo>/bin/<tool> is a symlink to it.
#
# Why build from source: the only things reachable from our machines and CI are
# the Go module proxy, Debian and npm, so prebuilt release binaries cannot be
# downloaded. Every tool is therefore compiled inside a throwaway Go module
# under $HOME/.cache/telemetrylake/build/<name>-<version>/, so none of their
# (large) dependency graphs ever touch this repository's go.mod.
#
# Concurrency: every tool is guarded by a flock on <cache>/.<tool>-<version>.lock
# and every throwaway build module by a flock on <build>/.<name>-<version>.lock,
# so parallel callers (e.g. `go test -p 2` running two packages that both need
# weed) build once and the others wait. Binaries are built to a temporary name
# and renamed into place, so a reader never sees a half-written file.
#
# Progress goes to stderr; stdout carries only the binary paths.
set -euo pipefail
# Keep `set -e` inside $(…) too, so a failing step in a function whose output
# we capture (e.g. bin="$(ensure_tool weed)") aborts instead of continuing.
shopt -s inherit_errexit

# ---------------------------------------------------------------------------
# Pinned versions — the one place to bump them.
# ---------------------------------------------------------------------------
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6 # github.com/seaweedfs/seaweedfs
OTEL_VERSION=v0.165.0                           # collector release train (pdata v1.71.0)
# The contrib release whose extension/storage/filestorage goes into otelcol (its go.mod requires
# core v0.165.0 / v1.71.0, the train above). It is part of otelcol's cache key, so changing the
# manifest's contrib component rebuilds the binary instead of reusing one without it.
OTEL_CONTRIB_VERSION=v0.165.1
KUBE_VERSION=v1.37.2                            # k8s.io/kubernetes (staging modules: v0.Y.Z)
ETCD_VERSION=v3.7.3                             # go.etcd.io/etcd/server/v3 (kube v1.37 uses etcd 3.7)
KWOK_VERSION=v0.8.0                             # sigs.k8s.io/kwok
CONTROLLER_TOOLS_VERSION=v0.23.0                # sigs.k8s.io/controller-tools (CRDs, RBAC, deepcopy)
HELM_VERSION=v3.22.0                            # helm.sh/helm/v3 (chart lint and template tests)

# tool name -> version, in the order --list prints them.
TOOLS=(weed ocb otelcol controller-gen helm kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd kwok kwokctl)
tool_version() {
  case "$1" in
    weed) echo "$WEED_VERSION" ;;
    ocb) echo "$OTEL_VERSION" ;;
    otelcol) echo "$OTEL_VERSION-contrib-$OTEL_CONTRIB_VERSION" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy) echo "$KUBE_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kwok | kwokctl) echo "$KWOK_VERSION" ;;
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${TELEMETRYLAKE_TOOLS_CACHE:-$HOME/.cache/telemetrylake/bin}"
BUILD_ROOT="$HOME/.cache/telemetrylake/build"

# Use the Go on PATH (or the standard install) and never let the go command
# switch toolchains or modes behind our back: GOTOOLCHAIN=local pins the local
# Go (no toolchain download), GOWORK=off ignores any go.work of the caller, and
# GOFLAGS is reset so a caller's -mod=vendor etc. cannot leak into the throwaway
# modules. GOPROXY is left as configured (`go env GOPROXY`): the module proxy.
# CGO_ENABLED=0: all tools are pure Go, and static binaries need no libc match.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:$PATH"
fi
GO="$(command -v go)"
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0

log() { echo "tools.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# nice_build runs a heavy build at the lowest CPU priority, so that the large
# Kubernetes/etcd/kwok builds don't starve tests on a 2-core machine.
NICE=()
nice_build() { "${NICE[@]}" "$@"; }

# with_lock LOCKFILE CMD... runs CMD while holding an exclusive flock.
with_lock() {
  local lockfile="$1"
  shift
  mkdir -p "$(dirname "$lockfile")"
  (
    flock -x 9
    "$@"
  ) 9>"$lockfile"
}

# build_dir NAME VERSION creates and prints the throwaway module dir for NAME-VERSION.
build_dir() {
  local d="$BUILD_ROOT/$1-$2"
  mkdir -p "$d"
  echo "$d"
}

# write_gomod DIR writes a fresh go.mod header; recipes append to it.
write_gomod() {
  local dir="$1"
  local gover
  gover="$("$GO" env GOVERSION)"
  gover="${gover#go}"
  cat >"$dir/go.mod" <<EOF
// Generated by hack/tools.sh — a throwaway module used only to build a tool.
module telemetrylake.local/tools/$(basename "$dir")

go $gover
EOF
}

# write_toolsgo DIR PKG... writes a tools.go that imports the main packages, so
# that `go mod tidy` records everything they need in this module's go.sum.
write_toolsgo() {
  local dir="$1"
  shift
  {
    echo "//go:build tools"
    echo
    echo "// Generated by hack/tools.sh."
    echo "package tools"
    echo
    echo "import ("
    local p
    for p in "$@"; do echo "	_ \"$p\""; done
    echo ")"
  } >"$dir/tools.go"
}

# build_module_tool OUT NAME VERSION MODULE PACKAGE [LDFLAGS] is the common recipe: a throwaway
# module NAME-VERSION that requires MODULE@VERSION, then `go build PACKAGE` to OUT.
build_module_tool() {
  local out="$1" name="$2" version="$3" module="$4" pkg="$5" ldflags="${6:-}" dir
  dir="$(build_dir "$name" "$version")"
  with_lock "$BUILD_ROOT/.$name-$version.lock" _build_module_tool "$dir" "$out" "$module" "$version" "$pkg" "$ldflags"
}
_build_module_tool() {
  local dir="$1" out="$2" module="$3" version="$4" pkg="$5" ldflags="$6"
  write_gomod "$dir"
  printf '\nrequire %s %s\n' "$module" "$version" >>"$dir/go.mod"
  write_toolsgo "$dir" "$pkg"
  (cd "$dir" && nice_build "$GO" mod tidy >&2 &&
    nice_build "$GO" build -trimpath -ldflags "$ldflags" -o "$out" "$pkg")
}

# ---------------------------------------------------------------------------
# Recipes: build_<tool> OUT builds the tool's binary to the file OUT.
# They run with the tool's lock held and in a subshell.
# ---------------------------------------------------------------------------

# weed: SeaweedFS (S3 + IAM + filer in one binary, `weed mini`).
build_weed() {
  local out="$1" dir
  dir="$(build_dir weed "$WEED_VERSION")"
  log "building weed $WEED_VERSION (first time ~11 min on 2 cores with an empty module cache)…"
  with_lock "$BUILD_ROOT/.weed-$WEED_VERSION.lock" _build_weed "$dir" "$out"
}
_build_weed() {
  local dir="$1" out="$2"
  write_gomod "$dir"
  cat >>"$dir/go.mod" <<EOF

require github.com/seaweedfs/seaweedfs $WEED_VERSION

// github.com/tyler-smith/go-bip39 was deleted from GitHub, so the proxy cannot
// serve it. SeaweedFS's own go.mod replaces it with the API-compatible fork,
// but replace directives of dependencies are ignored, so we must repeat it.
replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
EOF
  write_toolsgo "$dir" github.com/seaweedfs/seaweedfs/weed
  (cd "$dir" && "$GO" mod tidy >&2 && "$GO" build -trimpath -o "$out" github.com/seaweedfs/seaweedfs/weed)
}

# ocb: the official OpenTelemetry Collector Builder, used to assemble otelcol.
build_ocb() {
  log "building ocb $OTEL_VERSION (first time ~1 min)…"
  build_module_tool "$1" ocb "$OTEL_VERSION" go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/builder
}

# controller-gen: generates the CRDs, RBAC and deepcopy code from api/ and controllers/ markers.
build_controller_gen() {
  log "building controller-gen $CONTROLLER_TOOLS_VERSION (first time ~1 min)…"
  build_module_tool "$1" controller-gen "$CONTROLLER_TOOLS_VERSION" sigs.k8s.io/controller-tools sigs.k8s.io/controller-tools/cmd/controller-gen
}

# helm: lints and renders the chart in its tests. Debian has no helm package. The version is
# stamped so that `helm version` and the chart's capabilities report the real release.
build_helm() {
  log "building helm $HELM_VERSION (first time ~3 min)…"
  build_module_tool "$1" helm "$HELM_VERSION" helm.sh/helm/v3 helm.sh/helm/v3/cmd/helm \
    "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# otelcol: a minimal collector — OTLP in; nop or OTLP/HTTP out; and the contrib file_storage
# extension, so `make bench` can also run the Collector durably (a persistent sending queue on
# file_storage with fsync, which needs an exporter with a sending queue: otlphttp, since nop has
# none). Enough to act as a realistic OTLP client/peer in tests too.
build_otelcol() {
  local out="$1" dir ocb version
  ocb="$(ensure_tool ocb)"
  version="$(tool_version otelcol)"
  dir="$(build_dir otelcol "$version")"
  log "building otelcol $version with ocb (first time ~2 min)…"
  with_lock "$BUILD_ROOT/.otelcol-$version.lock" _build_otelcol "$dir" "$out" "$ocb"
}
_build_otelcol() {
  local dir="$1" out="$2" ocb="$3"
  cat >"$dir/manifest.yaml" <<EOF
# Generated by hack/tools.sh — OpenTelemetry Collector Builder manifest.
dist:
  name: otelcol
  description: telemetrylake test collector (core components and contrib file_storage)
  version: ${OTEL_VERSION#v}
  output_path: $dir/dist
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $OTEL_VERSION
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/nopexporter $OTEL_VERSION
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $OTEL_VERSION
extensions:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage $OTEL_CONTRIB_VERSION
EOF
  # ocb generates the collector's sources into dist/ and runs `go mod tidy`
  # and `go build` there with the `go` on PATH, inheriting GOTOOLCHAIN,
  # GOFLAGS, CGO_ENABLED and GOPROXY from our environment.
  rm -f "$dir/dist/otelcol" # never pick up a stale binary
  (cd "$dir" && "$ocb" --config "$dir/manifest.yaml" >&2)
  cp "$dir/dist/otelcol" "$out"
}

# Kubernetes control plane + kubectl from one throwaway module; the real node's kubelet and kube-proxy from another.
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod requires every
# staging module (k8s.io/api, k8s.io/client-go, …) at v0.0.0 and replaces them
# with ./staging/src/… directories, which are ignored when it is a dependency.
# We therefore read that replace block from the downloaded go.mod and replace
# each staging module with its published v0.Y.Z release (same minor/patch as
# the v1.Y.Z kubernetes release). A few listed modules are not published
# (k8s.io/sample-controller, k8s.io/sample-cli-plugin); that is harmless, as
# the go command only resolves replacements of modules in the build graph.
#
# The real node's kubelet and kube-proxy get a module of their own (kubernetes-node), so that the
# control plane's module, which every test needs, never depends on what the node's binaries import.
build_kube() {
  local tool="$1" out="$2" dir name=kubernetes
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if [[ "$tool" == kubelet || "$tool" == kube-proxy ]]; then
    name=kubernetes-node
    cmds=(kubelet kube-proxy)
  fi
  dir="$(build_dir "$name" "$KUBE_VERSION")"
  log "building $tool $KUBE_VERSION (niced; the first kube binary takes ~8–10 min, the others reuse its build cache)…"
  with_lock "$BUILD_ROOT/.$name-$KUBE_VERSION.lock" _build_kube "$dir" "$tool" "$out" "${cmds[@]}"
}
_build_kube() {
  local dir="$1" tool="$2" out="$3"
  shift 3
  local cmds=("$@") pkgs=() c
  for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local kgomod
  write_gomod "$dir" # a clean module to run `go mod download` in
  kgomod="$(cd "$dir" && "$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -f "$kgomod" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
  write_gomod "$dir"
  {
    printf '\nrequire k8s.io/kubernetes %s\n\n' "$KUBE_VERSION"
    echo "// Derived from k8s.io/kubernetes@$KUBE_VERSION's own replace block."
    echo "replace ("
    # Inside `replace ( … )`: "k8s.io/x => ./staging/src/k8s.io/x" becomes
    # "k8s.io/x => k8s.io/x v0.Y.Z"; any non-local replace is kept verbatim.
    awk -v sv="$staging_version" '
      /^replace[[:space:]]*\(/ { inblock = 1; next }
      inblock && /^\)/ { inblock = 0; next }
      /^replace[[:space:]]+[^(]/ { sub(/^replace[[:space:]]+/, ""); line = 1 }
      (inblock || line) && /=>/ {
        if ($3 ~ /^\.\.?\//) { print "\t" $1 " => " $1 " " sv }
        else { $1 = $1; print "\t" $0 }
      }
      { line = 0 }
    ' "$kgomod"
    echo ")"
  } >>"$dir/go.mod"
  write_toolsgo "$dir" "${pkgs[@]}"
  (cd "$dir" && nice_build "$GO" mod tidy >&2)
  # Stamp the version the way kubernetes' own build does (hack/lib/version.sh),
  # so `--version` and the apiserver's /version report the real release
  # (a plain `go build` would say v0.0.0-master).
  local major minor ldflags="-s -w" pkg
  major="${KUBE_VERSION#v}" && major="${major%%.*}"
  minor="${KUBE_VERSION#v*.}" && minor="${minor%%.*}"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$dir" && nice_build "$GO" build -trimpath -ldflags "$ldflags" -o "$out" "k8s.io/kubernetes/cmd/$tool")
}

# etcd: the server binary. The root package of go.etcd.io/etcd/server/v3 is
# etcd's `main` (it just calls etcdmain.Main), so it can be built directly.
# etcd's own go.mod replaces its sibling modules (api, client, pkg) with ../
# paths; as a dependency those replaces are ignored and the published modules
# of the same release are used instead, which is what we want.
build_etcd() {
  log "building etcd $ETCD_VERSION (niced; ~20 s after kube, a few min on its own)…"
  build_module_tool "$1" etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "-s -w"
}

# kwok / kwokctl: fake kubelets for a control plane without real nodes.
build_kwok() {
  local tool="$1" out="$2" dir
  dir="$(build_dir kwok "$KWOK_VERSION")"
  log "building $tool $KWOK_VERSION (niced; first time ~3 min for kwok, then under 1 min)…"
  with_lock "$BUILD_ROOT/.kwok-$KWOK_VERSION.lock" _build_kwok "$dir" "$tool" "$out"
}
_build_kwok() {
  local dir="$1" tool="$2" out="$3"
  write_gomod "$dir"
  printf '\nrequire sigs.k8s.io/kwok %s\n' "$KWOK_VERSION" >>"$dir/go.mod"
  write_toolsgo "$dir" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
  # Stamp versions the way kwok's hack/releases.sh does. KubeVersion is the
  # default Kubernetes version kwokctl creates clusters with; point it at the
  # control plane we build ourselves so the two agree.
  local ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
  ldflags+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"
  (cd "$dir" && nice_build "$GO" mod tidy >&2 &&
    nice_build "$GO" build -trimpath -ldflags "$ldflags" -o "$out" "sigs.k8s.io/kwok/cmd/$tool")
}

build_tool() {
  local tool="$1" out="$2"
  case "$tool" in
    weed) build_weed "$out" ;;
    ocb) build_ocb "$out" ;;
    otelcol) build_otelcol "$out" ;;
    controller-gen) build_controller_gen "$out" ;;
    helm) build_helm "$out" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy)
      NICE=(nice -n 19)
      build_kube "$tool" "$out"
      ;;
    etcd)
      NICE=(nice -n 19)
      build_etcd "$out"
      ;;
    kwok | kwokctl)
      NICE=(nice -n 19)
      build_kwok "$tool" "$out"
      ;;
    *) die "unknown tool $tool" ;;
  esac
}

# ensure_tool TOOL builds TOOL if its cached binary is missing and prints the
# cached binary's absolute path.
ensure_tool() {
  local tool="$1" version bin
  version="$(tool_version "$tool")" || die "unknown tool '$tool' (known: ${TOOLS[*]})"
  bin="$CACHE_DIR/$tool-$version"
  if [[ ! -x "$bin" ]]; then
    mkdir -p "$CACHE_DIR"
    with_lock "$CACHE_DIR/.$tool-$version.lock" _ensure_locked "$tool" "$bin"
  fi
  echo "$bin"
}
on_build_exit() {
  rm -f "$3"
  [[ $1 -eq 0 ]] || log "error: building $2 failed"
}
_ensure_locked() {
  local tool="$1" bin="$2"
  # Another process may have finished the build while we waited for the lock.
  [[ -x "$bin" ]] && return 0
  local tmp start
  tmp="$(mktemp "$bin.build.XXXXXX")"
  # Not `build_tool … || die`: that would disable set -e inside the recipe.
  trap 'on_build_exit $? "$tool" "$tmp"' EXIT
  start=$SECONDS
  build_tool "$tool" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin"
  trap - EXIT
  log "built $tool in $((SECONDS - start))s: $bin"
}

link_tool() {
  local tool="$1" bin="$2"
  mkdir -p "$REPO_ROOT/bin"
  # ln to a temp name + rename, so the link is replaced atomically.
  local tmp="$REPO_ROOT/bin/.$tool.$$"
  ln -sfn "$bin" "$tmp"
  mv -Tf "$tmp" "$REPO_ROOT/bin/$tool"
}

main() {
  [[ $# -gt 0 ]] || die "usage: $0 TOOL [TOOL...] | --list"
  if [[ "$1" == "--list" ]]; then
    local t
    for t in "${TOOLS[@]}"; do echo "$t=$(tool_version "$t")"; done
    return 0
  fi
  local tool bin
  for tool in "$@"; do
    bin="$(ensure_tool "$tool")"
    link_tool "$tool" "$bin"
    echo "$bin"
  done
}

# On one line, so bash never reads past it: editing this file while it runs
# (e.g. during a long build) cannot make the running instance execute stray text.
main "$@"; exit $?
