"""The editable install (`pip install -e .`, as the docs and scripts/setup.sh do it) is one a
user's type checker can follow."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER_SCRIPT = """\
from typing import Any

import proletarian
from proletarian.adapters.memory import MemoryStore


def handle_job(job_type: str, payload: dict[str, Any]) -> None:
    print(job_type, payload)


store = MemoryStore()
worker = proletarian.QueueWorker(store, handle_job)
job_id: int = proletarian.enqueue(store, "send-email", {"to": "a@b.c"})
proletarian.QueueWorker(store, 42)
"""


def test_editable_install_is_a_path_entry() -> None:
    """The installed project is a .pth line naming the checkout, not an import hook (a
    meta-path finder, which type checkers can't follow)."""
    # As installed, not a stale proletarian.egg-info that the checkout on sys.path may hold.
    (dist,) = importlib.metadata.distributions(
        name="proletarian", path=[sysconfig.get_path("purelib")]
    )
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    assert direct_url.get("dir_info", {}).get("editable") is True, direct_url
    pth_files = [file for file in dist.files or [] if file.suffix == ".pth"]
    assert len(pth_files) == 1, dist.files
    lines = Path(str(dist.locate_file(pth_files[0]))).read_text().split()
    assert [Path(line).resolve() for line in lines] == [ROOT]


def test_mypy_strict_sees_the_package_from_a_user_script(tmp_path: Path) -> None:
    """`mypy --strict` run on a user's script outside the checkout finds proletarian's types
    through the installed package: it reports the script's own type errors (a handler that is
    not one among them), no missing module."""
    script = tmp_path / "app.py"
    script.write_text(USER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    cache = str(tmp_path / "cache")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, "app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, result.stdout + result.stderr
    assert errors[0].startswith("app.py:13: error: Incompatible types in assignment"), errors
    assert errors[1].startswith("app.py:14: error: No overload variant of"), errors
