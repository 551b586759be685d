"""Store options in URLs: each store reads its keyword arguments from its URL's query, converts
them by its own rules, leaves its driver's parameters to the driver, and refuses anything else
in one line that names the option. Nothing here connects to a server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.mysql import MySQLStore
from proletarian.adapters.mysql._driver import connection_kwargs
from proletarian.adapters.mysql.store import URL_OPTIONS as MYSQL_OPTIONS
from proletarian.adapters.postgres import PostgresStore
from proletarian.adapters.postgres.urls import (
    STORE_OPTIONS,
    libpq_parameters,
    pool_settings,
    split_url,
)
from proletarian.adapters.redis import RedisStore
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.core.errors import ConfigurationError
from proletarian.core.urls import query, with_query
from proletarian.stores import open_store, schema_for_url

# A port nothing listens on: a test that connected by mistake would fail, not hang.
NOWHERE = "127.0.0.1:1"


# -- the query itself ---------------------------------------------------------------------------


def test_with_query_replaces_and_drops_names_and_keeps_the_rest_as_written() -> None:
    """Adding a pair replaces the URL's value for that name; the password, the other pairs and
    the fragment keep their exact text."""
    url = "postgresql://app:p%40ss@db/app?sslmode=require&schema=old#frag"
    assert with_query(url, add=[("schema", "new one")]) == (
        "postgresql://app:p%40ss@db/app?sslmode=require&schema=new%20one#frag"
    )
    assert with_query(url, drop=["sslmode", "schema"]) == "postgresql://app:p%40ss@db/app#frag"
    assert with_query("memory://", add=[("lease", "5")]) == "memory://?lease=5"


def test_query_reads_a_url_no_parser_accepts() -> None:
    """The query is read from the text, so a malformed host does not hide it."""
    assert query("redis://a:b@[::1/0?prefix=x&lease=") == [("prefix", "x"), ("lease", "")]


# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_url_options_are_read_and_left_out_of_the_conninfo() -> None:
    """Store options come out of the URL converted; libpq's parameters stay in it."""
    conninfo, options = split_url(
        "postgresql://app@db/app?schema=jobs&sslmode=require&lease=60&server_prepared=false"
        "&read_timeout=none&job_ids=database&max_size=20&application_name=w"
    )
    assert conninfo == "postgresql://app@db/app?sslmode=require&application_name=w"
    assert options["schema"] == "jobs"
    assert options["lease"] == timedelta(seconds=60)
    assert options["server_prepared"] is False
    assert options["read_timeout"] is None
    assert isinstance(options["job_ids"], DatabaseIds)
    assert options["max_size"] == 20


def test_no_postgres_store_option_is_also_a_libpq_parameter() -> None:
    """Every name in a postgresql:// query means one thing: libpq's or the store's."""
    assert libpq_parameters() & set(STORE_OPTIONS.readers) == set()
    assert {"sslmode", "connect_timeout", "application_name"} <= libpq_parameters()


def test_a_libpq_conninfo_string_is_left_alone() -> None:
    """A key=value conninfo carries no store options and is passed on as it is."""
    assert split_url("host=db dbname=app") == ("host=db dbname=app", {})


@pytest.mark.parametrize(
    ("query_text", "fragments"),
    [
        ("prefix=app", ["'prefix' is not supported", "libpq connection parameter", "schema"]),
        ("lease=soon", ["lease='soon' is not valid: expected a number of seconds"]),
        ("lease=-5", ["lease='-5'", "a number of seconds >= 0"]),
        ("server_prepared=maybe", ["server_prepared='maybe'", "true or false"]),
        ("max_size=lots", ["max_size='lots'", "a whole number"]),
        ("job_ids=serial", ["job_ids='serial'", "uuid7 or database"]),
        ("schema=a&schema=b", ["'schema' is given twice"]),
        ("schema=a;drop", ["schema name 'a;drop' is not a valid identifier"]),
        ("max_size=0", ["max_size must be at least min_size and 1"]),
        ("min_size=5&max_size=2", ["max_size must be at least min_size"]),
        ("timeout=0", ["timeout must be a positive number of seconds"]),
    ],
)
def test_bad_postgres_url_options_are_refused_before_connecting(
    query_text: str, fragments: list[str]
) -> None:
    """An unknown name, a value of the wrong kind, or one the store refuses is one
    ConfigurationError naming the option, raised before any connection is tried."""
    with pytest.raises(ConfigurationError) as raised:
        PostgresStore.connect(f"postgresql://app:secret@{NOWHERE}/app?{query_text}")
    for fragment in fragments:
        assert fragment in str(raised.value)
    assert "secret" not in str(raised.value)


