#!/usr/bin/env bash
# hack/debian-deps.sh — install the Debian packages that `make test` and `make bench` run, when
# missing. The list below is their one home; add a package there with the reason.
#
# Debian is one of the three sources our machines and CI reach (with the Go module proxy and npm),
# so these come from apt, not from downloads.
set -euo pipefail

# Each entry: the package, and a command that succeeds when what the tests use is already there
# (from that package or another install, such as the machine's own Node.js).
PACKAGES=(
  "wrk|command -v wrk"                                   # make bench: the load generator (test/bench/wrkload.go); the bench's own one is slower
  "postgresql-client|command -v psql"                    # make test: lakehouse serve's psql test
  "python3-psycopg2|/usr/bin/python3 -c 'import psycopg2'" # make test: lakehouse serve's psycopg2 test (Debian's python3, not pyenv's)
  "nodejs|command -v node"                               # make test: lakehouse serve's node-postgres test
  "npm|command -v npm"                                   # make test: installs node-postgres from its lockfile
)

missing=()
for entry in "${PACKAGES[@]}"; do
  package="${entry%%|*}" check="${entry#*|}"
  if ! bash -c "$check" >/dev/null 2>&1; then
    missing+=("$package")
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
