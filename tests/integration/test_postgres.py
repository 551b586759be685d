"""PostgresStore against the real server: the outbox, LISTEN/NOTIFY, handler writes in the
claim's transaction, the DDL and its variants, and several worker processes at once."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

import proletarian
from proletarian import (
    ConfigurationError,
    Job,
    JobContext,
    JobStatus,
    NewJob,
    QueueWorker,
    RetryPolicy,
    SchemaMissing,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.postgres import PostgresClaim, PostgresStore
from proletarian.adapters.postgres.network import with_network_defaults
from proletarian.adapters.postgres.takeover import take_over
from proletarian.worker.context import CallNext
from tests.fixtures.postgres import (
    APPLICATION,
    ROOT,
    SCHEMA,
    TEST_URL,
    ListeningStore,
    admin,
    open_store,
    worker_processes,
)
from tests.fixtures.servers import POSTGRES_URL, require

DDL_FILES = {
    "tables.sql": "postgresql.sql",
    "tables_bigint_ids.sql": "postgresql_bigint_ids.sql",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PostgresStore]:
    with open_store(SystemClock(), tmp_path) as opened:
        yield opened


@pytest.fixture
def app_conn(store: PostgresStore) -> Iterator[psycopg.Connection[Any]]:
    """The application's own connection, with a transaction open as soon as it is used."""
    with psycopg.connect(TEST_URL) as conn:
        yield conn


def side_table(store: PostgresStore, name: str = "effect") -> str:
    """Create a table for handler writes in the test schema; returns its qualified name."""
    with admin() as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (job_id text NOT NULL, attempt int NOT NULL)").format(
                sql.Identifier(SCHEMA, name)
            )
        )
    return f"{SCHEMA}.{name}"


def tx(ctx: JobContext) -> psycopg.Connection[Any]:
    """The claim's transaction, as a handler in advanced mode sees it on PostgreSQL."""
    assert isinstance(ctx.connection, psycopg.Connection)
    return ctx.connection


def rows_of(query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with admin() as conn:
        return conn.execute(query, params).fetchall()


# -- the outbox ---------------------------------------------------------------------------------


def test_rollback_leaves_no_job_and_no_notification(
    store: PostgresStore, app_conn: psycopg.Connection[Any]
) -> None:
    """A job enqueued on the application's connection vanishes, unannounced, when it rolls back."""
    listener = store.listen(["default"])
    try:
        job_id = proletarian.enqueue(store, "t", {"a": 1}, conn=app_conn)
        assert app_conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        app_conn.rollback()
        assert listener.wait(0.2) is False
    finally:
        listener.close()
    assert store.get_job(job_id) is None
    assert store.stats() == {}


def test_commit_makes_the_job_visible_and_notifies(
    store: PostgresStore, app_conn: psycopg.Connection[Any]
) -> None:
    """A job enqueued on the application's connection is invisible until it commits; the
    commit delivers the notification."""
    listener = store.listen(["default"])
    try:
        ids = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload=i) for i in range(3)], conn=app_conn
        )
        assert store.stats() == {}
        assert listener.wait(0.1) is False
        app_conn.commit()
        assert listener.wait(5) is True
    finally:
        listener.close()
    assert store.stats()["default"].ready == 3
    assert [job.payload for job in map(store.get_job, ids) if job] == [0, 1, 2]


def test_commit_wakes_an_idle_worker_without_waiting_for_the_poll(
    store: PostgresStore, app_conn: psycopg.Connection[Any]
) -> None:
    """An idle worker polling once a minute runs a job as soon as the enqueueing transaction
    commits: the notification wakes it."""
    listening_store = ListeningStore.connect(TEST_URL, schema=SCHEMA)
    done = threading.Event()
    worker = QueueWorker(
        listening_store,
        lambda job_type, payload: done.set(),
        threads=2,
        polling_interval=timedelta(seconds=60),
    )
    try:
        with worker:
            assert listening_store.listening.wait(10)
            assert worker.wait_idle(10)
            proletarian.enqueue(store, "t", None, conn=app_conn)
            app_conn.commit()
            assert done.wait(10)
    finally:
        listening_store.close()