def test_an_unknown_option_value_is_never_shown() -> None:
    """The value of a name nobody takes may be a secret: only the name is shown."""
    with pytest.raises(ConfigurationError) as raised:
        PostgresStore.connect(f"postgresql://{NOWHERE}/app?pasword=hunter2")
    assert "'pasword'" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_pool_settings_come_from_keywords_then_the_url_then_defaults() -> None:
    """A keyword given wins over the URL's value, which wins over the default."""
    settings = pool_settings({"max_size": 4, "timeout": None}, {"max_size": 20, "min_size": 2})
    assert settings == {"min_size": 2, "max_size": 4, "timeout": 5.0, "reconnect_timeout": 30.0}


def test_postgres_schema_for_url_uses_the_urls_names_and_id_kind() -> None:
    """The DDL for a URL naming a schema and database ids creates that schema, bigint ids."""
    text = PostgresStore.schema_for_url(
        "postgresql://db/app?schema=jobs&archived_job_table=done.archive&job_ids=database"
    )
    assert 'CREATE SCHEMA IF NOT EXISTS "jobs";' in text
    assert 'CREATE SCHEMA IF NOT EXISTS "done";' in text
    assert 'CREATE TABLE IF NOT EXISTS "jobs"."job" (' in text
    assert 'CREATE TABLE IF NOT EXISTS "done"."archive" (' in text
    assert "GENERATED BY DEFAULT AS IDENTITY" in text
    assert "proletarian.job" not in text


def test_postgres_schema_for_a_plain_url_is_the_file_as_shipped() -> None:
    """Without options the DDL is the packaged tables.sql, comments and all."""
    text = PostgresStore.schema_for_url("postgresql://db/app?sslmode=require")
    assert text.startswith("-- proletarian: the PostgreSQL tables")
    assert "CREATE TABLE IF NOT EXISTS proletarian.job (" in text


# -- MySQL --------------------------------------------------------------------------------------


def test_mysql_url_options_split_between_pymysql_and_the_store() -> None:
    """Connection options go to pymysql; the store's options come back apart, converted."""
    kwargs, options = connection_kwargs(
        "mysql://root:pw@db:3307/app?connect_timeout=3&job_table=jobs&pool_size=4"
        "&crash_delay=2.5&job_ids=uuid7",
        MYSQL_OPTIONS,
    )
    assert kwargs == {
        "host": "db",
        "port": 3307,
        "user": "root",
        "password": "pw",
        "database": "app",
        "connect_timeout": 3.0,
    }
    assert options["job_table"] == "jobs"
    assert options["pool_size"] == 4
    assert options["crash_delay"] == timedelta(seconds=2.5)
    assert isinstance(options["job_ids"], Uuid7Ids)


def test_an_unknown_mysql_option_lists_what_mysql_urls_take() -> None:
    """The error names the option and lists both pymysql's options and the store's."""
    with pytest.raises(ConfigurationError) as raised:
        MySQLStore.connect(f"mysql://root@{NOWHERE}/app?prefix=x")
    message = str(raised.value)
    assert "MySQL URL option 'prefix' is not supported" in message
    assert "connect_timeout" in message
    assert "job_table" in message


def test_mysql_schema_for_url_uses_the_urls_tables() -> None:
    """The DDL for a URL naming tables creates those tables."""
    text = MySQLStore.schema_for_url("mysql://root@db/app?job_table=jobs&archived_job_table=done")
    assert "CREATE TABLE IF NOT EXISTS `jobs`" in text
    assert "CREATE TABLE IF NOT EXISTS `done`" in text
    assert "`proletarian_job`" not in text


# -- SQLite -------------------------------------------------------------------------------------


