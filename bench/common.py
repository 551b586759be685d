"""What every benchmarked system shares: the servers, the measurements, and how a result is kept.

A system is measured one metric per child process (`python -m bench.child`), so one metric's
imports, caches and garbage never weigh on another, and RSS is the worker's own.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import psutil  # type: ignore[import-untyped]
import psycopg
from psycopg import sql

PG_URL = os.environ.get("PROLETARIAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("PROLETARIAN_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test")
# Database 14: the tests use 15, and a benchmark must never wipe their keys.
REDIS_URL = os.environ.get("PROLETARIAN_BENCH_REDIS", "redis://127.0.0.1:6379/14")

# Jobs per enqueue_many call (and per peer's batch enqueue call) in the bulk enqueue metric.
BULK_BATCH = 1000
# Latency samples thrown away first: connections, prepared statements and caches warm up.
LATENCY_WARMUP = 10
# The pause between two latency samples, so the worker is idle (waiting for a notification)
# when each job arrives. Random, so a polling worker's timer can't line up with it.
LATENCY_GAP = (0.01, 0.03)
# How long any one drain or latency wait may take before the run is declared stuck.
DEADLINE = 1800.0


class System(Protocol):
    """One queue system (or one proletarian store) under measurement. Each method runs in a
    fresh child process over freshly emptied storage and returns its measurement; jobs are
    no-ops whose payload is one small JSON object."""

    def enqueue_one(self, jobs: int) -> float:
        """Jobs per second enqueued one call (and one commit) at a time, on one thread."""

    def enqueue_bulk(self, jobs: int) -> float:
        """Jobs per second enqueued in calls of BULK_BATCH jobs."""

    def drain(self, jobs: int, concurrency: int) -> tuple[float, float]:
        """Jobs per second run to completion by a worker of `concurrency`, timed from the
        worker's start to the last job's outcome (the jobs are enqueued before the clock
        starts), and the worker process's CPU time per job in microseconds (see Stopwatch)."""

    def latency(self, samples: int) -> list[float]:
        """Seconds from just before the enqueue call to the handler's start, one job at a time,
        the worker idle before each."""

    def rss(self, jobs: int) -> tuple[float, float]:
        """The worker process's RSS in MiB after a tenth of `jobs` ran, and after all."""


class Stopwatch:
    """Wall-clock and process CPU time (every thread, user and system) between `start` and
    `stop`. CPU per job is the client's own cost, and does not depend on how busy the database
    server or the machine is: it is what an optimisation of the client changes."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def drained(self, jobs: int) -> tuple[float, float]:
        """Jobs per second, and CPU microseconds per job."""
        return rate(jobs, self.wall), self.cpu / jobs * 1e6


def reset_pg_schema(schema: str) -> None:
    """Drop `schema` with everything in it, and end connections a stuck earlier run left."""
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (f"bench-{schema}",),
        )
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def pg_count(query: str) -> int:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(query.encode()).fetchone()
    return int(row[0]) if row else 0


def rate(jobs: int, seconds: float) -> float:
    return jobs / seconds if seconds > 0 else float("inf")


def rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def payload(i: int) -> dict[str, Any]:
    return {"n": i}


class Checkpoints:
    """Counts finished handler calls from any thread; notes RSS at a tenth of the run and at the
    end, and sets `done` when `total` calls were counted."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.first: float | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.count += 1
            count = self.count
        if count == max(self.total // 10, 1):
            self.first = rss_mib()
        if count == self.total:
            self.done.set()


class LatencyProbe:
    """Drives the pickup-latency measurement of a threaded worker: the handler calls `seen`
    with the payload, the driver enqueues and waits."""

    def __init__(self) -> None:
        self.arrivals: queue.Queue[float] = queue.Queue()

    def seen(self, data: Any) -> None:
        self.arrivals.put(time.perf_counter() - float(data["t"]))

    def run(self, enqueue: Callable[[dict[str, Any]], object], samples: int) -> list[float]:
        results: list[float] = []
        for i in range(samples + LATENCY_WARMUP):
            time.sleep(random.uniform(*LATENCY_GAP))
            enqueue({"t": time.perf_counter()})
            value = self.arrivals.get(timeout=30)
            if i >= LATENCY_WARMUP:
                results.append(value)
        return results


class AsyncLatencyProbe:
    """LatencyProbe for an asyncio worker running in the same event loop."""

    def __init__(self) -> None:
        self.arrivals: asyncio.Queue[float] = asyncio.Queue()

    def seen(self, data: Any) -> None:
        self.arrivals.put_nowait(time.perf_counter() - float(data["t"]))

    async def run(
        self, enqueue: Callable[[dict[str, Any]], Awaitable[object]], samples: int
    ) -> list[float]:
        results: list[float] = []
        for i in range(samples + LATENCY_WARMUP):
            await asyncio.sleep(random.uniform(*LATENCY_GAP))
            await enqueue({"t": time.perf_counter()})
            value = await asyncio.wait_for(self.arrivals.get(), 30)
            if i >= LATENCY_WARMUP:
                results.append(value)
        return results


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of `samples`, in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000
