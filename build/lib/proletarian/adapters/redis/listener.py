"""Wake-ups over Redis pub/sub: enqueue scripts publish to one channel per queue."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.client import PubSub

from proletarian.adapters.redis.codec import text
from proletarian.adapters.redis.scripts import translated
from proletarian.core.errors import StoreUnavailable

SUBSCRIBE_TIMEOUT = 5.0
# Messages read at once after a hint, so a burst of enqueues wakes the worker once.
MAX_COALESCED = 100


def channel(prefix: str, queue: str) -> str:
    """The channel enqueues of `queue` publish to; lua/common.lua builds the same name."""
    return f"{prefix}:wake:{queue}"


class RedisListener:
    """A subscription on its own connection, used by one thread.

    redis-py reconnects a dropped subscription by itself and subscribes again; hints published
    meanwhile are lost, so a new subscription confirmation counts as a hint. When the server
    can't be reached, `wait` raises StoreUnavailable.
    """

    def __init__(self, client: redis.Redis, prefix: str, queues: Sequence[str], where: str):
        self._where = where
        self._channels = {channel(prefix, queue) for queue in queues}
        self._pubsub: PubSub = client.pubsub()  # type: ignore[no-untyped-call]  # unannotated
        self._pending = False
        try:
            self._subscribe()
        except BaseException:
            self.close()
            raise

    def _subscribe(self) -> None:
        confirmed: set[str] = set()
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        with translated(self._where):
            self._pubsub.subscribe(*self._channels)
            while confirmed != self._channels:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreUnavailable(
                        f"Redis at {self._where} did not confirm the subscription "
                        f"within {SUBSCRIBE_TIMEOUT} s"
                    )
                message = self._read(remaining)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    confirmed.add(text(message["channel"]))
                elif message["type"] == "message":
                    self._pending = True

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True if a job was enqueued on one of the queues (or
        the subscription was renewed, when some hints may have been missed)."""
        if self._pending:
            self._pending = False
            return True
        deadline = time.monotonic() + timeout
        with translated(self._where):
            while True:
                remaining = deadline - time.monotonic()
                message = self._read(max(remaining, 0.0))
                if message is not None and message["type"] in ("message", "subscribe"):
                    for _ in range(MAX_COALESCED):
                        if self._read(0.0) is None:
                            break
                    return True
                if remaining <= 0:
                    return False

    def _read(self, timeout: float) -> dict[str, Any] | None:
        try:
            message: dict[str, Any] | None = self._pubsub.get_message(timeout=timeout)
        except (OSError, ValueError) as exc:
            # redis-py's reader fails so when the socket is closed under it (store.close()).
            raise StoreUnavailable(f"subscription to Redis at {self._where} was closed") from exc
        return message

    def close(self) -> None:
        """Drop the subscription's connection. Never raises."""
        with contextlib.suppress(redis.RedisError, OSError):
            self._pubsub.close()
