"""Type-check only: mypy accepts handlers of the shape their mode calls for and rejects the
others. Each bad call carries `# type: ignore[<code>]`: with `warn_unused_ignores` (part of
strict), a bad call that mypy stops rejecting fails the check. Nothing here runs."""

from __future__ import annotations

from typing import Any

from proletarian import Handlers, Job, JobContext, QueueWorker, RetryPolicy
from proletarian.adapters.memory import MemoryStore
from proletarian.worker.context import HandlerMode


def handle_default(job_type: str, payload: dict[str, Any]) -> None: ...


def handle_any(job_type: str, payload: Any) -> object:
    return payload


def handle_advanced(job: Job, ctx: JobContext) -> None: ...


class CallableHandler:
    def __call__(self, job_type: str, payload: Any) -> None: ...


def good_calls(loaded: Any, mode: Any) -> None:
    store = MemoryStore()
    QueueWorker(store, handle_default)
    QueueWorker(store, handle_any, handler_mode="default", threads=2)
    QueueWorker(store, lambda job_type, payload: None)
    QueueWorker(store, CallableHandler())
    QueueWorker(store, handle_advanced, handler_mode="advanced")
    QueueWorker(store, lambda job, ctx: ctx.stopping.set(), handler_mode="advanced")
    handlers = Handlers()
    QueueWorker(store, handlers)
    QueueWorker(store, handlers, handler_mode="advanced")
    # A handler and mode known only at run time (as the CLI loads them).
    QueueWorker(store, loaded, handler_mode=mode)
    # The options are typed alike in both modes.
    QueueWorker(store, handle_default, retry=lambda job, exc: None, on_failed=lambda job, exc: 1)
    QueueWorker(store, handle_advanced, handler_mode="advanced", retry=RetryPolicy(retries=1))


def bad_calls(mode: HandlerMode) -> None:
    store = MemoryStore()
    QueueWorker(store, 42)  # type: ignore[call-overload]
    QueueWorker(store, "tasks:handle_job")  # type: ignore[call-overload]
    # An advanced handler without handler_mode="advanced", and the other way round.
    QueueWorker(store, handle_advanced)  # type: ignore[arg-type]
    QueueWorker(store, handle_advanced, handler_mode="default")  # type: ignore[call-overload]
    QueueWorker(store, handle_default, handler_mode="advanced")  # type: ignore[call-overload]
    QueueWorker(store, handle_default, handler_mode="fancy")  # type: ignore[call-overload]
    # A mode chosen at run time with a precisely typed handler: cast the handler, or pick
    # the literal mode in each branch.
    QueueWorker(store, handle_default, handler_mode=mode)  # type: ignore[arg-type]
    # Bad options, in either mode.
    QueueWorker(store, handle_default, threads="4")  # type: ignore[call-overload]
    QueueWorker(store, handle_advanced, handler_mode="advanced", retry=3)  # type: ignore[call-overload]


def registry() -> None:
    handlers = Handlers()

    @handlers.register("send-email", retry=RetryPolicy(retries=4, delays=[1, 5]))
    def send_email(payload: dict[str, Any]) -> None: ...

    @handlers.register("import-file", with_context=True)
    def import_file(job: Job, ctx: JobContext) -> None: ...

    # The decorated functions keep their own types.
    send_email({"to": "a@b.c"})
    send_email("a@b.c")  # type: ignore[arg-type]
    del import_file


def bad_registrations(flag: bool) -> None:
    handlers = Handlers()

    # A function of the job and context needs with_context=True ...
    @handlers.register("import-file")  # type: ignore[type-var]
    def import_file(job: Job, ctx: JobContext) -> None: ...

    # ... and a function of the payload must not have it.
    @handlers.register("send-email", with_context=True)  # type: ignore[type-var]
    def send_email(payload: dict[str, Any]) -> None: ...

    # A flag known only at run time can't be checked: either shape passes.
    @handlers.register("either", with_context=flag)
    def either(payload: dict[str, Any]) -> None: ...

    handlers.register("not-a-function")(42)  # type: ignore[type-var]
    del import_file, send_email, either
