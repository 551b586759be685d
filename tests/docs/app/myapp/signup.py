"""Application code that enqueues: a sign-up enqueues its welcome email."""

from __future__ import annotations

import proletarian
from proletarian.ports.store import QueueStore


def sign_up(store: QueueStore, email: str) -> None:
    proletarian.enqueue(store, "send-welcome", {"email": email})
