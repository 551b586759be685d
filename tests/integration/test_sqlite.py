"""SQLiteStore's own features: the outbox on sqlite3 connections, handler writes through
ctx.connection, the schema, configuration, and error translation."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import proletarian
from proletarian import (
    ClaimLost,
    ConfigurationError,
    Job,
    JobContext,
    JobStatus,
    NewJob,
    Priority,
    QueueWorker,
    RetryPolicy,
    StoreError,
    StoreUnavailable,
)
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.adapters.sqlite._sql import to_text
from proletarian.testing import ManualClock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    yield store
    store.close()


@pytest.fixture
def app_conn(path: Path, store: SQLiteStore) -> Iterator[sqlite3.Connection]:
    """The application's own connection, in Python's default transaction mode, with a table."""
    store.install_schema()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE account (email TEXT)")
    conn.commit()
    yield conn
    conn.close()


def accounts(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT email FROM account ORDER BY email")]
    finally:
        conn.close()


def ready(store: SQLiteStore) -> int:
    stats = store.stats()
    return stats["default"].ready if "default" in stats else 0


# -- the outbox --------------------------------------------------------------------------------


def test_outbox_rollback_leaves_no_job(
    store: SQLiteStore, app_conn: sqlite3.Connection, path: Path
) -> None:
    """A job enqueued on the caller's connection vanishes with the caller's rollback."""
    app_conn.execute("INSERT INTO account VALUES ('a@b.c')")
    proletarian.enqueue(store, "welcome", {"email": "a@b.c"}, conn=app_conn)
    proletarian.enqueue_many(store, [NewJob(job_type="t", payload=1)], conn=app_conn)
    assert app_conn.in_transaction
    app_conn.rollback()
    assert store.stats() == {}
    assert accounts(path) == []


def test_outbox_commit_keeps_the_job(
    store: SQLiteStore, app_conn: sqlite3.Connection, path: Path
) -> None:
    """A job enqueued on the caller's connection is invisible until the caller commits."""
    app_conn.execute("INSERT INTO account VALUES ('a@b.c')")
    job_id = proletarian.enqueue(store, "welcome", {"email": "a@b.c"}, conn=app_conn)
    assert store.get_job(job_id) is None
    app_conn.commit()
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert (claim.job.id, claim.job.payload) == (job_id, {"email": "a@b.c"})
    claim.succeed()
    assert accounts(path) == ["a@b.c"]


def test_outbox_on_an_autocommit_connection(store: SQLiteStore, path: Path) -> None:
    """On an autocommit connection, jobs join an explicit BEGIN, or commit at once without one."""
    store.install_schema()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload=i) for i in range(3)], conn=conn
        )
        conn.execute("ROLLBACK")
        assert store.stats() == {}
        proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload=i) for i in range(3)], conn=conn
        )
        assert not conn.in_transaction
        assert ready(store) == 3
    finally:
        conn.close()


class RepeatingIds:
    """Gives the same id twice, so the second insert of a batch fails."""

    def new_id(self) -> str:
        return "0190d2a0-0000-7000-8000-000000000001"


def test_failed_enqueue_many_on_conn_writes_no_job_and_keeps_the_callers_writes(
    path: Path, app_conn: sqlite3.Connection
) -> None:
    """A batch that fails half-way leaves none of its jobs, and the caller's transaction intact."""
    store = SQLiteStore(path, job_ids=RepeatingIds())
    try:
        app_conn.execute("INSERT INTO account VALUES ('a@b.c')")
        jobs = [NewJob(job_type="t", payload=1), NewJob(job_type="t", payload=2)]
        with pytest.raises(StoreError, match="UNIQUE"):
            proletarian.enqueue_many(store, jobs, conn=app_conn)
        app_conn.commit()
        assert accounts(path) == ["a@b.c"]
        assert store.stats() == {}
    finally:
        store.close()


