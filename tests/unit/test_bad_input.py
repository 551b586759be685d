"""Bad input that the other unit and contract tests leave out: job types of bad length, table
names and prefixes carrying SQL or patterns refused by every store's constructor before it
touches anything, NullStore's prune checks, passwords in store URLs (parseable or not) kept out
of errors, events and logs, and log lines that values can't break. (Payloads that can't be
serialised, names and meta no store can hold, due times out of range, bad prune arguments,
naive datetimes, process_at with process_in, negative delays, queue names, conn= of the wrong
kind, async handlers, unknown job types, undecodable payloads, bad retry functions and
on_failed errors are covered in test_core.py, test_adapters_basic.py, test_worker.py and the
contract suite, tests/contract/test_bad_input.py for bad input; per-store cases in
tests/integration/test_bad_input_stores.py.)"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

import proletarian
from proletarian import ConfigurationError, NewJob, QueueWorker, StoreUnavailable, open_store
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.null import NullStore
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.redis import RedisStore
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.core.urls import SCHEMES, redact, scrub
from proletarian.worker.log import logging_events

# The URL-encoded form goes in URLs; a driver that echoed what it sent would show the decoded.
PASSWORD = "Zq%40w-S3cret-pw"
DECODED = "Zq@w-S3cret-pw"


@pytest.mark.parametrize("job_type", ["", "x" * 256, "padded "])
def test_bad_job_types_are_refused_and_nothing_is_written(job_type: str) -> None:
    """An empty, over-long or padded job type raises ConfigurationError and writes nothing."""
    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="job_type"):
        proletarian.enqueue(store, job_type, None)
    with pytest.raises(ConfigurationError, match="job_type"):
        proletarian.enqueue_many(
            store, [NewJob(job_type="ok", payload=1), NewJob(job_type=job_type, payload=2)]
        )
    assert store.stats() == {}


@pytest.mark.parametrize(
    ("older_than", "limit"), [(timedelta(days=-1), None), (7, None), (timedelta(0), 0)]
)
def test_null_store_refuses_bad_prune_arguments(older_than: Any, limit: Any) -> None:
    """NullStore refuses the prune arguments every real store refuses, recording no call."""
    store = NullStore()
    with pytest.raises(ConfigurationError):
        store.prune_archive(older_than, limit=limit)
    assert store.calls == []


SQL_NAMES = ["job; DROP TABLE job", 'job"--', "job.x.y", "1job", "job name", "a" * 64]


@pytest.mark.parametrize("name", SQL_NAMES)
@pytest.mark.parametrize("option", ["job_table", "archived_job_table"])
def test_sql_stores_refuse_table_names_carrying_sql(name: str, option: str, tmp_path: Path) -> None:
    """PostgresStore, MySQLStore and SQLiteStore refuse a table name that is not an identifier
    at construction, before any connection or file is opened."""
    pool: ConnectionPool[Any] = ConnectionPool("host=127.0.0.1 port=1", open=False)
    names: dict[str, Any] = {option: name}
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        PostgresStore(pool, **names)
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        MySQLStore({"host": "127.0.0.1", "port": 1}, **names)
    with pytest.raises(ConfigurationError, match="not a valid identifier"):
        SQLiteStore(tmp_path / "jobs.db", **names)
    assert not (tmp_path / "jobs.db").exists()
    assert pool.closed


@pytest.mark.parametrize("schema", ["public; DROP SCHEMA x", "a.b", ""])
def test_postgres_refuses_a_schema_carrying_sql(schema: str) -> None:
    """PostgresStore(schema=...) is validated as an identifier too."""
    pool: ConnectionPool[Any] = ConnectionPool("host=127.0.0.1 port=1", open=False)
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresStore(pool, schema=schema)


@pytest.mark.parametrize("prefix", ["a b", "jobs*", "x?", "{tag}", "", "p" * 101])
def test_redis_refuses_a_prefix_that_is_a_pattern_or_malformed(prefix: str) -> None:
    """A Redis prefix with glob characters, spaces or braces (it is used in SCAN patterns and
    key names) is refused before any connection is made."""
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisStore.connect("redis://127.0.0.1:1/15", prefix=prefix)


# -- passwords ------------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def urls(port: int) -> dict[str, str]:
    return {
        "postgres": f"postgresql://worker:{PASSWORD}@127.0.0.1:{port}/test",
        "mysql": f"mysql://worker:{PASSWORD}@127.0.0.1:{port}/test",
        "redis": f"redis://worker:{PASSWORD}@127.0.0.1:{port}/15",
    }


def chain(exc: BaseException) -> Iterator[str]:
    """The text of an exception and of every exception it came from, as a traceback shows."""
    seen: BaseException | None = exc
    while seen is not None:
        yield f"{type(seen).__name__}: {seen} {seen.args!r}"
        seen = seen.__cause__ or seen.__context__


def assert_no_password(text: str) -> None:
    assert PASSWORD not in text
    assert DECODED not in text


@pytest.mark.parametrize("kind", ["postgres", "mysql", "redis"])
def test_unreachable_store_errors_never_show_the_password(kind: str, closed_port: int) -> None:
    """open_store with a password URL to a closed port: the StoreUnavailable raised (at once,
    or by the first operation of a store that connects lazily), its causes and the store's
    repr never contain the password, URL-encoded or decoded."""
    url = urls(closed_port)[kind]
    if kind == "postgres":  # PostgresStore.connect connects at once
        with pytest.raises(StoreUnavailable) as raised:
            open_store(url)
    else:
        store = open_store(url)
        assert_no_password(repr(store))
        try:
            with pytest.raises(StoreUnavailable) as raised:
                store.stats()
        finally:
            store.close()
    for text in chain(raised.value):
        assert_no_password(text)


class Counted(logging.Handler):
    """Counts the proletarian logger's store_unavailable records; `enough` is set at `count`."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.seen = 0
        self.enough = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "store_unavailable":
            self.seen += 1
            if self.seen >= self.count:
                self.enough.set()


