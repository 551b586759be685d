"""The integration helpers stay thin: they import no store adapter, and nothing imports them
unasked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import proletarian

INTEGRATIONS = Path(proletarian.__file__).parent / "integrations"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_integrations_import_no_adapter() -> None:
    """proletarian/integrations/ hands connections to the public API and never imports a store
    adapter, so each helper works with whichever store the application built."""
    modules = sorted(INTEGRATIONS.glob("*.py"))
    assert [path.name for path in modules] == [
        "__init__.py",
        "django.py",
        "sqlalchemy.py",
        "tenants.py",
    ]
    for path in modules:
        for name in _imports(path):
            assert not name.startswith("proletarian.adapters"), f"{path.name} imports {name}"


def test_importing_proletarian_loads_no_integration_or_framework() -> None:
    """`import proletarian` (and the integrations package itself) loads no helper and no
    framework: Django, SQLAlchemy and psycopg come in only with the helper that needs them."""
    code = (
        "import sys, proletarian, proletarian.integrations; "
        "bad = sorted(m for m in sys.modules if m.startswith('proletarian.integrations.') "
        "or m.split('.')[0] in {'django', 'sqlalchemy', 'psycopg', 'fastapi'}); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
