#!/usr/bin/env bash
# Create a virtual environment (if missing) and install proletarian into it with the given
# extras. Usage: bash scripts/setup.sh [extras]   e.g. "dev" or "" for the library alone.
#
# PROLETARIAN_DEPS chooses the versions:
#   lock   (default) exactly what locks/dev.txt pins: what CI runs, on any machine
#   latest every dependency at its newest release (scripts/test-latest.sh, before a refresh)
#   lowest the lock, with the library's own dependencies at the lowest versions pyproject.toml
#          admits (locks/lowest.txt; scripts/test-lowest.sh)
# PROLETARIAN_VENV names the environment (default .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
venv="${PROLETARIAN_VENV:-$root/.venv}"
deps="${PROLETARIAN_DEPS:-lock}"
extras="${1:-}"
target="$root"
[ -n "$extras" ] && target="$root[$extras]"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
# Left by the setuptools builds of earlier versions: on sys.path it would shadow the installed
# package's metadata.
rm -rf "$root/proletarian.egg-info"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

case "$deps" in
  latest)
    "${pip[@]}" --upgrade --upgrade-strategy eager hatchling "$target"
    "${pip[@]}" --no-deps --no-build-isolation -e "$root"
    ;;
  lock | lowest)
    # The build backend (hatchling) first, pinned by the lock, so the editable build uses it too.
    "${pip[@]}" -c "$root/locks/dev.txt" hatchling
    if [ "$extras" = "dev" ]; then
      # Exactly the lock, nothing resolved afresh.
      "${pip[@]}" --no-deps -r "$root/locks/dev.txt"
    else
      "${pip[@]}" -c "$root/locks/dev.txt" "$target"
    fi
    [ "$deps" = lowest ] && "${pip[@]}" --no-deps -r "$root/locks/lowest.txt"
    "${pip[@]}" --no-deps --no-build-isolation -e "$root"
    if ! "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null; then
      "$venv/bin/python" -m pip check --disable-pip-version-check >&2 || true
      echo "setup: the pinned versions do not fit together: refresh with bash scripts/lock.sh" >&2
      exit 1
    fi
    ;;
  *)
    echo "setup: PROLETARIAN_DEPS must be lock, latest or lowest, got '$deps'" >&2
    exit 2
    ;;
esac
