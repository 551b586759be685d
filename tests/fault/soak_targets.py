"""The store-specific half of the chaos soaks: each target owns storage of its own (a schema, a
database, a file or a key prefix), observes it, kills the workers' connections on the server,
and restarts the server. Server control goes through the commands this machine's
scripts/services.sh starts the servers with."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import psycopg
import pymysql
import redis
from psycopg import sql
from pymysql.err import InternalError, MySQLError, OperationalError

from proletarian import NewJob
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.redis import RedisStore
from proletarian.adapters.redis.codec import load_error, text
from proletarian.adapters.sqlite import SQLiteStore
from tests.fault.soak import Row, until
from tests.fixtures.servers import MYSQL_URL, POSTGRES_URL, REDIS_URL, require

MARIADBD = "/usr/sbin/mariadbd"
SERVER_TIMEOUT = 120.0  # seconds a server gets to stop or start


def with_query(url: str, **params: str) -> str:
    """`url` with query parameters added."""
    extra = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"


# -- PostgreSQL ----------------------------------------------------------------------------------


def postgres_cluster() -> str:
    """The version of this machine's one PostgreSQL cluster (its directory in /etc/postgresql)."""
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    assert versions, "no PostgreSQL cluster under /etc/postgresql: cannot restart the server"
    return versions[-1]


def pg_ctlcluster(action: str) -> None:
    cluster = postgres_cluster()
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", action]
    subprocess.run(command, check=True, capture_output=True, timeout=SERVER_TIMEOUT)


def postgres_accepts() -> bool:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
    except psycopg.Error:
        return False
    return True


def restart_postgres() -> None:
    """Restart the server (fast shutdown: every session is ended) and wait until it accepts."""
    pg_ctlcluster("restart")
    until(postgres_accepts, "PostgreSQL to accept connections after its restart", timeout=60)


def ensure_postgres_up() -> None:
    """Start the server if a test left it down, and wait until it accepts connections."""
    if not postgres_accepts():
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctlcluster("start")  # fails if it is already starting; then just wait
        until(postgres_accepts, "PostgreSQL to accept connections", timeout=SERVER_TIMEOUT)