# -- handler writes on ctx.connection -----------------------------------------------------------


def test_handler_writes_commit_with_success_and_vanish_on_retry_and_failure(
    store: PostgresStore,
) -> None:
    """Rows a handler writes on ctx.connection are kept when the job succeeds and rolled back
    when the attempt fails, whether it is retried or failed for good."""
    table = side_table(store)
    seen: dict[str, int] = {}

    def handle(job: Job, ctx: JobContext) -> None:
        seen[job.id] = seen.get(job.id, 0) + 1
        tx(ctx).execute(
            f"INSERT INTO {table} (job_id, attempt) VALUES (%s, %s)", (job.id, job.attempt)
        )
        if job.payload == "always" or (job.payload == "once" and job.attempt == 1):
            raise RuntimeError(job.payload)
        if job.payload == "sql" and job.attempt == 1:
            tx(ctx).execute("SELECT 1 / 0")  # aborts the transaction, then raises

    ok, once, always, bad_sql = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=p) for p in ("ok", "once", "always", "sql")]
    )
    worker = QueueWorker(store, handle, handler_mode="advanced", retry=RetryPolicy(retries=1))
    assert worker.drain() == 7
    assert sorted(rows_of(f"SELECT job_id, attempt FROM {table}")) == sorted(
        [(ok, 1), (once, 2), (bad_sql, 2)]
    )
    states = {job_id: store.get_job(job_id) for job_id in (ok, once, always, bad_sql)}
    assert {job_id: (j.status, j.attempts) for job_id, j in states.items() if j} == {
        ok: (JobStatus.SUCCEEDED, 1),
        once: (JobStatus.SUCCEEDED, 2),
        always: (JobStatus.FAILED, 2),
        bad_sql: (JobStatus.SUCCEEDED, 2),
    }


def test_default_mode_takes_no_savepoint(store: PostgresStore) -> None:
    """A handler that never asks for ctx.connection costs no savepoint; one that asks gets one."""
    taken: list[bool] = []

    def observe(job: Job, ctx: JobContext, call_next: CallNext) -> None:
        call_next(job, ctx)
        assert isinstance(ctx.claim, PostgresClaim)
        taken.append(ctx.claim.savepoint)

    proletarian.enqueue(store, "t", None)
    QueueWorker(store, lambda job_type, payload: None, middleware=[observe]).drain()
    proletarian.enqueue(store, "t", None)

    def touches(job: Job, ctx: JobContext) -> None:
        assert ctx.connection is not None

    QueueWorker(store, touches, handler_mode="advanced", middleware=[observe]).drain()
    assert taken == [False, True]


def test_a_swallowed_sql_error_counts_as_a_failed_attempt(store: PostgresStore) -> None:
    """A handler that catches the failure of its own statement and returns can't succeed (its
    transaction is aborted): the attempt is recorded as failed, retried by the policy, and the
    job ends failed with TransactionAborted instead of running again forever."""
    job_id = proletarian.enqueue(store, "t", None)

    def handle(job: Job, ctx: JobContext) -> None:
        with contextlib.suppress(psycopg.Error):
            tx(ctx).execute("SELECT 1 / 0")

    worker = QueueWorker(store, handle, handler_mode="advanced", retry=RetryPolicy(retries=1))
    assert worker.drain() == 2
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.error is not None
    assert job.error.type == "TransactionAborted"
    assert "aborted the transaction" in job.error.message


# -- the DDL ------------------------------------------------------------------------------------


