"""MySQLStore's own features against the machine's MariaDB: the outbox on PyMySQL connections,
handler writes through ctx.connection, multi-queue claims, the schema, DatabaseIds, the pool,
configuration and error translation."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pymysql
import pytest
from pymysql.err import ProgrammingError

import proletarian
from proletarian import (
    ConfigurationError,
    Job,
    JobContext,
    JobError,
    JobStatus,
    NewJob,
    Priority,
    QueueWorker,
    RetryPolicy,
    SchemaMissing,
    StoreError,
    StoreUnavailable,
)
from proletarian.adapters.clocks import SystemClock
from proletarian.adapters.ids import DatabaseIds
from proletarian.adapters.mysql import MySQLStore
from proletarian.testing import CapturingLog, ManualClock
from tests.fixtures.mysql import (
    ACCOUNT_TABLE,
    ARCHIVED_JOB_TABLE,
    JOB_TABLE,
    PREFIX,
    ROOT,
    admin,
    connect_kwargs,
    execute,
    open_store,
    reset_app_tables,
)
from tests.fixtures.servers import MYSQL_URL, require

ERROR = JobError(type="ValueError", message="boom", traceback="Traceback ...\n")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MySQLStore]:
    with open_store(SystemClock(), tmp_path) as store:
        reset_app_tables()
        yield store


@pytest.fixture
def app_conn(store: MySQLStore) -> Iterator[pymysql.connections.Connection]:
    """The application's own connection, outside autocommit, as a web request holds it."""
    conn = pymysql.connect(**connect_kwargs(), autocommit=False)
    yield conn
    conn.close()


def accounts() -> list[str]:
    return [row[0] for row in execute(f"SELECT email FROM `{ACCOUNT_TABLE}` ORDER BY email")]


def worker(store: MySQLStore, handler: Any, **options: Any) -> QueueWorker:
    return QueueWorker(
        store,
        handler,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=50),
        **options,
    )


# -- the outbox --------------------------------------------------------------------------------


def test_outbox_rollback_leaves_no_job(
    store: MySQLStore, app_conn: pymysql.connections.Connection
) -> None:
    """Jobs enqueued on the caller's connection vanish with the caller's rollback."""
    with app_conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO `{ACCOUNT_TABLE}` VALUES ('a@b.c')")
    job_id = proletarian.enqueue(store, "welcome", {"email": "a@b.c"}, conn=app_conn)
    proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=i) for i in range(3)], conn=app_conn
    )
    app_conn.rollback()
    assert store.get_job(job_id) is None
    assert store.stats() == {}
    assert accounts() == []


def test_outbox_commit_keeps_the_job(
    store: MySQLStore, app_conn: pymysql.connections.Connection
) -> None:
    """Jobs enqueued on the caller's connection are invisible until the caller commits, and are
    never committed by the store."""
    with app_conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO `{ACCOUNT_TABLE}` VALUES ('a@b.c')")
    job_id = proletarian.enqueue(store, "welcome", {"email": "a@b.c"}, conn=app_conn)
    more = proletarian.enqueue_many(
        store, [NewJob(job_type="t", payload=i) for i in range(3)], conn=app_conn
    )
    assert store.get_job(job_id) is None
    assert store.claim(["default"], worker_id="w") is None
    app_conn.commit()
    assert accounts() == ["a@b.c"]
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.payload) == (JobStatus.READY, {"email": "a@b.c"})
    assert [store.get_job(i) is not None for i in more] == [True] * 3


# -- handler writes through ctx.connection -----------------------------------------------------


def record_account(job: Job, ctx: JobContext) -> None:
    conn = ctx.connection
    assert isinstance(conn, pymysql.connections.Connection)
    with conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO `{ACCOUNT_TABLE}` VALUES (%s)", (job.payload["email"],))
    if job.payload.get("fail"):
        raise RuntimeError("handler failed after writing")


