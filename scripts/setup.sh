#!/usr/bin/env bash
# Create .venv (if missing) and install proletarian into it with the given extras.
# Usage: source scripts/setup.sh [extras]   e.g. "dev" or "" for the library alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$root/.venv/bin/python" ]; then
  "$python" -m venv "$root/.venv"
fi
extras="${1:-}"
target="$root"
[ -n "$extras" ] && target="$root[$extras]"
"$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