def test_packaged_ddl_is_the_database_directory_ddl() -> None:
    """The DDL install_schema runs is shipped byte for byte as database/postgresql/*.sql, and
    the DatabaseIds variant differs from tables.sql only in its comments and job_id columns
    (of the job, archive and key tables)."""
    texts = {}
    for copy, packaged in DDL_FILES.items():
        texts[copy] = (ROOT / "database" / "postgresql" / copy).read_text(encoding="utf-8")
        shipped = (ROOT / "proletarian" / "schema" / packaged).read_text(encoding="utf-8")
        assert texts[copy] == shipped
    uuid_lines, bigint_lines = (
        [line for line in texts[name].splitlines() if not line.startswith("--")]
        for name in DDL_FILES
    )
    differing = [(a, b) for a, b in zip(uuid_lines, bigint_lines, strict=True) if a != b]
    assert [(a.split()[:2], b.split()[:2]) for a, b in differing] == [
        (["job_id", "uuid"], ["job_id", "bigint"])
    ] * 3


@pytest.fixture
def scratch_db() -> Iterator[str]:
    """An empty database of its own, where the DDL file can create the default schema."""
    require("postgres")
    name = f"proletarian_ddl_check_{os.getpid()}"
    with admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=name)
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def describe(url: str, schema: str, renames: dict[str, str]) -> list[tuple[Any, ...]]:
    """Columns, constraints and indexes of the tables in `schema`, names mapped by `renames`."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            """
            SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND a.attnum > 0
            UNION ALL
            SELECT c.relname, 0, con.conname, con.contype::text, true, '',
                   pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s
            UNION ALL
            SELECT tablename, -1, indexname, '', true, '', indexdef
            FROM pg_indexes WHERE schemaname = %(schema)s
            ORDER BY 1, 2, 3
            """,
            {"schema": schema},
        ).fetchall()
    pattern = re.compile("|".join(map(re.escape, renames))) if renames else None
    if pattern is None:
        return found
    return [
        tuple(
            pattern.sub(lambda m: renames[m.group()], v) if isinstance(v, str) else v for v in row
        )
        for row in found
    ]


@pytest.mark.parametrize("bigint_ids", [False, True], ids=["uuid", "bigint"])
def test_install_schema_creates_what_the_ddl_file_creates(
    scratch_db: str, bigint_ids: bool
) -> None:
    """Running the DDL file by hand and install_schema (with default or other names) create the
    same tables, columns, constraints and indexes."""
    copy = "tables_bigint_ids.sql" if bigint_ids else "tables.sql"
    with psycopg.connect(scratch_db, autocommit=True) as conn:
        conn.execute((ROOT / "database" / "postgresql" / copy).read_bytes())
    by_hand = describe(scratch_db, "proletarian", {})
    assert {row[0] for row in by_hand} == {"job", "archived_job", "job_worker", "job_key"}
    with psycopg.connect(scratch_db, autocommit=True) as scratch:
        scratch.execute("DROP SCHEMA proletarian CASCADE")
    options: dict[str, Any] = {"job_ids": DatabaseIds()} if bigint_ids else {}
    custom: dict[str, Any] = {
        "schema": "ddl_custom",
        "job_table": "q_jobs",
        "archived_job_table": "q_done",
    }
    renames = {"ddl_custom": "proletarian", "q_jobs": "job", "q_done": "archived_job"}
    plain: dict[str, Any] = {}
    for names, schema in ((plain, "proletarian"), (custom, "ddl_custom")):
        store = PostgresStore.connect(scratch_db, **names, **options)
        try:
            store.install_schema()
            store.install_schema()
        finally:
            store.close()
        assert describe(scratch_db, schema, renames) == by_hand


def test_missing_tables_raise_schema_missing() -> None:
    """Reading or writing a store whose tables were never installed raises SchemaMissing, the
    StoreError that says install_schema() is what is needed."""
    require("postgres")
    store = PostgresStore.connect(POSTGRES_URL, schema="proletarian_never_installed")
    try:
        with pytest.raises(SchemaMissing, match="does not exist"):
            store.get_job("0190d2a0-0000-7000-8000-000000000000")
        with pytest.raises(SchemaMissing):
            store.stats()
        with pytest.raises(SchemaMissing):
            proletarian.enqueue(store, "t", {})
    finally:
        store.close()


def test_schema_sql_is_the_file_with_the_stores_names() -> None:
    """schema_sql() is the DDL file's statements with the store's names quoted in."""
    pool: ConnectionPool[Any] = ConnectionPool(TEST_URL, open=False)
    store = PostgresStore(pool, schema="s", job_table="jobs", archived_job_table="other.done")
    text = store.schema_sql()
    assert 'CREATE SCHEMA IF NOT EXISTS "s";' in text
    assert 'CREATE SCHEMA IF NOT EXISTS "other";' in text
    assert 'CREATE TABLE IF NOT EXISTS "s"."jobs" (' in text
    assert 'CREATE INDEX IF NOT EXISTS "jobs_claim_idx"' in text
    assert 'ON "other"."done" (finished_at)' in text
    assert "--" not in text
    assert "proletarian" not in text


@pytest.mark.parametrize(
    "options",
    [
        {"job_table": "jobs;drop table x"},
        {"archived_job_table": "a.b.c"},
        {"schema": "app.jobs"},
        {"schema": "1st"},
        {"job_table": "same", "archived_job_table": "same"},
        {"channel": "c" * 64},
    ],
    ids=["injection", "three-parts", "dotted-schema", "digit", "same-table", "long-channel"],
)
def test_bad_names_are_refused_before_connecting(options: dict[str, Any]) -> None:
    """A bad schema, table or channel name raises ConfigurationError, without any connection
    attempt (the URL here points nowhere)."""
    with pytest.raises(ConfigurationError):
        PostgresStore.connect("postgresql://u:secret@127.0.0.1:1/none", **options)


def test_unreachable_server_is_unavailable_without_the_password() -> None:
    """connect() to a server that is down raises StoreUnavailable with the URL redacted."""
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore.connect("postgresql://u:secret@127.0.0.1:1/none")
    assert "secret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


# -- network timeouts ---------------------------------------------------------------------------


def test_network_defaults_fill_in_only_what_the_url_leaves_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """connect() adds libpq's connect_timeout, keepalives and tcp_user_timeout where the URL
    has none of its own; the URL's value, or PGCONNECT_TIMEOUT, wins. A malformed conninfo is
    a ConfigurationError."""
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    filled = conninfo_to_dict(
        with_network_defaults("postgresql://u@h/db?connect_timeout=30&keepalives_idle=60")
    )
    assert filled == {
        "user": "u",
        "host": "h",
        "dbname": "db",
        "connect_timeout": "30",
        "keepalives": "1",
        "keepalives_idle": "60",
        "keepalives_interval": "5",
        "keepalives_count": "3",
        "tcp_user_timeout": "15000",
    }
    assert conninfo_to_dict(with_network_defaults("host=h"))["connect_timeout"] == "5"
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "12")
    assert "connect_timeout" not in conninfo_to_dict(with_network_defaults("host=h"))
    with pytest.raises(ConfigurationError, match="can't be parsed"):
        PostgresStore.connect("host=h port")


@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_bad_read_timeout_is_refused(value: Any) -> None:
    """read_timeout is a positive number of seconds, or None."""
    with pytest.raises(ConfigurationError, match="read_timeout"):
        PostgresStore.connect("postgresql://u@127.0.0.1:1/none", read_timeout=value)


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="no TCP_USER_TIMEOUT here")
def test_pool_connections_carry_the_network_defaults(store: PostgresStore) -> None:
    """The connections of a pool connect() built probe a silent peer after 10 s idle, every
    5 s, and give up on unacknowledged data after 15 s."""
    with store.pool.connection() as conn, socket.socket(fileno=os.dup(conn.fileno())) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 15000


def test_read_timeout_bounds_the_stores_statements_not_the_handlers(store: PostgresStore) -> None:
    """With read_timeout=0.3 a claim can be held, and a handler's statement on it can run,
    for longer, and the job still succeeds; a statement of the store's own that gets no
    answer in time (an enqueue waiting for a table lock) raises StoreUnavailable naming
    read_timeout, and the store goes on working once the lock is gone."""
    bounded = PostgresStore.connect(TEST_URL, schema=SCHEMA, read_timeout=0.3)
    try:
        job_id = proletarian.enqueue(bounded, "t", None)
        claim = bounded.claim(["default"], worker_id="w")
        assert claim is not None
        assert isinstance(claim.connection, psycopg.Connection)
        claim.connection.execute("SELECT pg_sleep(1)")
        claim.succeed()
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
        with admin() as conn, conn.transaction():
            conn.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(SCHEMA, "job")
                )
            )
            with pytest.raises(StoreUnavailable, match=r"within 0\.3s \(read_timeout\)"):
                proletarian.enqueue(bounded, "t", None)
        later = proletarian.enqueue(bounded, "t", None)
        job = store.get_job(later)
        assert job is not None
        assert job.status is JobStatus.READY
    finally:
        bounded.close()


def test_claims_over_several_queues_follow_claim_order_and_skip_held_jobs(
    store: PostgresStore,
) -> None:
    """A claim over several queues takes the most urgent due job of all of them that no other
    claim holds, whatever the order the queues are named in."""
    a1 = proletarian.enqueue(store, "t", None, queue="a")
    a2 = proletarian.enqueue(store, "t", None, queue="a")
    b1 = proletarian.enqueue(store, "t", None, queue="b", priority=proletarian.Priority.HIGH)
    proletarian.enqueue(store, "t", None, queue="c", priority=proletarian.Priority.CRITICAL)
    claims = [store.claim(queues, worker_id="w") for queues in (["a", "b"], ["b", "a"], ["a", "b"])]
    assert [claim.job.id if claim else None for claim in claims] == [b1, a1, a2]
    assert store.claim(["b", "a"], worker_id="w") is None
    for claim in claims:
        assert claim is not None
        claim.abandon()
    claim = store.claim(["b", "a"], worker_id="w")
    assert claim is not None
    assert claim.job.id == b1
    claim.succeed()


@pytest.mark.parametrize("queues", [["default"], ["default", "other"]])
def test_a_claim_does_not_read_scheduled_jobs_of_a_more_urgent_priority(
    store: PostgresStore, queues: list[str]
) -> None:
    """The claim walks the index one priority at a time, so 20,000 CRITICAL jobs scheduled for
    later are not read on the way to the due NORMAL job: the blocks one claim reads stay few
    however many jobs wait (one walk in claim order read them all, every claim)."""
    scheduled = NewJob(
        "t", None, priority=proletarian.Priority.CRITICAL, process_in=timedelta(hours=1)
    )
    proletarian.enqueue_many(store, [scheduled] * 20_000)
    due = proletarian.enqueue(store, "t", None)
    single = len(queues) == 1
    statement = store._sql.claim["claim_one" if single else "claim_any"].query
    with psycopg.connect(TEST_URL) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(SCHEMA, "job")))
        wanted = {"queue": queues[0]} if single else {"queues": queues}
        params = {**wanted, "now": SystemClock().now()}
        ((plan,),) = conn.execute(
            b"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
        ).fetchall()
        conn.rollback()
    top = plan[0]["Plan"]
    assert top["Actual Rows"] == 1
    assert top["Shared Hit Blocks"] + top["Shared Read Blocks"] < 50
    claim = store.claim(queues, worker_id="w")
    assert claim is not None
    assert claim.job.id == due
    claim.abandon()


# -- other names, ids and pools -----------------------------------------------------------------


def test_stores_over_other_tables_keep_to_their_own(store: PostgresStore) -> None:
    """A store over schema-qualified tables of its own neither sees nor claims the default
    test store's jobs."""
    other = PostgresStore.connect(
        TEST_URL, job_table=f"{SCHEMA}.other_job", archived_job_table=f"{SCHEMA}.other_done"
    )
    try:
        other.install_schema()
        mine = proletarian.enqueue(store, "t", "mine")
        theirs = proletarian.enqueue(other, "t", "theirs")
        assert other.get_job(mine) is None
        claim = other.claim(["default"], worker_id="w")
        assert claim is not None
        assert claim.job.id == theirs
        claim.succeed()
        assert other.claim(["default"], worker_id="w") is None
        assert store.stats()["default"].ready == 1
        assert other.stats()["default"].succeeded == 1
    finally:
        other.close()


