"""Stand-ins for the parts of "your application" that documentation blocks call without
defining: a mailer, metrics, alerts, a handler. They record what they were given and do
nothing else; the blocks' use of proletarian is what the tests check."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from proletarian import Handlers, Job, JobContext


class Recorder:
    """Any method call is recorded in `calls` as (name, args, kwargs)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return call


class Mailer:
    """Sends nothing; `sent` lists the addresses."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str, **options: Any) -> None:
        self.sent.append(to)


def handle_job(job_type: str, payload: Any) -> None:
    """A default-mode handler that does nothing."""


def handler(job_type: str, payload: Any) -> None:
    """The same, under the other name the pages use."""


def send_email(to: str) -> None:
    """What a handler would call to send an email."""


@contextlib.contextmanager
def use_tenant(tenant: str | None) -> Iterator[None]:
    """What a middleware would enter around a tenant's job."""
    yield


def app() -> dict[str, Any]:
    """Fresh stand-ins for one page."""
    handlers = Handlers()

    @handlers.register("send-email")
    def send(payload: Any) -> None:
        pass

    @handlers.register("import-file", with_context=True)
    def import_file(job: Job, ctx: JobContext) -> None:
        pass

    return {
        "alerts": Recorder(),
        "email": "ada@example.com",
        "handle_job": handle_job,
        "handler": handler,
        "handlers": handlers,
        "mailer": Mailer(),
        "metrics": Recorder(),
        "payload": {"email": "ada@example.com"},
        "request_id": contextvars.ContextVar("request_id", default="-"),
        "send_email": send_email,
        "use_tenant": use_tenant,
    }
