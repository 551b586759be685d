#!/usr/bin/env bash
# Refresh locks/dev.txt: resolve the dev extras afresh at their newest releases in a scratch
# environment and pin every package it holds. Run scripts/test-latest.sh first: it runs the
# whole check on exactly those releases.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
PROLETARIAN_VENV="$scratch/venv" PROLETARIAN_DEPS=latest bash "$root/scripts/setup.sh" dev
{
  echo "# The dev/test toolchain, pinned: scripts/setup.sh installs exactly this."
  echo "# Refresh with: bash scripts/lock.sh   (after bash scripts/test-latest.sh passes)"
  "$scratch/venv/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
    | grep -v -i -E '^(pip|setuptools|wheel)=='
} > "$root/locks/dev.txt"
echo "lock: wrote locks/dev.txt ($(grep -c '==' "$root/locks/dev.txt") packages)"
