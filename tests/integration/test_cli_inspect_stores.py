"""The operators' commands on the server stores (PostgreSQL in both claim modes, MySQL,
Redis): the same answers as on SQLite and memory (tests/unit/test_cli_inspect.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

import proletarian
from proletarian import JobError
from proletarian.adapters.clocks import SystemClock
from proletarian.cli import main
from proletarian.core.inspection import WorkerInfo
from proletarian.ports.store import QueueStore
from tests.fixtures import mysql, postgres, redis
from tests.fixtures.servers import MYSQL_URL, POSTGRES_URL, REDIS_URL


@contextmanager
def store_and_argv(kind: str, tmp_path: Path) -> Iterator[tuple[QueueStore, list[str]]]:
    """A store of `kind` and the --url and -o options that name the same tables."""
    clock = SystemClock()
    if kind.startswith("postgres"):
        lease = {"lease": timedelta(seconds=30)} if kind == "postgres_leased" else {}
        with postgres.open_store(clock, tmp_path, **lease) as store:
            yield store, ["--url", POSTGRES_URL, "-o", f"schema={postgres.SCHEMA}"]
    elif kind == "mysql":
        with mysql.open_store(clock, tmp_path) as store:
            yield (
                store,
                [
                    "--url",
                    MYSQL_URL,
                    "-o",
                    f"job_table={mysql.JOB_TABLE}",
                    "-o",
                    f"archived_job_table={mysql.ARCHIVED_JOB_TABLE}",
                ],
            )
    else:
        with redis.open_store(clock, tmp_path) as store:
            yield store, ["--url", REDIS_URL, "-o", f"prefix={store.prefix}"]


def cli(capsys: pytest.CaptureFixture[str], argv: list[str], *args: str) -> str:
    capsys.readouterr()
    code = main([*args, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("kind", ["postgres", "postgres_leased", "mysql", "redis"])
def test_operators_commands_on_a_server_store(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """jobs, show, status --json and workers read what the store holds; bulk retry and cancel
    say how many jobs they touched."""
    with store_and_argv(kind, tmp_path) as (store, argv):
        proletarian.enqueue(store, "mail", {"to": "a"})
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        claim.fail(JobError(type="OSError", message="down"))
        failed = claim.job.id
        queued = proletarian.enqueue(store, "mail", None)
        now = store.clock.now()
        store.register_worker(
            WorkerInfo(
                id="w-1",
                host="box",
                pid=1,
                queues=("default",),
                threads=1,
                version="x",
                started_at=now,
                last_seen=now,
                heartbeat_interval=timedelta(seconds=10),
            )
        )

        listed = json.loads(cli(capsys, argv, "jobs", "--json", "--type", "mail"))["jobs"]
        assert [(j["id"], j["status"]) for j in listed] == [(queued, "ready"), (failed, "failed")]
        shown = json.loads(cli(capsys, argv, "show", failed, "--json"))
        assert shown["error"]["message"] == "down"
        assert "OSError: down" in cli(capsys, argv, "show", failed)
        status = json.loads(cli(capsys, argv, "status", "--json"))
        assert status["queues"]["default"]["failed"] == 1
        assert status["throughput"][-1]["failed"] == 1
        workers = json.loads(cli(capsys, argv, "workers", "--json"))["workers"]
        assert [(w["id"], w["dead"]) for w in workers] == [("w-1", False)]
        assert cli(capsys, argv, "retry", "--all-failed", "--yes") == "1 job queued again\n"
        assert cli(capsys, argv, "cancel", "--all-queued", "--yes") == "2 jobs cancelled\n"
        assert store.list_jobs().jobs == ()