def test_handler_writes_commit_with_success(store: MySQLStore) -> None:
    """A handler's writes on ctx.connection commit together with the job's success."""
    job_id = proletarian.enqueue(store, "t", {"email": "ok@b.c"})
    assert worker(store, record_account).drain() == 1
    assert accounts() == ["ok@b.c"]
    job = store.get_job(job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED


def test_handler_writes_vanish_on_failure(store: MySQLStore) -> None:
    """A handler's writes on ctx.connection are rolled back when the attempt fails, both when
    the job is retried and when it finally fails."""
    job_id = proletarian.enqueue(store, "t", {"email": "bad@b.c", "fail": True})
    assert worker(store, record_account, retry=RetryPolicy(retries=1)).drain() == 2
    assert accounts() == []
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.FAILED, 2)
    assert job.error is not None
    assert job.error.message == "handler failed after writing"


def test_claim_connection_is_the_transaction_holding_the_job(store: MySQLStore) -> None:
    """Writes on claim.connection are visible to nobody else until the outcome commits."""
    proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    assert claim.connection is claim.connection
    with claim.connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO `{ACCOUNT_TABLE}` VALUES ('inside@b.c')")
    assert accounts() == []
    claim.succeed()
    assert accounts() == ["inside@b.c"]


# -- claims ------------------------------------------------------------------------------------


def test_claim_over_several_queues_takes_the_most_urgent_and_hides_no_other(
    store: MySQLStore,
) -> None:
    """A claim over several queues takes the most urgent due job of all of them and locks only
    that one: the best job of the other queue stays claimable by a peer."""
    low = proletarian.enqueue(store, "t", None, queue="a", priority=Priority.LOW)
    high = proletarian.enqueue(store, "t", None, queue="b", priority=Priority.HIGH)
    first = store.claim(["a", "b"], worker_id="w1")
    assert first is not None
    assert first.job.id == high
    second = store.claim(["a"], worker_id="w2")
    assert second is not None
    assert second.job.id == low
    assert store.claim(["a", "b"], worker_id="w3") is None
    first.succeed()
    second.succeed()


@pytest.mark.parametrize("queues", [("a",), ("b", "a")])
def test_claims_held_at_once_lock_only_the_rows_they_took(
    tmp_path: Path, queues: tuple[str, ...]
) -> None:
    """Claims held at the same time each lock only their own job, even when the optimizer's
    statistics say one queue holds nearly every row: every due job can be claimed by a peer."""
    with open_store(ManualClock(), tmp_path, pool_size=16) as store:
        proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload=i, queue="a") for i in range(10)]
        )
        proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload=i, queue="b") for i in range(2)]
        )
        execute(f"ANALYZE TABLE `{JOB_TABLE}`")
        due = 12 if "b" in queues else 10
        claims = [store.claim(queues, worker_id=f"w{i}") for i in range(due)]
        try:
            assert None not in claims
            assert len({claim.job.id for claim in claims if claim is not None}) == due
            assert store.claim(queues, worker_id="late") is None
        finally:
            for claim in claims:
                if claim is not None:
                    claim.abandon()


def test_claims_read_the_claim_index_in_order(tmp_path: Path) -> None:
    """Claim statements read the claim_order index in claim order, never a table scan or a
    sort (a locking read locks every row it reads), whatever the optimizer's statistics."""
    with open_store(ManualClock(), tmp_path) as store:
        for rows in (3, 300):
            proletarian.enqueue_many(
                store, [NewJob(job_type="t", payload=i, queue="a") for i in range(rows)]
            )
            execute(f"ANALYZE TABLE `{JOB_TABLE}`")
            now = datetime(2030, 1, 1)
            for statement, params in [
                (store._sql.claim, ("a", now)),
                (store._sql.candidates(2), ("b", now, "a", now)),
            ]:
                plans = execute(f"EXPLAIN {statement}", *params)
                assert {(plan[3], plan[5]) for plan in plans} == {("range", "claim_order")}
                assert not any("filesort" in (plan[9] or "") for plan in plans)