class PostgresTarget:
    """A schema of its own; workers tag their connections `psoak_<test pid>_<worker pid>`."""

    kind = "postgres"

    def __init__(self) -> None:
        require("postgres")
        self.schema = f"proletarian_soak_{os.getpid()}"
        self.application = f"psoak_{os.getpid()}"
        self.worker_url = with_query(POSTGRES_URL, application_name=f"{self.application}_{{pid}}")
        self.worker_options: dict[str, Any] = {"schema": self.schema, "max_size": 6}
        self._conn: psycopg.Connection[Any] | None = None
        self._drop()
        self.store = PostgresStore.connect(POSTGRES_URL, schema=self.schema, max_size=2)
        self.store.install_schema()

    def _query(self, query: sql.Composed | str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of one statement on the test's own connection, reopened after a restart."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
            cursor = self._conn.execute(query, params or None)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return list(self.store.enqueue_many(jobs))

    def archived_count(self) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(self._table("archived_job"))
        return int(self._query(query)[0][0])

    def queued_count(self) -> int:
        return int(self._query(sql.SQL("SELECT count(*) FROM {}").format(self._table("job")))[0][0])

    def archive(self) -> list[Row]:
        query = sql.SQL(
            "SELECT job_id::text, status, attempts, abandons, error_type FROM {}"
        ).format(self._table("archived_job"))
        return [(str(a), str(b), int(c), int(d), e) for a, b, c, d, e in self._query(query)]

    def _backends(self) -> list[int]:
        rows = self._query(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
            f"{self.application}\\_%",
        )
        return [int(pid) for (pid,) in rows]

    def disrupt(self, rng: random.Random) -> int:
        backends = self._backends()
        victims = rng.sample(backends, min(len(backends), rng.randint(1, 3)))
        return sum(
            1
            for pid in victims
            if self._query("SELECT pg_terminate_backend(%s)", pid)[0][0] is True
        )

    def restart(self) -> None:
        if self._conn is not None:
            self._conn.close()
        restart_postgres()

    def _drop(self) -> None:
        for pid in self._backends():
            self._query("SELECT pg_terminate_backend(%s)", pid)
        self._query(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def close(self) -> None:
        ensure_postgres_up()
        self.store.close()
        self._drop()
        if self._conn is not None:
            self._conn.close()


class PostgresLeasedTarget(PostgresTarget):
    """The same schema and faults, for workers whose PostgresStore leases its claims (the plan
    gives the lease)."""

    kind = "postgres_leased"


# -- MariaDB -------------------------------------------------------------------------------------


def mysql_kwargs(database: str | None = None) -> dict[str, Any]:
    parts = urlsplit(MYSQL_URL)
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "database": database or parts.path.lstrip("/") or "test",
        "connect_timeout": 5,
        "autocommit": True,
    }
    return kwargs


def mariadb_accepts() -> bool:
    try:
        pymysql.connect(**mysql_kwargs()).close()
    except MySQLError:
        return False
    return True


def mariadbd_running() -> bool:
    status = subprocess.run(
        ["start-stop-daemon", "--status", "--exec", MARIADBD], check=False, timeout=30
    )
    return status.returncode == 0


def start_mariadb() -> None:
    # How scripts/services.sh starts it; mariadbd drops to its own user by its configuration.
    command = ["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", MARIADBD]
    subprocess.run(command, check=True, capture_output=True, timeout=SERVER_TIMEOUT)
    until(mariadb_accepts, "MariaDB to accept connections", timeout=SERVER_TIMEOUT)


def restart_mariadb() -> None:
    """A clean shutdown through the server itself, then a start as scripts/services.sh does."""
    kwargs = mysql_kwargs()
    command = ["mariadb-admin", "--protocol=tcp", f"--host={kwargs['host']}"]
    command += [f"--port={kwargs['port']}", f"--user={kwargs['user']}", "shutdown"]
    env = {**os.environ, "MYSQL_PWD": kwargs["password"]}
    subprocess.run(command, check=True, capture_output=True, timeout=SERVER_TIMEOUT, env=env)
    until(lambda: not mariadbd_running(), "mariadbd to exit", timeout=SERVER_TIMEOUT)
    start_mariadb()


def ensure_mariadb_up() -> None:
    if not mariadb_accepts():
        if not mariadbd_running():
            start_mariadb()
        until(mariadb_accepts, "MariaDB to accept connections", timeout=SERVER_TIMEOUT)


class MySQLTarget:
    """A database of its own, `proletarian_soak_<test pid>`: its connections are the workers'."""

    kind = "mysql"

    def __init__(self) -> None:
        require("mysql")
        self.database = f"proletarian_soak_{os.getpid()}"
        self.worker_url = urlsplit(MYSQL_URL)._replace(path=f"/{self.database}").geturl()
        # A careful claim that a crash cut short hides its job for crash_delay (10 s by
        # default): short here, so a poison job is refused soon and the run ends soon.
        self.worker_options: dict[str, Any] = {"pool_size": 6, "crash_delay": 0.5}
        self._conn: pymysql.connections.Connection | None = None
        self._query(f"DROP DATABASE IF EXISTS `{self.database}`")
        self._query(f"CREATE DATABASE `{self.database}`")
        self.store = MySQLStore.connect(self.worker_url, pool_size=2)
        self.store.install_schema()

    def _query(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        try:
            if self._conn is None or not self._conn.open:
                self._conn = pymysql.connect(**mysql_kwargs())
            with self._conn.cursor() as cursor:
                cursor.execute(statement, params or None)
                return list(cursor.fetchall())
        except OperationalError:
            if self._conn is not None:
                with contextlib.suppress(MySQLError):
                    self._conn.close()
            self._conn = None
            raise

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return list(self.store.enqueue_many(jobs))

    def archived_count(self) -> int:
        rows = self._query(f"SELECT COUNT(*) FROM `{self.database}`.proletarian_archived_job")
        return int(rows[0][0])

    def queued_count(self) -> int:
        return int(self._query(f"SELECT COUNT(*) FROM `{self.database}`.proletarian_job")[0][0])

    def archive(self) -> list[Row]:
        rows = self._query(
            "SELECT HEX(job_id), status, attempts, abandons, error_type "
            f"FROM `{self.database}`.proletarian_archived_job"
        )
        return [(str(uuid.UUID(hex=h)), str(s), int(a), int(b), e) for h, s, a, b, e in rows]

    def disrupt(self, rng: random.Random) -> int:
        rows = self._query(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
            self.database,
        )
        victims = rng.sample(rows, min(len(rows), rng.randint(1, 3)))
        killed = 0
        for (connection,) in victims:
            try:
                self._query(f"KILL {int(connection)}")
                killed += 1
            except InternalError as exc:
                if exc.args[0] != 1094:  # unknown thread id: it closed meanwhile
                    raise
        return killed

    def restart(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(MySQLError):
                self._conn.close()
            self._conn = None
        restart_mariadb()

    def close(self) -> None:
        ensure_mariadb_up()
        self.store.close()
        self._query(f"DROP DATABASE IF EXISTS `{self.database}`")
        if self._conn is not None:
            self._conn.close()


# -- SQLite --------------------------------------------------------------------------------------


class SQLiteTarget:
    """A database file of its own; no server, so no connections to kill and nothing to restart."""

    kind = "sqlite"

    def __init__(self, directory: Path) -> None:
        self.path = directory / "soak.db"
        self.worker_url = f"sqlite:///{self.path}"
        self.worker_options: dict[str, Any] = {}
        self.store = SQLiteStore(self.path)
        self.store.install_schema()

    def _query(self, statement: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            return conn.execute(statement).fetchall()
        finally:
            conn.close()

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return list(self.store.enqueue_many(jobs))

    def archived_count(self) -> int:
        return int(self._query("SELECT count(*) FROM archived_job")[0][0])

    def queued_count(self) -> int:
        return int(self._query("SELECT count(*) FROM job")[0][0])

    def archive(self) -> list[Row]:
        rows = self._query(
            "SELECT job_id, status, attempts, abandons, error_type FROM archived_job"
        )
        return [(str(a), str(b), int(c), int(d), e) for a, b, c, d, e in rows]

    def disrupt(self, rng: random.Random) -> int:
        raise AssertionError(
            "a SQLite soak plan cannot kill server connections: there is no server"
        )

    def restart(self) -> None:
        raise AssertionError("a SQLite soak plan cannot restart a server: there is none")

    def close(self) -> None:
        self.store.close()


# -- Redis ---------------------------------------------------------------------------------------


class RedisTarget:
    """A key prefix of its own; workers name their connections `rsoak_<test pid>_<worker pid>`.
    Never restarted: this machine's Redis keeps nothing on disk (no RDB, no AOF), so a restart
    loses every job by design, which is no test of the store."""

    kind = "redis"

    def __init__(self, prefix: str) -> None:
        require("redis")
        self.client_name = f"rsoak_{os.getpid()}"
        self.worker_url = with_query(REDIS_URL, client_name=f"{self.client_name}_{{pid}}")
        self.worker_options: dict[str, Any] = {"prefix": prefix}
        self.store = RedisStore.connect(REDIS_URL, prefix=prefix)
        self.admin = redis.Redis.from_url(REDIS_URL)

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return list(self.store.enqueue_many(jobs))

    def archived_count(self) -> int:
        return int(self.admin.zcard(f"{self.store.prefix}:archive"))

    def queued_count(self) -> int:
        stats = self.store.stats().get("default")
        return 0 if stats is None else stats.ready + stats.scheduled + stats.running

    def archive(self) -> list[Row]:
        members = cast(list[bytes], self.admin.zrange(f"{self.store.prefix}:archive", 0, -1))
        ids = [member.decode() for member in members]
        pipe = self.admin.pipeline(transaction=False)
        for job_id in ids:
            fields = ("status", "attempts", "abandons", "error")
            pipe.hmget(f"{self.store.prefix}:job:{job_id}", *fields)
        rows: list[Row] = []
        for job_id, (status, attempts, abandons, error) in zip(ids, pipe.execute(), strict=True):
            failure = load_error(text(error)) if error else None
            error_type = failure.type if failure else None
            rows.append((job_id, text(status), int(attempts), int(abandons or 0), error_type))
        return rows

    def archivings(self) -> int:
        """How many times a job was archived, by the store's own per-status counters."""
        counts = [
            int(value)
            for status in ("succeeded", "failed")
            for value in self.admin.hvals(f"{self.store.prefix}:{status}")
        ]
        return sum(counts)

    def disrupt(self, rng: random.Random) -> int:
        ours = [
            client["id"]
            for client in self.admin.client_list()
            if client["name"].startswith(f"{self.client_name}_")
        ]
        killed = 0
        for client_id in rng.sample(ours, min(len(ours), rng.randint(1, 3))):
            with contextlib.suppress(redis.ResponseError):  # it closed meanwhile
                killed += int(self.admin.client_kill_filter(_id=client_id))
        return killed

    def restart(self) -> None:
        raise AssertionError("a Redis soak plan cannot restart: this Redis keeps nothing on disk")

    def close(self) -> None:
        keys = list(self.admin.scan_iter(match=f"{self.store.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.admin.delete(*keys[start : start + 500])
        self.store.close()
        self.admin.close()
