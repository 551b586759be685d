"""procrastinate, as its users run it: an App on its psycopg connector, async tasks, and its own
asyncio worker (`run_worker_async`) with `concurrency` N as the thread-count equivalent. Its
schema is applied in a schema of its own (the connections' search_path). Jobs are kept after
they finish, as its default (`delete_jobs="never"`) does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import sql

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

SCHEMA = "bench_procrastinate"
T = TypeVar("T")


def _app() -> Any:
    import procrastinate

    connector = procrastinate.PsycopgConnector(
        conninfo=PG_URL,
        kwargs={"options": f"-c search_path={SCHEMA}", "application_name": f"bench-{SCHEMA}"},
    )
    return procrastinate.App(connector=connector)


def _fresh() -> None:
    reset_pg_schema(SCHEMA)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))


def _run(body: Callable[[Any], Awaitable[T]], handler: Callable[..., Awaitable[None]]) -> T:
    """Run `body(task)` with a fresh schema and an open app whose task "noop" is `handler`
    (the app is `task.blueprint`)."""
    _fresh()
    app = _app()
    task = app.task(name="noop", queue="default")(handler)

    async def main() -> T:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            return await body(task)

    return asyncio.run(main())


async def _noop(n: int = 0, **_: Any) -> None:
    pass


async def _fill(task: Any, jobs: int) -> None:
    for start in range(0, jobs, BULK_BATCH):
        await task.batch_defer_async(
            *(payload(i) for i in range(start, min(start + BULK_BATCH, jobs)))
        )


def _worker(task: Any, concurrency: int, *, wait: bool) -> Any:
    return task.blueprint.run_worker_async(
        concurrency=concurrency, wait=wait, install_signal_handlers=False
    )


def _check_done(jobs: int) -> None:
    done = pg_count(f"SELECT count(*) FROM {SCHEMA}.procrastinate_jobs WHERE status = 'succeeded'")
    if done != jobs:
        raise RuntimeError(f"procrastinate finished {done} of {jobs} jobs")


class Procrastinate:
    def enqueue_one(self, jobs: int) -> float:
        async def measure(task: Any) -> float:
            watch = Stopwatch()
            watch.start()
            for i in range(jobs):
                await task.defer_async(**payload(i))
            watch.stop()
            return rate(jobs, watch.wall)

        return _run(measure, _noop)

    def enqueue_bulk(self, jobs: int) -> float:
        async def measure(task: Any) -> float:
            watch = Stopwatch()
            watch.start()
            await _fill(task, jobs)
            watch.stop()
            return rate(jobs, watch.wall)

        return _run(measure, _noop)

    def drain(self, jobs: int, concurrency: int) -> tuple[float, float]:
        async def measure(task: Any) -> tuple[float, float]:
            await _fill(task, jobs)
            watch = Stopwatch()
            watch.start()
            await asyncio.wait_for(_worker(task, concurrency, wait=False), DEADLINE)
            watch.stop()
            return watch.drained(jobs)

        result = _run(measure, _noop)
        _check_done(jobs)
        return result

    def latency(self, samples: int) -> list[float]:
        probe = AsyncLatencyProbe()

        async def handle(t: float) -> None:
            probe.seen({"t": t})

        async def measure(task: Any) -> list[float]:
            running = asyncio.create_task(_worker(task, 1, wait=True))
            try:

                async def enqueue(data: dict[str, Any]) -> None:
                    await task.defer_async(**data)

                return await probe.run(enqueue, samples)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

        return _run(measure, handle)

    def rss(self, jobs: int) -> tuple[float, float]:
        checkpoints = Checkpoints(jobs)

        async def handle(n: int) -> None:
            checkpoints.tick()

        async def measure(task: Any) -> tuple[float, float]:
            await _fill(task, jobs)
            await asyncio.wait_for(_worker(task, 4, wait=False), DEADLINE)
            assert checkpoints.first is not None
            return checkpoints.first, rss_mib()

        return _run(measure, handle)