def test_database_ids_round_trip(tmp_path: Path) -> None:
    """With DatabaseIds, PostgreSQL assigns bigint ids, enqueue returns them in order, and every
    operation finds the job by them."""
    with (
        open_store(SystemClock(), tmp_path, job_ids=DatabaseIds()) as store,
        psycopg.connect(TEST_URL) as app_conn,
    ):
        assert (
            rows_of(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND column_name = 'job_id' ORDER BY table_name",
                (SCHEMA,),
            )
            == [("bigint",)] * 3
        )
        first = proletarian.enqueue(store, "t", "first")
        many = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(5)])
        outbox = proletarian.enqueue(store, "t", "outbox", conn=app_conn)
        app_conn.commit()
        ids = [first, *many, outbox]
        assert all(job_id.isdigit() for job_id in ids)
        assert [int(job_id) for job_id in ids] == sorted(int(job_id) for job_id in ids)
        jobs = [store.get_job(job_id) for job_id in ids]
        assert [job.payload if job else None for job in jobs] == [
            "first", 0, 1, 2, 3, 4, "outbox"
        ]  # fmt: skip
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        assert claim.job.id == first
        claim.fail(proletarian.JobError(type="E", message="m"))
        assert store.retry_failed(first) is True
        assert store.cancel(many[0]) is True
        assert store.get_job("not-a-number") is None
        finished = []
        while claim := store.claim(["default"], worker_id="w"):
            finished.append(claim.job.id)
            claim.succeed()
        assert finished == [*many[1:], outbox, first]
        job = store.get_job(first)
        assert job is not None
        assert (job.id, job.status, job.attempts) == (first, JobStatus.SUCCEEDED, 1)


