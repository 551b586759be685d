"""What a unique key costs at enqueue, on each store: one job per call (and per commit), one
thread, in four cases, and a Markdown table of the results.

    python -m bench.unique [--jobs N] [--rounds R] [--only postgres,mysql,...]

* no key: `enqueue(store, "noop", payload)`, the baseline;
* new key: every call has a key never used before (the key row is inserted with the job);
* held key: every call has the key of one queued job (nothing is written; the holder's id
  comes back);
* free key: every call has a key whose holder succeeded (the key row is taken over).

Each case runs `--rounds` times over emptied storage, the cases taking turns; the table has the
median rate. Needs
only the dev extras (not the peers of bench/run.py), and the servers of bench/common.py (the
same PROLETARIAN_BENCH_* variables).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import proletarian
from proletarian.ports.store import QueueStore

PG_URL = os.environ.get("PROLETARIAN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("PROLETARIAN_BENCH_MYSQL", "mysql://root@127.0.0.1:3306/test")
# Database 14, as bench/common.py: the tests use 15.
REDIS_URL = os.environ.get("PROLETARIAN_BENCH_REDIS", "redis://127.0.0.1:6379/14")
PG_SCHEMA = "bench_unique"
MYSQL_JOB_TABLE = "bench_unique_job"
REDIS_PREFIX = "proletarian-bench-unique"
STORES = ("postgres", "mysql", "sqlite", "redis", "memory")
CASES = ("no key", "new key", "held key", "free key")


def payload(i: int) -> dict[str, Any]:
    return {"n": i, "to": "someone@example.com"}


@contextlib.contextmanager
def open_store(kind: str) -> Iterator[QueueStore]:
    """A store of `kind` over empty storage."""
    if kind == "postgres":
        import psycopg
        from psycopg import sql

        from proletarian.adapters.postgres import PostgresStore

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(PG_SCHEMA))
            )
        pg = PostgresStore.connect(PG_URL, schema=PG_SCHEMA, min_size=1, max_size=2)
        with contextlib.closing(pg):
            pg.install_schema()
            yield pg
    elif kind == "mysql":
        from proletarian.adapters.mysql import MySQLStore

        tables = (MYSQL_JOB_TABLE, MYSQL_JOB_TABLE.replace("_job", "_archived_job"))
        my = MySQLStore.connect(MYSQL_URL, job_table=tables[0], archived_job_table=tables[1])
        with contextlib.closing(my):
            my.install_schema()
            import pymysql

            admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
            with admin, admin.cursor() as cursor:
                for table in (*tables, f"{tables[0]}_key"):
                    cursor.execute(f"DELETE FROM `{table}`")
                admin.commit()
            yield my
    elif kind == "sqlite":
        from proletarian.adapters.sqlite import SQLiteStore

        with tempfile.TemporaryDirectory() as folder:
            lite = SQLiteStore(Path(folder) / "bench.db")
            with contextlib.closing(lite):
                lite.install_schema()
                yield lite
    elif kind == "redis":
        import redis

        from proletarian.adapters.redis import RedisStore

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{REDIS_PREFIX}:*"):
            client.delete(key)
        client.close()
        rs = RedisStore.connect(REDIS_URL, prefix=REDIS_PREFIX)
        with contextlib.closing(rs):
            yield rs
    else:
        from proletarian.adapters.memory import MemoryStore

        yield MemoryStore()


def finish_all(store: QueueStore, count: int) -> None:
    """Claim and succeed `count` jobs: their keys are then free, their rows still there."""
    for _ in range(count):
        claim = store.claim(["default"], worker_id="bench")
        assert claim is not None
        claim.succeed()


def run_case(kind: str, case: str, jobs: int) -> float:
    """Jobs (calls) per second of one case over a fresh store."""
    with open_store(kind) as store:
        keys: Callable[[int], str | None]
        if case == "no key":
            keys = lambda i: None  # noqa: E731
        elif case == "new key":
            keys = lambda i: f"invoice:{i}"  # noqa: E731
        elif case == "held key":
            proletarian.enqueue(store, "noop", payload(0), unique_key="held")
            keys = lambda i: "held"  # noqa: E731
        else:
            for i in range(jobs):
                proletarian.enqueue(store, "noop", payload(i), unique_key=f"invoice:{i}")
            finish_all(store, jobs)
            keys = lambda i: f"invoice:{i}"  # noqa: E731
        started = time.perf_counter()
        for i in range(jobs):
            job_id = proletarian.enqueue(store, "noop", payload(i), unique_key=keys(i))
            assert job_id.created is (case != "held key")
        return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(STORES))
    args = parser.parse_args()
    kinds = [kind for kind in args.only.split(",") if kind]
    print(
        f"enqueue, one job per call and commit, one thread; {args.jobs} calls, median of "
        f"{args.rounds} rounds; jobs/s (µs per call)\n"
    )
    print("| store | " + " | ".join(CASES) + " |")
    print("|---|" + "---:|" * len(CASES))
    for kind in kinds:
        # The cases take turns within each round, so a busy moment of a shared machine weighs
        # on all of them rather than on one.
        rates: dict[str, list[float]] = {case: [] for case in CASES}
        for _ in range(args.rounds):
            for case in CASES:
                rates[case].append(run_case(kind, case, args.jobs))
        cells = []
        for case in CASES:
            rate = statistics.median(rates[case])
            cells.append(f"{rate:,.0f} ({1e6 / rate:,.0f})")
        print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
