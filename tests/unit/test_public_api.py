"""The public surface and the dependency rule, checked so every change shows in review."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import proletarian

PACKAGE = Path(proletarian.__file__).parent


def test_all_is_the_reviewed_list() -> None:
    """proletarian.__all__ is exactly this sorted list."""
    assert proletarian.__all__ == [
        "ClaimLost",
        "ConfigurationError",
        "Handlers",
        "Job",
        "JobAbandoned",
        "JobContext",
        "JobError",
        "JobId",
        "JobStatus",
        "JsonFormatter",
        "LogfmtFormatter",
        "NewJob",
        "Priority",
        "ProletarianError",
        "QueueStats",
        "QueueWorker",
        "RetryPolicy",
        "Schedule",
        "Scheduler",
        "SchemaMissing",
        "SerializationError",
        "StoreError",
        "StoreUnavailable",
        "UnknownJobType",
        "enqueue",
        "enqueue_async",
        "enqueue_many",
        "enqueue_many_async",
        "open_store",
    ]
    assert all(hasattr(proletarian, name) for name in proletarian.__all__)


def test_testing_helpers_are_the_reviewed_list() -> None:
    """proletarian.testing offers exactly these helpers; its stores and clock are the adapters'
    own classes, so either import path gives the same one."""
    from proletarian import testing
    from proletarian.adapters import clocks, memory, null

    assert testing.__all__ == ["CapturingLog", "ManualClock", "MemoryStore", "NullStore"]
    assert testing.MemoryStore is memory.MemoryStore
    assert testing.NullStore is null.NullStore
    assert testing.ManualClock is clocks.ManualClock


def test_import_loads_no_adapter_and_no_driver() -> None:
    """`import proletarian` loads no store adapter and no database driver."""
    code = (
        "import sys, proletarian; "
        "bad = sorted(m for m in sys.modules if m.startswith('proletarian.adapters') "
        "or m.split('.')[0] in {'psycopg', 'psycopg_pool', 'pymysql', 'redis', 'sqlite3'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_of_ours_and_no_io() -> None:
    """core/ imports only core and the standard library's pure modules."""
    forbidden = {"time", "random", "threading", "socket", "os", "logging", "sqlite3", "secrets"}
    for path in (PACKAGE / "core").glob("*.py"):
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in forbidden, f"{path.name} imports {name}"
            if root == "proletarian":
                assert name.startswith("proletarian.core"), f"{path.name} imports {name}"


def test_ports_import_only_core() -> None:
    """ports/ import only core and each other."""
    for path in (PACKAGE / "ports").glob("*.py"):
        for name in _imports(path):
            if name.startswith("proletarian"):
                assert name.startswith(("proletarian.core", "proletarian.ports")), name
