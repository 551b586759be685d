#!/usr/bin/env bash
# The whole check of scripts/test.sh with every dependency at its newest release, in
# .venv-latest: run it before refreshing the lock (scripts/lock.sh). Arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROLETARIAN_VENV="$root/.venv-latest" PROLETARIAN_DEPS=latest exec bash "$root/scripts/test.sh" "$@"
