#!/usr/bin/env bash
# The tests with the library's own dependencies at the lowest versions pyproject.toml admits
# (locks/lowest.txt), in .venv-lowest. Arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROLETARIAN_VENV="$root/.venv-lowest" PROLETARIAN_DEPS=lowest exec bash "$root/scripts/test.sh" "$@"
