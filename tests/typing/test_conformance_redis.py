"""Type-check only: mypy proves RedisStore and its claims and listeners satisfy the ports.
Nothing here runs."""

from __future__ import annotations

import redis

from proletarian.adapters.redis import RedisStore
from proletarian.ports.store import Claim, Listener, Notifier, QueueStore, Renewable


def conformance() -> None:
    store: QueueStore = RedisStore(redis.Redis())
    notifier: Notifier = RedisStore(redis.Redis())
    listener: Listener = notifier.listen(["default"])
    claim = RedisStore(redis.Redis()).claim(["default"], worker_id="w")
    if claim is not None:
        held: Claim = claim
        renewable: Renewable = claim
        del held, renewable
    del store, listener
