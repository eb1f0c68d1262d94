#!/usr/bin/env bash
# hack/debian-deps.sh — install the Debian packages that `make test` and `make bench` run, when
# missing. The list below is their one home; add a package there with the reason.
#
# Debian is one of the three sources our machines and CI reach (with the Go module proxy and npm),
# so these come from apt, not from downloads.
set -euo pipefail

PACKAGES=(
  wrk # make bench: the load generator (test/bench/wrkload.go); the bench's own one is slower
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
echo "debian-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; update only when the install needs it.
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
  "${sudo[@]}" apt-get update >&2
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