@contextmanager
def counted(count: int) -> Iterator[Counted]:
    handler = Counted(count)
    logger = logging.getLogger("proletarian")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def assert_no_password_logged(records: list[logging.LogRecord]) -> None:
    assert records
    for record in records:
        assert_no_password(record.getMessage())
        assert_no_password(repr(record.__dict__))  # the event data rides along as `data`


@pytest.mark.parametrize("kind", ["mysql", "redis"])
def test_worker_logs_and_events_never_show_the_password(
    kind: str, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker over a store built from a password URL, whose server is unreachable, logs
    store_unavailable again and again through the logging module (the default event sink): no
    record, message or event data contains the password."""
    caplog.set_level(logging.DEBUG)
    store = open_store(urls(closed_port)[kind])
    try:
        with counted(4) as handler, QueueWorker(store, lambda t, p: None, threads=2):
            assert handler.enough.wait(30)
    finally:
        store.close()
    assert_no_password_logged(caplog.records)


# The URL of issue 13: libpq's own parse error echoes it whole.
UNPARSEABLE = "://app:secret@[::1/db"


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_an_unparseable_url_never_shows_its_password(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    """open_store of "<scheme>://app:secret@[::1/db", which no URL parser accepts, raises
    ConfigurationError (memory://, which reads nothing after the scheme, opens a store), and no
    message, cause, repr or log record shows the password."""
    caplog.set_level(logging.DEBUG)
    url = scheme + UNPARSEABLE
    if SCHEMES[scheme] == "memory":
        store = open_store(url)
        assert "secret" not in repr(store)
        store.close()
    else:
        with pytest.raises(ConfigurationError) as raised:
            open_store(url)
        assert f"{scheme}://app:***@[::1/db" in str(raised.value)
        for text in chain(raised.value):
            assert "secret" not in text
    for record in caplog.records:
        assert "secret" not in record.getMessage()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:secret@[::1/db", "postgresql://app:***@[::1/db"),
        ("postgresql://app:secret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:secret@localhost/0", "redis://:***@localhost/0"),
        ("mysql://a%40b:se%3Acret@h/db", "mysql://a%40b:***@h/db"),
        (
            "postgresql://db/x?sslmode=off&password=secret",
            "postgresql://db/x?sslmode=off&password=***",
        ),
        ("redis://h/0?PASSWORD=secret#x", "redis://h/0?PASSWORD=***#x"),
        ("host=db password=secret user=app", "host=db password=*** user=app"),
        ("host=db password = 'se cr\\'et' user=app", "host=db password = *** user=app"),
        ("sqlite:////tmp/jobs.db", "sqlite:////tmp/jobs.db"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
    ],
)
def test_redact_hides_every_password_a_url_or_conninfo_can_hold(url: str, shown: str) -> None:
    """The password after user:, in a password= query parameter or in a conninfo's password=
    is replaced by ***, whether or not the URL can be parsed; the rest is kept to be read."""
    assert redact(url) == shown


def test_scrub_hides_a_password_a_driver_echoed() -> None:
    """A driver message quoting the URL whole, or only its password (raw or decoded), is shown
    with the password replaced, even for a URL that can't be parsed."""
    url = "postgresql://app:s%40cret@[::1/db"
    message = f'missing "]" in URI: "{url}"; password s@cret or s%40cret'
    assert scrub(message, url) == (
        'missing "]" in URI: "postgresql://app:***@[::1/db"; password *** or ***'
    )


def test_postgres_pool_logs_never_show_the_password(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The same for a PostgresStore on a pool opened without waiting (the way to build one while
    the server is down): psycopg_pool's reconnect warnings carry no password either."""
    caplog.set_level(logging.DEBUG)
    pool: ConnectionPool[Any] = ConnectionPool(
        urls(closed_port)["postgres"], min_size=1, timeout=0.2, open=False
    )
    pool.open(wait=False)
    try:
        with counted(3) as handler, QueueWorker(PostgresStore(pool), lambda t, p: None):
            assert handler.enough.wait(30)
    finally:
        pool.close()
    assert any("error connecting" in r.getMessage() for r in caplog.records)
    assert_no_password_logged(caplog.records)


# -- log lines ------------------------------------------------------------------------------------


def test_a_value_with_a_newline_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """The default sink writes one line per event: a value with spaces, '=', quotes, a
    backslash or control characters is quoted with escapes; plain values stay bare; the
    traceback comes last, escaped onto the line."""
    caplog.set_level(logging.DEBUG, logger="proletarian")
    forged = "t\nERROR proletarian job_succeeded job_id=forged"
    logging_events(
        "job_failed",
        {
            "queue": "default",
            "job_type": forged,
            "attempt": 2,
            "error": 'bad "value" C:\\x\ttab\r\x1b[31m\u2028',
            "empty": "",
            "unicode": "résumé",
            "equals": "a=b",
            "traceback": "Traceback...\nValueError: x\n",
        },
    )
    (record,) = caplog.records
    assert record.getMessage() == (
        "job_failed queue=default "
        'job_type="t\\nERROR proletarian job_succeeded job_id=forged" attempt=2 '
        'error="bad \\"value\\" C:\\\\x\\ttab\\r\\x1b[31m\\u2028" empty="" unicode=résumé '
        'equals="a=b" traceback="Traceback...\\nValueError: x"'
    )
    assert record.data["job_type"] == forged  # type: ignore[attr-defined]  # as given


def test_a_worker_logs_one_line_per_event_for_a_job_type_with_a_newline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A job whose type holds a newline, failing, is logged by the default sink without a
    line break in any message."""
    caplog.set_level(logging.DEBUG, logger="proletarian")
    store = MemoryStore()
    proletarian.enqueue(store, "t\nINFO proletarian job_succeeded", None)

    def fail(job_type: str, payload: Any) -> None:
        raise ValueError("line one\nline two")

    assert QueueWorker(store, fail).drain() == 1
    events = {getattr(record, "event", None): record for record in caplog.records}
    assert {"job_claimed", "job_failed"} <= events.keys()
    for record in caplog.records:
        assert "\n" not in record.getMessage()
