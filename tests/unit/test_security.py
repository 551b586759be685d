"""Security properties that hold by construction: nothing in the package can unpickle."""

from __future__ import annotations

import ast
from pathlib import Path

import proletarian

PACKAGE = Path(proletarian.__file__).resolve().parent
# Modules that turn stored bytes back into arbitrary objects (and so into code execution).
UNSAFE = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "jsonpickle"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_of_the_package_imports_pickle_or_its_kin() -> None:
    """No source file of proletarian imports pickle, marshal, shelve or a pickle library, or
    even mentions pickle (as an importlib string would)."""
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20
    for path in sources:
        assert not imported_modules(path) & UNSAFE, path
        text = path.read_text()
        assert "pickle" not in text, path
