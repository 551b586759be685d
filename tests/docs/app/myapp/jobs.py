"""The application's handlers: a registry that sends welcome emails through `mailer`."""

from __future__ import annotations

from typing import Any

from proletarian import Handlers


class Mailer:
    """Sends nothing; `sent` lists the addresses."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, to: str, **options: Any) -> None:
        self.sent.append(to)


mailer = Mailer()
handlers = Handlers()


@handlers.register("send-welcome")
def send_welcome(payload: Any) -> None:
    mailer.send(payload["email"])


def handle_job(job_type: str, payload: Any) -> None:
    """A plain handler: succeeds."""