def test_enqueue_does_not_wait_for_a_held_claim(store: MySQLStore) -> None:
    """A claim held open takes no gap lock: enqueueing into the same queue goes straight in."""
    proletarian.enqueue(store, "t", None, priority=Priority.LOW)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    with admin() as conn, conn.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        conn.autocommit(False)
        proletarian.enqueue_many(
            store,
            [NewJob(job_type="t", payload=p, priority=Priority.LOW) for p in range(5)],
            conn=conn,
        )
        conn.commit()
    claim.succeed()
    assert store.stats()["default"].ready == 5


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_handler_that_ends_its_transaction_gets_its_outcome_all_the_same(
    store: MySQLStore, end: str
) -> None:
    """A handler that commits or rolls back `ctx.connection` itself (as a deadlock rolls it
    back) ends the claim's savepoint: the outcome it was due is written all the same, with the
    careful first claim's count undone once, not twice. A rolled-back success runs again as a
    retry, not as a failure."""
    job_id = proletarian.enqueue(store, "t", None)
    runs: list[int] = []

    def handle(job: Job, ctx: JobContext) -> None:
        runs.append(job.attempt)
        conn = ctx.connection
        assert isinstance(conn, pymysql.connections.Connection)
        getattr(conn, end)()
        if end == "rollback" and job.attempt == 1:
            raise RuntimeError("deadlock found when trying to get lock")

    log = CapturingLog()
    worker = QueueWorker(
        store, handle, handler_mode="advanced", retry=RetryPolicy(retries=1), log=log
    )
    worker.drain()
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.abandons) == (JobStatus.SUCCEEDED, 0)
    assert runs == ([1] if end == "commit" else [1, 2])
    assert log.of("outcome_refused")


def test_a_refused_outcome_keeps_the_claim_for_another(store: MySQLStore) -> None:
    """When the database refuses an outcome, the claim's transaction is rolled back and the job
    locked again, so another outcome (a smaller failure) can end it; the connection is then
    back in the pool."""
    job_id = proletarian.enqueue(store, "t", None)
    claim = store.claim(["default"], worker_id="w")
    assert claim is not None
    with claim.connection.cursor() as cursor:  # a handler that ends the savepoint itself
        cursor.execute("RELEASE SAVEPOINT proletarian_handler")
    with pytest.raises(StoreError, match="SAVEPOINT") as raised:
        claim.fail(ERROR)
    assert not isinstance(raised.value, StoreUnavailable)
    assert store.claim(["default"], worker_id="other") is None
    claim.fail(JobError(type="OutcomeRefused", message="m"))
    assert store._pool.in_use == 0
    job = store.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts, job.abandons) == (JobStatus.FAILED, 1, 0)


def test_a_busy_pool_raises_store_unavailable_after_its_timeout(tmp_path: Path) -> None:
    """With every pooled connection held by a claim, an operation waits pool_timeout and then
    raises StoreUnavailable."""
    with open_store(ManualClock(), tmp_path, pool_size=1, pool_timeout=0.2) as store:
        proletarian.enqueue(store, "t", None)
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        with pytest.raises(StoreUnavailable, match="all 1 are in use"):
            store.stats()
        claim.abandon()
        assert store.stats()["default"].ready == 1


@contextmanager
def plain_store(clock: ManualClock) -> Iterator[MySQLStore]:
    """A store over the test tables whose connections come from the caller's function."""
    store = MySQLStore(
        lambda: pymysql.connect(**connect_kwargs()),
        clock=clock,
        job_table=JOB_TABLE,
        archived_job_table=ARCHIVED_JOB_TABLE,
    )
    yield store
    store.close()


def test_connections_from_a_function_work_one_statement_at_a_time(tmp_path: Path) -> None:
    """A store given a function making plain PyMySQL connections (no multi-statement flag)
    enqueues, claims and records every outcome just the same."""
    clock = ManualClock()
    with open_store(clock, tmp_path), plain_store(clock) as store:
        ids = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(3)])
        outcomes = []
        for outcome in ("succeed", "retry", "fail"):
            claim = store.claim(["default"], worker_id="w")
            assert claim is not None
            claim.connection  # noqa: B018 - takes the savepoint, to release or roll back
            if outcome == "succeed":
                claim.succeed()
            elif outcome == "retry":
                claim.retry_at(clock.now() + timedelta(hours=1), ERROR)
            else:
                claim.fail(ERROR)
            outcomes.append(claim.job.id)
        statuses = [job.status for job in map(store.get_job, ids) if job is not None]
        assert statuses == [JobStatus.SUCCEEDED, JobStatus.SCHEDULED, JobStatus.FAILED]
        assert outcomes == ids
        assert store._pool.in_use == 0