def test_enqueue_on_conn_creates_missing_tables_without_waiting_for_the_caller(
    path: Path,
) -> None:
    """On a new file, an enqueue joining a caller that holds the write lock creates the tables in
    the caller's transaction instead of waiting for that lock."""
    store = SQLiteStore(path, busy_timeout=timedelta(0))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        job_id = proletarian.enqueue(store, "t", None, conn=conn)
        conn.execute("COMMIT")
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.READY
    finally:
        conn.close()
        store.close()


def test_conn_to_another_database_is_refused(store: SQLiteStore, tmp_path: Path) -> None:
    """An sqlite3 connection to another file, or to memory, is refused and nothing is written."""
    for target in (tmp_path / "other.db", ":memory:"):
        conn = sqlite3.connect(target)
        try:
            with pytest.raises(ConfigurationError, match="conn= to be a connection to"):
                proletarian.enqueue(store, "t", None, conn=conn)
        finally:
            conn.close()
    assert store.stats() == {}


# -- handler writes through ctx.connection ------------------------------------------------------


def recorder(store: SQLiteStore, path: Path, *, fail_attempts: int) -> QueueWorker:
    """A worker whose handler writes a row and enqueues a follow-up job on ctx.connection, then
    raises on its first `fail_attempts` attempts."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS seen (job_id TEXT, attempt INTEGER)")
    conn.commit()
    conn.close()

    def handle(job: Job, ctx: JobContext) -> None:
        if job.job_type == "follow-up":
            return
        conn = ctx.connection
        assert isinstance(conn, sqlite3.Connection)
        conn.execute("INSERT INTO seen VALUES (?, ?)", (job.id, job.attempt))
        proletarian.enqueue(store, "follow-up", None, conn=conn, queue="next")
        if job.attempt <= fail_attempts:
            raise RuntimeError(f"attempt {job.attempt} fails")

    return QueueWorker(store, handle, handler_mode="advanced", retry=RetryPolicy(retries=1))


def seen(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        return [(row[0], row[1]) for row in conn.execute("SELECT job_id, attempt FROM seen")]
    finally:
        conn.close()


def test_handler_writes_commit_with_success(store: SQLiteStore, path: Path) -> None:
    """Writes and enqueues made on ctx.connection commit together with the job's success."""
    job_id = proletarian.enqueue(store, "t", None)
    assert recorder(store, path, fail_attempts=0).drain() == 1
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert seen(path) == [(job_id, 1)]
    assert store.stats()["next"].ready == 1


def test_handler_writes_vanish_when_the_attempt_fails(store: SQLiteStore, path: Path) -> None:
    """Writes of a failed attempt are rolled back, whether the job is retried or fails for good:
    only the successful attempt's writes remain."""
    retried = proletarian.enqueue(store, "t", None)
    assert recorder(store, path, fail_attempts=1).drain() == 2
    assert seen(path) == [(retried, 2)]
    failed = proletarian.enqueue(store, "t", None)
    assert recorder(store, path, fail_attempts=2).drain() == 2
    job = store.get_job(failed)
    assert job is not None
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == "attempt 2 fails"
    assert seen(path) == [(retried, 2)]
    assert store.stats()["next"].ready == 1


def test_plain_enqueue_while_holding_ctx_connection_is_refused(
    store: SQLiteStore, path: Path
) -> None:
    """A handler holding ctx.connection gets a clear StoreError from a plain enqueue, rather than
    waiting for its own write lock."""
    job_id = proletarian.enqueue(store, "t", None)
    errors: list[BaseException] = []

    def handle(job: Job, ctx: JobContext) -> None:
        conn = ctx.connection
        assert isinstance(conn, sqlite3.Connection)
        assert conn.in_transaction
        try:
            proletarian.enqueue(store, "t", None, queue="other")
        except StoreError as exc:
            errors.append(exc)

    QueueWorker(store, handle, handler_mode="advanced").drain()
    assert "conn=ctx.connection" in str(errors[0])
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED


