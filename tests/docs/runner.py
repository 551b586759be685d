"""Runs one page's Python blocks, in a process of its own (started by test_docs_code.py).

Requests come as JSON lines on stdin; each is answered by one JSON line, {"error": null} or
{"error": "<traceback>"}, on what was stdout when the process started. Whatever the blocks
print goes to stderr. Every block runs in a copy of the page's namespace (built by the
"prelude" request), so a block sees the page's set-up but not what another block defined.
A block may use `await` at its top level; test functions it defines (`test_*`) are called,
with arguments named like the namespace's entries (pytest fixtures in the page's prose).

A process per page, because blocks change process-wide state (the working directory,
sys.modules, logging, connection pools left open): it all ends with the process."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import os
import sys
import traceback
from typing import Any

FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def execute(code: str, filename: str, line: int, namespace: dict[str, Any]) -> None:
    """Run `code`, whose first line is line `line` of `filename`, so tracebacks point there."""
    compiled = compile("\n" * (line - 1) + code, filename, "exec", flags=FLAGS, dont_inherit=True)
    result = eval(compiled, namespace)  # the documentation's own code
    if inspect.iscoroutine(result):
        asyncio.run(result)


def run(request: dict[str, Any], base: dict[str, Any]) -> None:
    if request["op"] == "prelude":
        execute(request["code"], "<prelude>", 1, base)
        return
    namespace = {"__name__": request["module"]} if request.get("alone") else dict(base)
    where, line = request["path"], request["line"]
    if request.get("setup"):
        execute(request["setup"], f"{where} (setup)", line, namespace)
    execute(request["code"], where, line, namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value) and base.get(name) is not value:
            parameters = inspect.signature(value).parameters
            value(**{parameter: namespace[parameter] for parameter in parameters})
    if request.get("check"):
        execute(request["check"], f"{where} (check)", line, namespace)


def main() -> None:
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the blocks print, and what their subprocesses print, goes to stderr
    base: dict[str, Any] = {"__name__": "__docs__"}
    for line in sys.stdin:
        try:
            run(json.loads(line), base)
            error = None
        except BaseException:
            error = traceback.format_exc()
        sys.stdout.flush()
        replies.write(json.dumps({"error": error}) + "\n")
        replies.flush()
    # Pools, listeners and worker threads the blocks left behind end with the process.
    os._exit(0)


if __name__ == "__main__":
    main()