# -- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "packaged"),
    [("tables.sql", "mysql.sql"), ("tables_database_ids.sql", "mysql_database_ids.sql")],
)
def test_schema_file_is_the_packaged_copy(source: str, packaged: str) -> None:
    """The DDL users copy and the one install_schema runs are the same file."""
    assert (ROOT / "database" / "mysql" / source).read_bytes() == (
        ROOT / "proletarian" / "schema" / packaged
    ).read_bytes()


def test_install_schema_creates_renamed_tables_idempotently() -> None:
    """install_schema creates both tables under the configured names, and can run again."""
    require("mysql")
    names = (f"{PREFIX}_fresh_job", f"{PREFIX}_fresh_archived_job")
    execute(f"DROP TABLE IF EXISTS `{names[0]}`, `{names[1]}`")
    store = MySQLStore.connect(MYSQL_URL, job_table=names[0], archived_job_table=names[1])
    try:
        assert "`proletarian_job`" not in store.schema_sql()
        store.install_schema()
        proletarian.enqueue(store, "t", None)
        store.install_schema()
        assert store.stats()["default"].ready == 1
        tables = execute(
            "SELECT table_name, engine, table_collation FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name IN (%s, %s) ORDER BY table_name",
            *names,
        )
        assert tables == [
            (names[1], "InnoDB", "utf8mb4_bin"),
            (names[0], "InnoDB", "utf8mb4_bin"),
        ]
    finally:
        store.close()
        execute(f"DROP TABLE IF EXISTS `{names[0]}`, `{names[1]}`")


def test_database_qualified_table_names_work(tmp_path: Path) -> None:
    """Table names may name their database, as database.table."""
    database = connect_kwargs()["database"]
    with open_store(
        ManualClock(),
        tmp_path,
        job_table=f"{database}.{JOB_TABLE}",
        archived_job_table=f"{database}.{ARCHIVED_JOB_TABLE}",
    ) as store:
        job_id = proletarian.enqueue(store, "t", None)
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        claim.succeed()
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("name", ["jobs;drop", "job`x", "a.b.c", "1job", "", "j" * 64])
def test_bad_table_name_is_refused(name: str) -> None:
    """A table name that is not a plain identifier is refused before anything reaches SQL."""
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        MySQLStore.connect(MYSQL_URL, job_table=name)
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        MySQLStore.connect(MYSQL_URL, archived_job_table=name)


# -- values ------------------------------------------------------------------------------------


