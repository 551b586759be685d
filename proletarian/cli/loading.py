"""Finding the handler named on the command line as MODULE:HANDLER."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from proletarian.cli.errors import CliError, UsageError
from proletarian.core.signatures import written_for
from proletarian.worker.handlers import Handlers


def load_handler(path: str, *, mode: str = "default") -> Callable[..., object]:
    """Import MODULE and return its attribute HANDLER (dotted for nested attributes, e.g.
    `app.jobs:registry.handle`). The current directory is importable, as with `python -m`.

    UsageError when the module or attribute does not exist or is not callable, or when the
    handler's parameters plainly belong to the other `mode` (see core.signatures): it would
    fail every job. CliError when the module exists but imports a missing package. Any other
    exception raised while importing the module is the application's own bug and propagates
    with its traceback."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"handler {path!r} must be MODULE:HANDLER, like myapp.jobs:handle_job")
    # Console scripts start with their own directory on sys.path, not the user's.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise UsageError(f"handler module {module_name!r} not found ({exc})") from None
        raise CliError(f"importing handler module {module_name!r} failed: {exc}") from None
    except ImportError as exc:
        raise CliError(f"importing handler module {module_name!r} failed: {exc}") from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise UsageError(
                f"handler {path!r} not found: {module_name!r} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise UsageError(f"handler {path!r} is not callable (got {type(target).__name__})")
    if not isinstance(target, Handlers):  # a registry serves both modes
        _check_mode(path, target, mode)
    return target


def _check_mode(path: str, handler: Callable[..., object], mode: str) -> None:
    written = written_for(handler)
    if written is None or written[0] == mode:
        return
    other, parameters = written
    fix = (
        "run it with --handler-mode advanced (the default mode calls handler(job_type, payload))"
        if other == "advanced"
        else "drop --handler-mode advanced (the advanced mode calls handler(job, ctx))"
    )
    raise UsageError(f"handler {path!r} takes ({parameters}), the {other} mode's arguments; {fix}")