def test_sqlite_url_options_reach_the_store_without_creating_the_file(tmp_path: Path) -> None:
    """Table names and durations from the query reach the store; nothing is opened yet."""
    path = tmp_path / "jobs.db"
    store = SQLiteStore.connect(
        f"sqlite:///{path}?job_table=jobs&archived_job_table=done&lease=7&busy_timeout=1"
    )
    assert store.lease == timedelta(seconds=7)
    assert 'CREATE TABLE IF NOT EXISTS "jobs"' in SQLiteStore.schema_for_url(
        f"sqlite:///{path}?job_table=jobs"
    )
    assert not path.exists()


def test_an_unknown_sqlite_option_lists_the_stores_options() -> None:
    """The error names the option and every option a SQLite URL takes."""
    with pytest.raises(ConfigurationError, match="'prefix' is not supported; expected one of "):
        SQLiteStore.connect("sqlite:///jobs.db?prefix=x")


# -- Redis --------------------------------------------------------------------------------------


def test_redis_url_options_reach_the_store_and_redis_py_gets_the_rest() -> None:
    """prefix, lease and archive_retention go to the store; redis-py keeps its own options.
    Building the store connects to nothing."""
    store = RedisStore.connect(
        f"redis://:pw@{NOWHERE}/7?prefix=myapp&lease=5&archive_retention=none&client_name=w"
    )
    try:
        assert (store.prefix, store.lease, store.archive_retention) == (
            "myapp",
            timedelta(seconds=5),
            None,
        )
        assert store.client.connection_pool.connection_kwargs["client_name"] == "w"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query_text", "fragment"),
    [
        ("pefix=myapp", "Redis URL option 'pefix' is not supported; expected a redis-py"),
        ("archive_retention=lots", "archive_retention='lots' is not valid"),
        ("prefix=has%20space", "prefix 'has space' is not valid"),
    ],
)
def test_bad_redis_url_options_are_one_error_not_a_traceback_later(
    query_text: str, fragment: str
) -> None:
    """A name neither the store nor redis-py takes is refused when the store is built, instead
    of a TypeError from deep inside redis-py at the first command."""
    with pytest.raises(ConfigurationError) as raised:
        RedisStore.connect(f"redis://:secret@{NOWHERE}/7?{query_text}")
    assert fragment in str(raised.value)
    assert "secret" not in str(raised.value)


# -- memory and open_store ----------------------------------------------------------------------


def test_memory_url_options() -> None:
    """memory:// reads a lease from its query and refuses other names."""
    store = MemoryStore.connect("memory://?lease=2")
    assert store.lease == timedelta(seconds=2)
    with pytest.raises(ConfigurationError, match="memory URL option 'prefix' is not supported"):
        MemoryStore.connect("memory://?prefix=x")
    with pytest.raises(ConfigurationError, match="lease must be a positive timedelta"):
        MemoryStore.connect("memory://?lease=0")


def test_open_store_keywords_win_over_the_url(tmp_path: Path) -> None:
    """A keyword argument given to open_store wins over the same option in the URL."""
    store: Any = open_store(f"sqlite:///{tmp_path / 'j.db'}?lease=7", lease=timedelta(seconds=9))
    assert store.lease == timedelta(seconds=9)


@pytest.mark.parametrize("url", ["memory://?lease=1", f"redis://{NOWHERE}/0?prefix=x"])
def test_stores_without_tables_have_no_schema(url: str) -> None:
    """schema_for_url has nothing to give for memory and Redis stores."""
    assert schema_for_url(url) is None


def test_earlier_spellings_still_work_and_warn(tmp_path: Path) -> None:
    """SQLiteStore.from_url, MySQLStore.schema() and MySQLStore(connect=...) work as before and
    warn that they are deprecated, naming the spelling to use."""
    with pytest.warns(DeprecationWarning, match="SQLiteStore.connect"):
        store = SQLiteStore.from_url(f"sqlite:///{tmp_path}/jobs.db")
    assert store.path.endswith("jobs.db")
    with pytest.warns(DeprecationWarning, match=r"connection=\.\.\."):
        mysql = MySQLStore(connect={"host": "127.0.0.1"})
    with pytest.warns(DeprecationWarning, match=r"schema_sql\(\)"):
        assert mysql.schema() == mysql.schema_sql()