def test_connection_of_a_lost_claim_raises_claim_lost(path: Path) -> None:
    """A claim whose lease another worker took cannot open the handler's transaction."""
    clock = ManualClock()
    store = SQLiteStore(path, clock=clock, lease=timedelta(seconds=10))
    try:
        proletarian.enqueue(store, "t", None)
        first = store.claim(["default"], worker_id="slow")
        assert first is not None
        clock.advance(10)
        second = store.claim(["default"], worker_id="fast")
        assert second is not None
        with pytest.raises(ClaimLost):
            first.connection  # noqa: B018
        second.succeed()
    finally:
        store.close()


# -- schema and configuration --------------------------------------------------------------------


@pytest.mark.parametrize("queues", [["default"], ["default", "other"]])
def test_a_claim_does_not_read_scheduled_jobs_of_a_more_urgent_priority(
    store: SQLiteStore, path: Path, queues: list[str]
) -> None:
    """The claim enters each queue's index once per priority, so 20,000 CRITICAL jobs scheduled
    for later are not read on the way to the due NORMAL job: the work of one pick, counted in
    SQLite's virtual machine steps, stays small however many jobs wait."""
    scheduled = NewJob("t", None, priority=Priority.CRITICAL, process_in=timedelta(hours=1))
    proletarian.enqueue_many(store, [scheduled] * 20_000)
    due = proletarian.enqueue(store, "t", None)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1000
        return 0

    conn = sqlite3.connect(path)
    try:
        conn.set_progress_handler(count, 1000)
        now = to_text(store.clock.now())
        rows = conn.execute(store._sql.pick(len(queues)), (*queues, now, now)).fetchall()
    finally:
        conn.close()
    assert [row[0] for row in rows] == [due]
    assert steps < 20_000


def test_schema_file_is_the_packaged_copy() -> None:
    """database/sqlite/tables.sql and the copy shipped in the package are identical."""
    source = (ROOT / "database" / "sqlite" / "tables.sql").read_text(encoding="utf-8")
    packaged = (ROOT / "proletarian" / "schema" / "sqlite.sql").read_text(encoding="utf-8")
    assert source == packaged


def test_tables_are_created_on_first_use_in_wal_mode(store: SQLiteStore, path: Path) -> None:
    """First use creates the tables of tables.sql; the file is in WAL mode; times read as text."""
    proletarian.enqueue(store, "t", None, process_in=timedelta(0))
    conn = sqlite3.connect(path)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"job", "archived_job", "job_claim_order", "archived_job_finished_at"} <= names
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (process_at,) = conn.execute("SELECT process_at FROM job").fetchone()
    finally:
        conn.close()
    assert len(process_at) == len("2030-01-01 00:00:00.000000")
    assert process_at[10] == " "


