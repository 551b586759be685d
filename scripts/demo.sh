#!/usr/bin/env bash
# The main job from a fresh clone: install proletarian into .venv and run the demo worker on an
# embedded SQLite file (no server needed). Extra arguments go to `proletarian demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh" ""
exec "$root/.venv/bin/proletarian" demo "$@"
