"""The Redis store: jobs kept in Redis, claimed under leases, every multi-key change one Lua
script, and idle workers woken through pub/sub.

    store = RedisStore.connect("redis://127.0.0.1:6379/0", prefix="myapp")

There is no outbox: Redis is not the application's database, so `conn=` is refused. See
docs/stores/redis.md for the key layout, durability under each persistence setting, and
leases.
"""

try:
    import redis  # noqa: F401  (first, so a missing driver gives this message)
except ImportError:
    raise ImportError("RedisStore needs redis: pip install 'proletarian[redis]'") from None

from proletarian.adapters.redis.claim import RedisClaim
from proletarian.adapters.redis.listener import RedisListener
from proletarian.adapters.redis.store import DEFAULT_ARCHIVE_RETENTION, DEFAULT_PREFIX, RedisStore

__all__ = [
    "DEFAULT_ARCHIVE_RETENTION",
    "DEFAULT_PREFIX",
    "RedisClaim",
    "RedisListener",
    "RedisStore",
]
