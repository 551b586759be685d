"""Finding what the command line names as MODULE:NAME: a handler, or schedules."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

from proletarian.cli.errors import CliError, UsageError
from proletarian.core.schedule import Schedule
from proletarian.core.signatures import written_for
from proletarian.worker.handlers import Handlers


def load_handler(path: str, *, mode: str = "default") -> Callable[..., object]:
    """The handler named MODULE:HANDLER (see `load`). UsageError when it is not callable, or
    when its parameters plainly belong to the other `mode` (see core.signatures): it would fail
    every job."""
    target = load(path, what="handler", example="myapp.jobs:handle_job")
    if not callable(target):
        raise UsageError(f"handler {path!r} is not callable (got {type(target).__name__})")
    if not isinstance(target, Handlers):  # a registry serves both modes
        _check_mode(path, target, mode)
    return target


def load_schedules(path: str) -> list[Schedule]:
    """The schedules named MODULE:SCHEDULES: one Schedule, or a sequence of them."""
    target = load(path, what="schedules", example="myapp.jobs:schedules")
    found = [target] if isinstance(target, Schedule) else target
    if not isinstance(found, Sequence) or not all(isinstance(s, Schedule) for s in found):
        raise UsageError(
            f"schedules {path!r} must be a proletarian.Schedule or a list of them, "
            f"got {type(target).__name__}"
        )
    return list(found)


def load(path: str, *, what: str, example: str) -> object:
    """Import MODULE and return its attribute NAME (dotted for nested attributes, e.g.
    `app.jobs:registry.handle`). The current directory is importable, as with `python -m`.

    UsageError when the module or attribute does not exist. CliError when the module exists
    but imports a missing package. Any other exception raised while importing the module is the
    application's own bug and propagates with its traceback."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{what} {path!r} must be MODULE:{what.upper()}, like {example}")
    # Console scripts start with their own directory on sys.path, not the user's.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise UsageError(f"{what} module {module_name!r} not found ({exc})") from None
        raise CliError(f"importing {what} module {module_name!r} failed: {exc}") from None
    except ImportError as exc:
        raise CliError(f"importing {what} module {module_name!r} failed: {exc}") from None
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise UsageError(
                f"{what} {path!r} not found: {module_name!r} has no attribute {attribute!r}"
            ) from None
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
