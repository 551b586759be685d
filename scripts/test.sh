#!/usr/bin/env bash
# The whole check, from a fresh clone: install, start the servers, lint, type-check, check the
# import contracts, run every test. Extra arguments go to pytest (e.g. -k contract, --soak-jobs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh dev
if ! bash scripts/services.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "test: a server the tests need is down and could not be started" >&2
    exit 1
  fi
  echo "test: a server is down; its tests will fail unless PROLETARIAN_SKIP names it" >&2
fi
venv="${PROLETARIAN_VENV:-$root/.venv}"
py="$venv/bin"
echo "== ruff"; $py/ruff check .
echo "== mypy --strict"; $py/mypy
echo "== import contracts"; $py/lint-imports
echo "== pytest"; $py/python -m pytest "$@"
# A whole run on the lock also runs the store contract with the library's own dependencies at
# the lowest versions pyproject.toml admits (locks/lowest.txt), so those ranges stay honest.
if [ $# -eq 0 ] && [ "${PROLETARIAN_DEPS:-lock}" = lock ]; then
  echo "== store contract, lowest supported dependencies"
  PROLETARIAN_VENV="$root/.venv-lowest" PROLETARIAN_DEPS=lowest bash scripts/setup.sh dev
  "$root/.venv-lowest/bin/python" -m pytest -q -p no:cacheprovider tests/contract
fi
