"""The store's Lua scripts and the translation of redis-py's errors.

Each script lives in lua/<name>.lua; lua/common.lua (the key layout and shared helpers) is put
after each script's first line, its shebang. Scripts run with EVALSHA, loaded on first use (or
by `load()`): each runs atomically on the server, so no other command sees a job half-moved,
and a client that dies between two calls never leaves one half-moved either.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

import redis
from redis.commands.core import Script

from proletarian.core.errors import StoreError, StoreUnavailable

NAMES = (
    "abandon",
    "cancel",
    "claim",
    "enqueue",
    "finish",
    "get",
    "latest_key",
    "prune",
    "renew",
    "retry",
    "retry_failed",
    "stats",
    # The operators' reads and the worker registry (inspection.py).
    "heartbeat",
    "list",
    "register",
    "throughput",
    "unregister",
    "workers",
)

# A replica promoted mid-call refuses writes until the client reconnects: worth retrying.
_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


@functools.cache
def source(name: str) -> str:
    folder = files(__package__).joinpath("lua")
    shebang, _, body = folder.joinpath(f"{name}.lua").read_text().partition("\n")
    return f"{shebang}\n{folder.joinpath('common.lua').read_text()}\n{body}"


class Scripts:
    """The scripts registered on one client. Thread-safe, as the client is."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._scripts: dict[str, Script] = {
            name: client.register_script(source(name)) for name in NAMES
        }

    def __call__(self, name: str, *args: str | int) -> Any:
        """Run one script; its result is as redis-py returns it (bytes, or str with
        decode_responses). redis-py errors propagate: wrap calls in `translated`."""
        return self._scripts[name](args=args)

    def load(self) -> None:
        """Load every script now, so a script error shows at start-up, not at first use."""
        for script in self._scripts.values():
            script.sha = self._client.script_load(script.script)


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Raise redis-py's errors as proletarian's: StoreUnavailable for a lost connection or a
    server that can't take writes now, StoreError for the rest. `where` is shown; it must not
    hold a password."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"Redis at {where} is unavailable: {exc}") from exc
    except redis.RedisError as exc:
        raise StoreError(f"Redis at {where} failed: {exc}") from exc