@pytest.mark.parametrize("autocommit", [False, True])
def test_an_application_pool_is_left_as_it_was(store: PostgresStore, autocommit: bool) -> None:
    """On a pool the application owns (in autocommit or not), claims still hold their job in a
    transaction, each connection comes back with the pool's own autocommit setting, and
    close() leaves the pool open."""
    pool: ConnectionPool[Any] = ConnectionPool(
        TEST_URL, min_size=1, max_size=1, open=True, kwargs={"autocommit": autocommit}
    )
    try:
        shared = PostgresStore(pool, schema=SCHEMA)
        job_id = proletarian.enqueue(shared, "t", None)
        claim = shared.claim(["default"], worker_id="w")
        assert claim is not None
        running = store.get_job(job_id)
        assert running is not None
        assert running.status is JobStatus.RUNNING
        claim.succeed()
        shared.close()
        with pool.connection() as conn:
            assert conn.autocommit is autocommit
    finally:
        pool.close()


def test_listener_reports_a_lost_connection(store: PostgresStore) -> None:
    """A listener whose backend is terminated raises StoreUnavailable; listening again works."""
    listener = store.listen(["default"])
    try:
        with admin() as conn:
            terminated = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %%' AND datname = current_database() "
                "AND application_name = %s",
                (APPLICATION,),
            ).fetchall()
        assert terminated == [(True,)]
        with pytest.raises(StoreUnavailable):
            listener.wait(10)
    finally:
        listener.close()
    again = store.listen(["default"])
    try:
        proletarian.enqueue(store, "t", None)
        assert again.wait(5) is True
    finally:
        again.close()


