"""pgqueuer, as its users run it: asyncpg connections, QueueManager workers on uvloop (what its
`pgq run` command uses), its own batch enqueue.

Concurrency: pgqueuer has no thread count. "N workers" here is N QueueManagers in one process
and one event loop, each on its own connection, each fetching batches of its default size
(`batch_size=10`; BENCH_PGQUEUER_BATCH=100 sets another): the shape of pgqueuer's own benchmark
tool. Its tables are installed with
its default durability ("durable": every table logged, as proletarian's are).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import uvloop

from bench.common import (
    BULK_BATCH,
    DEADLINE,
    PG_URL,
    AsyncLatencyProbe,
    Checkpoints,
    Stopwatch,
    payload,
    pg_count,
    rate,
    reset_pg_schema,
    rss_mib,
)

SCHEMA = "bench_pgqueuer"
CHANNEL = "bench_pgqueuer"
BATCH_SIZE = int(os.environ.get("BENCH_PGQUEUER_BATCH", "10"))
T = TypeVar("T")


def _configure() -> None:
    """pgqueuer reads its schema and channel from the environment, once."""
    os.environ["PGQUEUER_SCHEMA"] = SCHEMA
    os.environ["PGQUEUER_CHANNEL"] = CHANNEL
    from pgqueuer.domain.settings import db_settings

    db_settings.cache_clear()


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    _configure()
    return uvloop.run(make())


async def _connect() -> Any:
    return await asyncpg.connect(PG_URL, server_settings={"application_name": f"bench-{SCHEMA}"})


async def _fresh() -> Any:
    """Empty storage; returns Queries over a connection of their own."""
    from pgqueuer import Queries

    reset_pg_schema(SCHEMA)
    queries = Queries.from_asyncpg_connection(await _connect())
    await queries.install()
    return queries


def _encoded(i: int) -> bytes:
    return json.dumps(payload(i)).encode()


async def _fill(queries: Any, jobs: int) -> None:
    for start in range(0, jobs, BULK_BATCH):
        count = min(BULK_BATCH, jobs - start)
        await queries.enqueue(
            ["noop"] * count, [_encoded(i) for i in range(start, start + count)], [0] * count
        )


async def _managers(count: int, handler: Callable[[Any], Awaitable[None]]) -> list[Any]:
    from pgqueuer import Queries, QueueManager

    managers = []
    for _ in range(count):
        manager = QueueManager(Queries.from_asyncpg_connection(await _connect()))
        manager.entrypoint("noop")(handler)
        managers.append(manager)
    return managers


def _check_done(jobs: int) -> None:
    left = pg_count(f"SELECT count(*) FROM {SCHEMA}.pgqueuer")
    if left:
        raise RuntimeError(f"pgqueuer left {left} of {jobs} jobs on the queue")


class PgQueuer:
    def enqueue_one(self, jobs: int) -> float:
        async def measure() -> float:
            queries = await _fresh()
            watch = Stopwatch()
            watch.start()
            for i in range(jobs):
                await queries.enqueue("noop", _encoded(i), 0)
            watch.stop()
            return rate(jobs, watch.wall)

        return _run(measure)

    def enqueue_bulk(self, jobs: int) -> float:
        async def measure() -> float:
            queries = await _fresh()
            watch = Stopwatch()
            watch.start()
            await _fill(queries, jobs)
            watch.stop()
            return rate(jobs, watch.wall)

        return _run(measure)

    def drain(self, jobs: int, concurrency: int) -> tuple[float, float]:
        from pgqueuer.domain.types import QueueExecutionMode

        async def noop(job: Any) -> None:
            pass

        async def measure() -> tuple[float, float]:
            await _fill(await _fresh(), jobs)
            managers = await _managers(concurrency, noop)
            watch = Stopwatch()
            watch.start()
            runs = [m.run(batch_size=BATCH_SIZE, mode=QueueExecutionMode.drain) for m in managers]
            await asyncio.wait_for(asyncio.gather(*runs), DEADLINE)
            watch.stop()
            return watch.drained(jobs)

        result = _run(measure)
        _check_done(jobs)
        return result

    def latency(self, samples: int) -> list[float]:
        probe = AsyncLatencyProbe()

        async def handle(job: Any) -> None:
            probe.seen(json.loads(job.payload))

        async def measure() -> list[float]:
            queries = await _fresh()
            (manager,) = await _managers(1, handle)
            running = asyncio.create_task(manager.run(batch_size=BATCH_SIZE))
            try:

                async def enqueue(data: dict[str, Any]) -> None:
                    await queries.enqueue("noop", json.dumps(data).encode(), 0)

                return await probe.run(enqueue, samples)
            finally:
                manager.shutdown.set()
                await asyncio.wait_for(running, 30)

        return _run(measure)

    def rss(self, jobs: int) -> tuple[float, float]:
        checkpoints = Checkpoints(jobs)

        async def handle(job: Any) -> None:
            checkpoints.tick()

        async def measure() -> tuple[float, float]:
            from pgqueuer.domain.types import QueueExecutionMode

            await _fill(await _fresh(), jobs)
            managers = await _managers(4, handle)
            runs = [m.run(batch_size=BATCH_SIZE, mode=QueueExecutionMode.drain) for m in managers]
            await asyncio.wait_for(asyncio.gather(*runs), DEADLINE)
            assert checkpoints.first is not None
            return checkpoints.first, rss_mib()

        return _run(measure)
