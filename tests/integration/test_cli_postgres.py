"""The command line against a real PostgreSQL server, in a database of its own (so other
suites' tables in `test` are never touched): schema, enqueue, status, retry, cancel, prune and
the worker as a process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from proletarian import JobError, JobStatus, NewJob
from proletarian.adapters.postgres import PostgresStore
from proletarian.cli import main
from tests.fixtures.servers import POSTGRES_URL, require

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "tests.integration.test_cli_postgres:handler"
DATABASE = "proletarian_cli"
OTHER_SCHEMA = "proletarian_cli_other"
NEVER = "0190d2a0-0000-7000-8000-000000000000"
DEADLINE = 30.0


def handler(job_type: str, payload: Any) -> None:
    """The worker subprocess's handler: every job succeeds."""


def succeeded(store: PostgresStore, job_id: str) -> bool:
    job = store.get_job(job_id)
    return job is not None and job.status is JobStatus.SUCCEEDED


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def url() -> str:
    """A URL to an empty database of the CLI tests' own, created on first use."""
    require("postgres")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    own = POSTGRES_URL.rsplit("/", 1)[0] + "/" + DATABASE
    with psycopg.connect(own, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS proletarian CASCADE")
    return own


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    store = PostgresStore.connect(url)
    store.install_schema()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], url: str) -> Callable[..., Result]:
    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main([*argv, "--url", url])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def test_schema_print_shows_the_postgresql_ddl(cli: Callable[..., Result]) -> None:
    """schema print on a postgresql:// URL prints the PostgreSQL tables."""
    result = cli("schema", "print")
    assert result.code == 0
    assert "CREATE TABLE IF NOT EXISTS proletarian.job" in result.out


def test_schema_apply_installs_the_tables(cli: Callable[..., Result], url: str) -> None:
    """schema apply creates the tables on the server, and again changes nothing."""
    assert cli("schema", "apply").code == 0
    assert cli("schema", "apply").code == 0
    with psycopg.connect(url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                ["proletarian"],
            )
        }
    assert {"job", "archived_job"} <= tables


def test_enqueue_status_cancel(cli: Callable[..., Result], store: PostgresStore) -> None:
    """A job enqueued by the CLI shows in status, and cancel removes it."""
    job_id = cli("enqueue", "send-email", '{"to": "a@b.c"}', "--queue", "emails").out.strip()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.queue, job.payload) == ("emails", {"to": "a@b.c"})
    rows = cli("status").out.splitlines()
    assert rows[2].split()[:6] == ["emails", "1", "0", "0", "0", "0"]
    assert cli("cancel", job_id).code == 0
    assert store.get_job(job_id) is None


def test_retry_and_prune(cli: Callable[..., Result], store: PostgresStore) -> None:
    """retry requeues a failed job; prune --older-than 0s empties the archive."""
    store.enqueue(NewJob(job_type="t", payload={}))
    claim = store.claim(["default"], worker_id="test")
    assert claim is not None
    claim.fail(JobError(type="E", message="boom"))
    assert cli("retry", claim.job.id).code == 0
    requeued = store.get_job(claim.job.id)
    assert requeued is not None
    assert requeued.status is JobStatus.READY
    again = store.claim(["default"], worker_id="test")
    assert again is not None
    again.succeed()
    result = cli("prune", "--older-than", "0s")
    assert result.out.strip() == "deleted 1 archived job finished more than 0s ago"


def test_unknown_and_malformed_job_ids(cli: Callable[..., Result], store: PostgresStore) -> None:
    """retry and cancel of ids the store doesn't hold (even non-UUIDs) are one-line errors."""
    for command in ("retry", "cancel"):
        for job_id in ("0190d2a0-0000-7000-8000-000000000000", "not-a-uuid"):
            result = cli(command, job_id)
            assert result.code == 1
            assert result.err.count("\n") == 1
            assert "no job with id" in result.err


def test_worker_without_tables_fails_at_start(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """A worker on a database without the tables exits 1 at once, pointing at schema apply."""
    code = main(["worker", HANDLER, "--url", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert "proletarian schema apply" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["enqueue", "t", "{}"],
        ["retry", NEVER],
        ["cancel", NEVER],
        ["prune", "--older-than", "1d"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_command_without_tables_points_at_schema_apply(
    cli: Callable[..., Result], url: str, argv: list[str]
) -> None:
    """On a database without the tables, each command says so in one line with the command
    that creates them, exit 1 (they used to print only `relation ... does not exist`)."""
    result = cli(*argv)
    assert result.code == 1, result
    assert result.err.count("\n") == 1
    assert re.search(r"relation \"proletarian\.(archived_)?job(_key)?\" does not exist", result.err)
    assert f"create the tables with: proletarian schema apply --url {url}" in result.err


def test_store_options_name_the_schema_for_every_command(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """-o schema=... puts the tables in that schema, and enqueue, status and a worker process
    given the same option work there; without it the default schema is looked at."""
    own = ["--url", url, "-o", f"schema={OTHER_SCHEMA}"]

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {OTHER_SCHEMA} CASCADE")
    assert run("schema", "apply", *own).code == 0
    job_id = run("enqueue", "t", "{}", "--queue", "emails", *own).out.strip()
    assert run("status", *own).out.splitlines()[2].split()[:2] == ["emails", "1"]
    assert "create the tables with" in run("status", "--url", url).err
    store = PostgresStore.connect(url, schema=OTHER_SCHEMA)
    process = subprocess.Popen(
        [sys.executable, "-m", "proletarian", "worker", HANDLER, "--queue", "emails",
         "--log-level", "warning", *own],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while not succeeded(store, job_id):
            assert time.monotonic() < deadline, "the worker did not run the job"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, err
    finally:
        store.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {OTHER_SCHEMA} CASCADE")


def test_unreachable_server_hides_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    """A server that refuses the connection is one line, exit 1, password hidden."""
    code = main(["status", "--url", "postgresql://postgres:s3cret-pw@127.0.0.1:1/test"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("proletarian: error: store unavailable")
    assert err.count("\n") == 1
    assert "s3cret-pw" not in err


@pytest.mark.parametrize("claims", [[], ["--lease", "30"]], ids=["transactional", "leased"])
def test_worker_process_works_the_queue_and_stops_on_sigterm(
    url: str, store: PostgresStore, claims: list[str]
) -> None:
    """`proletarian worker` on PostgreSQL runs every job once, then exits 0 on SIGTERM; with
    --lease, through leased claims."""
    ids = store.enqueue_many([NewJob(job_type="t", payload={"n": n}) for n in range(30)])
    process = subprocess.Popen(
        [sys.executable, "-m", "proletarian", "worker", HANDLER,
         "--url", url, "--threads", "2", *claims],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while not all(succeeded(store, job_id) for job_id in ids):
            assert time.monotonic() < deadline, "the worker did not finish the jobs"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=DEADLINE)
        assert process.returncode == 0, err
        assert "event=worker_stopped" in err
        assert {job.attempts for job in map(store.get_job, ids) if job is not None} == {1}
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