# -- several worker processes -------------------------------------------------------------------


def run_table() -> None:
    with admin() as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.run (job_id text NOT NULL, pid int NOT NULL)")


def test_two_processes_of_four_threads_archive_each_job_once(
    store: PostgresStore, request: pytest.FixtureRequest
) -> None:
    """Two worker processes of four threads each share 5,000 jobs: each job is run and archived
    exactly once, and both processes take part."""
    total = request.config.getoption("--stress-jobs") or 5_000
    run_table()
    with worker_processes() as workers:
        first, second = workers.start("--threads", "4"), workers.start("--threads", "4")
        ready = {workers.expect("ready")[0], workers.expect("ready")[0]}
        assert ready == {first, second}
        ids = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"i": i}) for i in range(total)]
        )
        reported: dict[str, int] = {}
        for _ in range(total):
            _, words = workers.expect("job_succeeded")
            reported[words[1]] = reported.get(words[1], 0) + 1
        assert workers.stop(first) == 0
        assert workers.stop(second) == 0
    assert reported == dict.fromkeys(ids, 1)
    archived = rows_of(f"SELECT job_id::text, count(*) FROM {SCHEMA}.archived_job GROUP BY 1")
    assert sorted(archived) == sorted((job_id, 1) for job_id in ids)
    assert rows_of(f"SELECT count(*), count(DISTINCT job_id) FROM {SCHEMA}.run") == [(total, total)]
    assert len(rows_of(f"SELECT DISTINCT pid FROM {SCHEMA}.run")) == 2
    assert rows_of(f"SELECT count(*) FROM {SCHEMA}.job") == [(0,)]