def test_timestamps_keep_microseconds_and_pass_2038(store: MySQLStore) -> None:
    """Due times are stored in UTC to the microsecond, far beyond 2038, whatever their zone."""
    when = datetime(2100, 6, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    job_id = proletarian.enqueue(store, "t", None, process_at=when)
    job = store.get_job(job_id)
    assert job is not None
    assert job.process_at == when
    assert job.process_at.tzinfo is UTC
    assert job.status is JobStatus.SCHEDULED


def test_names_and_payloads_keep_any_unicode(store: MySQLStore) -> None:
    """Queue names, job types, payloads and meta keep characters outside the BMP (utf8mb4), and
    queue names match exactly, case included."""
    job_id = proletarian.enqueue(
        store, "envoyer 📧", {"texte": "héllo 🌍"}, queue="Q-ünï", meta={"t": "🏷"}
    )
    assert store.claim(["q-ünï"], worker_id="w") is None
    claim = store.claim(["Q-ünï"], worker_id="w")
    assert claim is not None
    assert (claim.job.id, claim.job.job_type) == (job_id, "envoyer 📧")
    assert (claim.job.payload, claim.job.meta) == ({"texte": "héllo 🌍"}, {"t": "🏷"})
    claim.succeed()


def test_a_large_enqueue_many_is_split_into_statements_in_one_transaction(
    store: MySQLStore,
) -> None:
    """enqueue_many of more jobs than one INSERT takes writes them all, in order."""
    jobs = [NewJob(job_type="t", payload="x" * 500) for _ in range(2500)]
    ids = proletarian.enqueue_many(store, jobs)
    assert len(set(ids)) == 2500
    assert ids == sorted(ids)
    assert store.stats()["default"].ready == 2500


def test_ids_that_are_not_uuids_are_refused(tmp_path: Path) -> None:
    """A job-id strategy giving ids that are not UUIDs is refused by the UUID tables."""

    class Names:
        def new_id(self) -> str:
            return "job-1"

    with open_store(ManualClock(), tmp_path, job_ids=Names()) as store:
        with pytest.raises(ConfigurationError, match="BINARY"):
            proletarian.enqueue(store, "t", None)
        assert store.get_job("job-1") is None


# -- DatabaseIds -------------------------------------------------------------------------------


def test_database_ids_round_trip(tmp_path: Path) -> None:
    """With DatabaseIds the AUTO_INCREMENT id comes back from enqueue and enqueue_many (also on
    the caller's connection), and names the job through claim, archive and get_job."""
    with open_store(ManualClock(), tmp_path, job_ids=DatabaseIds()) as store:
        store.install_schema()
        first = proletarian.enqueue(store, "t", {"n": 0})
        more = proletarian.enqueue_many(
            store, [NewJob(job_type="t", payload={"n": i}) for i in (1, 2)]
        )
        conn = pymysql.connect(**connect_kwargs(), autocommit=False)
        try:
            outboxed = proletarian.enqueue(store, "t", {"n": 3}, conn=conn)
            conn.commit()
        finally:
            conn.close()
        ids = [first, *more, outboxed]
        assert all(i.isdigit() for i in ids)
        assert [int(i) for i in ids] == sorted(int(i) for i in ids)
        assert len(set(ids)) == 4
        seen = []
        while (claim := store.claim(["default"], worker_id="w")) is not None:
            seen.append((claim.job.id, claim.job.payload["n"]))
            claim.succeed()
        assert seen == [(job_id, n) for n, job_id in enumerate(ids)]
        job = store.get_job(first)
        assert job is not None
        assert (job.id, job.status) == (first, JobStatus.SUCCEEDED)
        assert store.get_job("not-a-number") is None
        assert store.retry_failed(first) is False


def test_database_ids_without_returning_read_each_insert_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server without INSERT ... RETURNING (MySQL), the ids come from LAST_INSERT_ID()
    of one INSERT per job, still in order and in one transaction."""
    monkeypatch.setattr("proletarian.adapters.mysql.store.is_mariadb", lambda conn: False)
    with open_store(ManualClock(), tmp_path, job_ids=DatabaseIds()) as store:
        ids = proletarian.enqueue_many(store, [NewJob(job_type="t", payload=i) for i in range(5)])
        assert [int(i) for i in ids] == list(range(int(ids[0]), int(ids[0]) + 5))
        for n, job_id in enumerate(ids):
            job = store.get_job(job_id)
            assert job is not None
            assert job.payload == n


# -- configuration and errors ------------------------------------------------------------------


def test_missing_tables_raise_schema_missing() -> None:
    """Reading or writing a store whose tables were never installed raises SchemaMissing, the
    StoreError that says install_schema() is what is needed."""
    require("mysql")
    store = MySQLStore.connect(
        f"{MYSQL_URL}?job_table=never_installed_job&archived_job_table=never_installed_archive"
    )
    try:
        with pytest.raises(SchemaMissing, match="1146"):
            store.get_job("0190d2a0-0000-7000-8000-000000000000")
        with pytest.raises(SchemaMissing):
            store.stats()
        with pytest.raises(SchemaMissing):
            proletarian.enqueue(store, "t", {})
    finally:
        store.close()


def test_url_options_reach_the_driver_and_bad_ones_are_refused() -> None:
    """Known URL query options are accepted; an unknown one or a bad value is refused."""
    require("mysql")
    store = MySQLStore.connect(
        f"{MYSQL_URL}?connect_timeout=5&read_timeout=30&charset=utf8mb4"
        "&keepalives=1&keepalives_idle=20&keepalives_interval=2&keepalives_count=4"
        "&tcp_user_timeout=5000",
        job_table=JOB_TABLE,
        archived_job_table=ARCHIVED_JOB_TABLE,
    )
    try:
        store.install_schema()
        assert isinstance(store.stats(), dict)
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="'colour' is not supported"):
        MySQLStore.connect(f"{MYSQL_URL}?colour=red")
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        MySQLStore.connect(f"{MYSQL_URL}?connect_timeout=soon")
    with pytest.raises(ConfigurationError, match="keepalives_idle must be a whole number"):
        MySQLStore.connect(f"{MYSQL_URL}?keepalives_idle=-1")
    with pytest.raises(ConfigurationError, match="tcp_user_timeout must be a whole number"):
        MySQLStore({"host": "127.0.0.1", "tcp_user_timeout": 1.5})
    with pytest.raises(ConfigurationError, match="mysql://"):
        MySQLStore.connect("postgresql://u@h/db")


def socket_of(store: MySQLStore) -> socket.socket:
    """The socket of a connection the store made (and gave back to its pool)."""
    conn = store._pool.get()
    store._pool.give_back(conn)
    sock: socket.socket = cast(Any, conn)._sock
    return sock


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="no TCP_USER_TIMEOUT here")
def test_connections_carry_the_network_defaults_unless_told_otherwise(
    store: MySQLStore, tmp_path: Path
) -> None:
    """Connections the store makes wait 60 s for each read, probe a silent peer after 10 s
    idle, every 5 s, and give up on unacknowledged data after 15 s; the URL's own settings
    win."""
    sock = socket_of(store)
    assert sock.gettimeout() == 60.0
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 15000
    tuned = MySQLStore.connect(
        f"{MYSQL_URL}?read_timeout=7&write_timeout=7&keepalives_idle=20&tcp_user_timeout=0",
        job_table=JOB_TABLE,
        archived_job_table=ARCHIVED_JOB_TABLE,
    )
    try:
        sock = socket_of(tuned)
        assert sock.gettimeout() == 7.0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 20
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 0
    finally:
        tuned.close()


def test_a_claim_held_longer_than_read_timeout_still_ends(tmp_path: Path) -> None:
    """read_timeout bounds each read, not a claim: with read_timeout=0.3 a claim whose
    connection stays idle for a second while its handler works still commits its outcome."""
    store = MySQLStore.connect(
        f"{MYSQL_URL}?read_timeout=0.3",
        job_table=JOB_TABLE,
        archived_job_table=ARCHIVED_JOB_TABLE,
    )
    try:
        job_id = proletarian.enqueue(store, "t", None)
        claim = store.claim(["default"], worker_id="w")
        assert claim is not None
        threading.Event().wait(1.0)  # the handler at work: no read is waiting meanwhile
        claim.succeed()
        job = store.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
    finally:
        store.close()


def test_unreachable_server_is_store_unavailable_without_the_password() -> None:
    """A server that can't be reached raises StoreUnavailable naming where, never the password."""
    store = MySQLStore.connect("mysql://app:hunter2@127.0.0.1:1/db?connect_timeout=2")
    try:
        with pytest.raises(StoreUnavailable) as raised:
            proletarian.enqueue(store, "t", None)
        assert "app@127.0.0.1:1/db" in str(raised.value)
        assert "hunter2" not in str(raised.value)
        assert "hunter2" not in repr(store)
    finally:
        store.close()


def test_a_missing_table_is_a_store_error_not_unavailability() -> None:
    """A statement the server refuses (here, a table that does not exist) raises StoreError."""
    require("mysql")
    store = MySQLStore.connect(MYSQL_URL, job_table="proletarian_test_missing")
    try:
        with pytest.raises(StoreError, match="proletarian_test_missing") as raised:
            proletarian.enqueue(store, "t", None)
        assert not isinstance(raised.value, StoreUnavailable)
        assert isinstance(raised.value.__cause__, ProgrammingError)
    finally:
        store.close()


def test_a_closed_store_refuses_work(store: MySQLStore) -> None:
    """After close, operations raise StoreError instead of opening new connections."""
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.stats()


def test_errors_are_translated_after_pymysql_stands_in_for_mysqldb() -> None:
    """With PyMySQL installed as MySQLdb (as Django users do), driver errors still become
    StoreError: importing MySQLdb.err rebinds pymysql.err to a second copy of the module."""
    require("mysql")
    code = (
        "import pymysql; pymysql.install_as_MySQLdb(); import MySQLdb.err\n"
        "import proletarian\n"
        "from proletarian.adapters.mysql import MySQLStore\n"
        f"store = MySQLStore.connect({MYSQL_URL!r}, job_table='proletarian_test_absent')\n"
        "try:\n"
        "    proletarian.enqueue(store, 't', None)\n"
        "except proletarian.StoreError as exc:\n"
        "    print('translated', type(exc.__cause__).__name__)\n"
        "finally:\n"
        "    store.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "translated ProgrammingError", result.stderr
