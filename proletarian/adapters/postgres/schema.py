"""The store's names (schema, tables, notification channel) and its DDL with those names in.

The DDL is the packaged copy of database/postgresql/tables.sql (or tables_bigint_ids.sql), the
one source of truth. Its default names are swapped for the store's as quoted identifiers, so no
name ever reaches SQL unvalidated or unquoted.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import attrs
from psycopg import sql

from proletarian.core.errors import ConfigurationError
from proletarian.core.names import table_name

DDL_FILE = "postgresql.sql"
DDL_FILE_BIGINT_IDS = "postgresql_bigint_ids.sql"
DEFAULT_SCHEMA = "proletarian"
DEFAULT_JOB_TABLE = "job"
DEFAULT_ARCHIVED_JOB_TABLE = "archived_job"
MAX_CHANNEL_BYTES = 63  # NAMEDATALEN - 1: LISTEN would truncate a longer name, pg_notify refuse it

# The names the DDL file is written with. Index names start with their table's name; the worker
# registry's table is the job table's name with "_worker" after it, the unique keys' table with
# "_key", both in the job table's schema.
_FILE_NAMES = re.compile(
    r"\bproletarian\.(archived_job|job(?:_worker|_key)?)\b|\b(archived_job|job)(_\w+_idx)\b"
)
KEY_SUFFIX = "_key"
MAX_IDENTIFIER_BYTES = 63
_CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS proletarian"


@attrs.frozen(kw_only=True)
class Names:
    """Validated names: each table as (schema, table), and the NOTIFY channel."""

    job: tuple[str, str]
    archived_job: tuple[str, str]
    channel: str

    @classmethod
    def of(
        cls, *, schema: str, job_table: str, archived_job_table: str, channel: str | None
    ) -> Names:
        """Tables may be schema-qualified ("app.jobs"); unqualified ones go into `schema`.
        The channel defaults to the job table's qualified name, so stores over other tables in
        the same database do not wake each other's workers."""
        (schema,) = _one_part(schema)
        job = _qualified(job_table, schema, "job_table")
        archived = _qualified(archived_job_table, schema, "archived_job_table")
        if job == archived:
            raise ConfigurationError(f"job_table and archived_job_table are both {'.'.join(job)}")
        if len((job[1] + KEY_SUFFIX).encode()) > MAX_IDENTIFIER_BYTES:
            raise ConfigurationError(
                f"job_table {job[1]!r} is too long: the unique keys' table is named after it "
                f"with {KEY_SUFFIX!r}, and must fit in {MAX_IDENTIFIER_BYTES} bytes"
            )
        if channel is None:
            channel = ".".join(job)
            if len(channel.encode()) > MAX_CHANNEL_BYTES:
                raise ConfigurationError(
                    f"the default notification channel {channel!r} (the job table's name) is "
                    f"over {MAX_CHANNEL_BYTES} bytes; pass a shorter channel="
                )
        elif not isinstance(channel, str) or not 0 < len(channel.encode()) <= MAX_CHANNEL_BYTES:
            raise ConfigurationError(
                f"channel must be a string of 1 to {MAX_CHANNEL_BYTES} bytes, got {channel!r}"
            )
        return cls(job=job, archived_job=archived, channel=channel)

    @property
    def key(self) -> tuple[str, str]:
        """The unique keys' table: the job table's name with `_key`, in its schema."""
        return (self.job[0], self.job[1] + KEY_SUFFIX)

    @property
    def worker(self) -> tuple[str, str]:
        """The worker registry's table: named after the job table, beside it."""
        return (self.job[0], f"{self.job[1]}_worker")

    @property
    def schemas(self) -> list[str]:
        return list(dict.fromkeys((self.job[0], self.archived_job[0])))


def _one_part(value: str) -> tuple[str]:
    parts = table_name(value, what="schema name")
    if len(parts) != 1:
        raise ConfigurationError(f"schema name {value!r} must not contain a dot")
    return (parts[0],)


def _qualified(value: str, schema: str, what: str) -> tuple[str, str]:
    parts = table_name(value, what=what)
    return (parts[0], parts[1]) if len(parts) == 2 else (schema, parts[0])


@functools.cache
def ddl_text(*, bigint_ids: bool) -> str:
    """The packaged DDL file, exactly as shipped."""
    name = DDL_FILE_BIGINT_IDS if bigint_ids else DDL_FILE
    return resources.files("proletarian").joinpath("schema", name).read_text(encoding="utf-8")


def ddl_statements(names: Names, *, bigint_ids: bool) -> list[sql.Composed]:
    """The DDL file's statements, comments dropped, with the store's names as identifiers."""
    text = "\n".join(
        line.split("--", 1)[0].rstrip() for line in ddl_text(bigint_ids=bigint_ids).splitlines()
    )
    statements: list[sql.Composed] = []
    for statement in (s.strip() for s in text.split(";")):
        if not statement:
            continue
        if statement == _CREATE_SCHEMA:
            statements.extend(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                for schema in names.schemas
            )
        else:
            statements.append(_with_names(statement, names))
    return statements


def ddl_script(names: Names, *, bigint_ids: bool) -> str:
    """The DDL file with its comments, the store's names quoted in where the file has its
    own: the statements of `ddl_statements`, as text to read or to copy into a migration. With
    the default names, the file exactly as shipped."""
    if names == _default_names():
        return ddl_text(bigint_ids=bigint_ids)
    schemas = ";\n".join(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)).as_string()
        for schema in names.schemas
    )
    text = ddl_text(bigint_ids=bigint_ids).replace(_CREATE_SCHEMA, schemas)

    def rename(match: re.Match[str]) -> str:
        table, index_table, suffix = match.groups()
        if table is not None:
            return sql.Identifier(*_table(names, table)).as_string()
        return sql.Identifier(_table(names, index_table)[1] + suffix).as_string()

    return _FILE_NAMES.sub(rename, text)


@functools.cache
def _default_names() -> Names:
    return Names.of(
        schema=DEFAULT_SCHEMA,
        job_table=DEFAULT_JOB_TABLE,
        archived_job_table=DEFAULT_ARCHIVED_JOB_TABLE,
        channel=None,
    )


def _with_names(statement: str, names: Names) -> sql.Composed:
    pieces: list[sql.Composable] = []
    position = 0
    for match in _FILE_NAMES.finditer(statement):
        pieces.append(sql.SQL(statement[position : match.start()]))
        table, index_table, suffix = match.groups()
        if table is not None:
            pieces.append(sql.Identifier(*_table(names, table)))
        else:
            pieces.append(sql.Identifier(_table(names, index_table)[1] + suffix))
        position = match.end()
    pieces.append(sql.SQL(statement[position:]))
    return sql.Composed(pieces)


def _table(names: Names, file_name: str) -> tuple[str, str]:
    if file_name == "job_key":
        return names.key
    if file_name == "job_worker":
        return names.worker
    return names.job if file_name == "job" else names.archived_job