@pytest.mark.parametrize(("seen", "held"), [((0, 0), True), ((1, 0), False), ((0, 1), False)])
def test_a_cut_takes_the_row_over_only_as_its_claim_saw_it(
    store: PostgresStore, seen: tuple[int, int], held: bool
) -> None:
    """take_over locks the row from the ended holder only while it still has the attempts and
    abandonments the cut claim read: a claim that slipped in at the holder's abort counted an
    abandonment (and may have written an outcome), and the job is then that claim's."""
    job_id = proletarian.enqueue(store, "t", None)
    holder = psycopg.connect(TEST_URL)
    try:
        holder.execute(f"SELECT 1 FROM {SCHEMA}.job WHERE job_id = %s FOR UPDATE", (job_id,))
        with store.pool.connection() as conn:
            taken = take_over(
                conn,
                store.pool,
                store._sql,
                job_id=job_id,
                attempts=seen[0],
                abandons=seen[1],
                holder=holder.info.backend_pid,
            )
            assert taken is held
            conn.rollback()
    finally:
        holder.close()
    assert holder.broken or holder.closed


def test_a_cut_that_loses_its_row_to_a_racing_claim_leaves_no_mark(store: PostgresStore) -> None:
    """The racing claim counted an abandonment and committed while the cut's waiter was queued
    on the row: the waiter finds the row moved on and gives it up without the aborted lock that
    would make the next claim count a second abandonment."""
    job_id = proletarian.enqueue(store, "t", None)
    racer, ended = psycopg.connect(TEST_URL), psycopg.connect(TEST_URL)
    try:
        racer.execute(f"SELECT 1 FROM {SCHEMA}.job WHERE job_id = %s FOR UPDATE", (job_id,))
        racer.execute(f"UPDATE {SCHEMA}.job SET abandons = 1 WHERE job_id = %s", (job_id,))
        with store.pool.connection() as conn:
            taken: list[bool] = []
            cut = threading.Thread(
                target=lambda: taken.append(
                    take_over(
                        conn,
                        store.pool,
                        store._sql,
                        job_id=job_id,
                        attempts=0,
                        abandons=0,
                        holder=ended.info.backend_pid,
                    )
                )
            )
            cut.start()
            while not ended.closed and not rows_of(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = %s",
                (APPLICATION,),
            ):
                time.sleep(0.01)
            racer.commit()
            cut.join(30)
            assert taken == [False]
            conn.rollback()  # as the cut claim gives its connection back
    finally:
        racer.close()
        ended.close()
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert (claim.job.id, claim.job.abandons) == (job_id, 1)
    claim.abandon()