def test_custom_table_names_keep_separate_queues(path: Path) -> None:
    """Stores with other table names in the same file create and use their own tables."""
    other = SQLiteStore(path, job_table="mail_job", archived_job_table="mail_archive")
    default = SQLiteStore(path)
    try:
        job_id = proletarian.enqueue(other, "t", None)
        assert default.claim(["default"], worker_id="w") is None
        claim = other.claim(["default"], worker_id="w")
        assert claim is not None
        claim.succeed()
        job = other.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
        conn = sqlite3.connect(path)
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert {"mail_job_claim_order", "mail_archive_finished_at"} <= names
    finally:
        other.close()
        default.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"job_table": "job;drop"}, "not a valid identifier"),
        ({"job_table": "main.job"}, "schema-qualified"),
        ({"job_table": "Jobs", "archived_job_table": "jobs"}, "must differ"),
        ({"synchronous": "SOMETIMES"}, "synchronous must be one of"),
        ({"lease": timedelta(0)}, "lease must be a positive"),
    ],
)
def test_bad_options_are_refused(path: Path, options: dict[str, Any], message: str) -> None:
    """Bad table names and options raise ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=message):
        SQLiteStore(path, **options)


def test_in_memory_database_is_refused() -> None:
    """ ":memory:" is refused by the constructor, connect and open_store: producers and workers
    could not share it."""
    with pytest.raises(ConfigurationError, match="could not share it"):
        SQLiteStore(":memory:")
    with pytest.raises(ConfigurationError, match="could not share it"):
        SQLiteStore.connect("sqlite:///:memory:")
    with pytest.raises(ConfigurationError, match="could not share it"):
        proletarian.open_store("sqlite:///:memory:")


def test_connect_reads_relative_and_absolute_paths_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///name is relative to the working directory, sqlite:////path absolute; the query
    sets synchronous, busy_timeout and lease."""
    monkeypatch.chdir(tmp_path)
    relative = SQLiteStore.connect("sqlite:///sub%20dir.db?synchronous=full&lease=7")
    absolute = SQLiteStore.connect(f"sqlite:///{tmp_path}/abs.db", busy_timeout=timedelta(1))
    assert relative.path == str(tmp_path / "sub dir.db")
    assert relative.lease == timedelta(seconds=7)
    assert absolute.path == str(tmp_path / "abs.db")
    with pytest.raises(ConfigurationError, match="must have no host"):
        SQLiteStore.connect("sqlite://host/x.db")
    with pytest.raises(ConfigurationError, match="not supported"):
        SQLiteStore.connect("sqlite:///x.db?journal=off")
    with pytest.raises(ConfigurationError, match="needs a sqlite") as caught:
        SQLiteStore.connect("postgresql://app:secret@db/app")
    assert "secret" not in str(caught.value)


def test_database_generated_ids_are_refused(path: Path) -> None:
    """DatabaseIds can't be used: job ids are text made by the store."""
    store = SQLiteStore(path, job_ids=DatabaseIds())
    try:
        with pytest.raises(ConfigurationError, match="database-generated ids"):
            proletarian.enqueue(store, "t", None)
    finally:
        store.close()


# -- errors and connections --------------------------------------------------------------------


@pytest.mark.parametrize("new_file", [False, True])
def test_locked_database_is_store_unavailable(path: Path, new_file: bool) -> None:
    """A write that can't get the lock within busy_timeout raises StoreUnavailable; it works once
    the other writer is done. So does the first use of a new file held that long."""
    store = SQLiteStore(path, busy_timeout=timedelta(milliseconds=20))
    if not new_file:
        store.install_schema()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="database is locked") as caught:
            proletarian.enqueue(store, "t", None)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        other.execute("ROLLBACK")
        proletarian.enqueue(store, "t", None)
        assert ready(store) == 1
    finally:
        other.close()
        store.close()


def test_first_use_waits_while_another_connection_holds_a_new_file(path: Path) -> None:
    """A store opening a new file while another process writes it in rollback mode (as a peer
    does for a moment while switching it to WAL) waits for it, instead of failing at once as
    SQLite's own WAL switch does; then it switches the file to WAL and works."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    done = threading.Timer(0.2, other.execute, ("ROLLBACK",))
    done.start()
    store = SQLiteStore(path)
    try:
        proletarian.enqueue(store, "t", None)
        assert ready(store) == 1
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        done.join()
        other.close()
        store.close()


def test_unopenable_file_is_store_unavailable(tmp_path: Path) -> None:
    """A database in a directory that doesn't exist raises StoreUnavailable."""
    store = SQLiteStore(tmp_path / "missing" / "jobs.db")
    with pytest.raises(StoreUnavailable, match="unable to open"):
        store.stats()


def test_closed_store_reopens_on_next_use(store: SQLiteStore) -> None:
    """close() releases the connections; a later call opens a fresh one."""
    proletarian.enqueue(store, "t", None)
    store.close()
    assert ready(store) == 1
