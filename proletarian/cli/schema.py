"""`proletarian schema print|apply`: the DDL a URL's kind of store needs."""

from __future__ import annotations

import argparse
from importlib import resources

from proletarian.cli.errors import OK, CliError
from proletarian.cli.session import driver_for, opened, store_url
from proletarian.core.urls import kind_of, query, redact
from proletarian.stores import schema_for_url

# The DDL of each SQL store ships as proletarian/schema/<file>; the same text as
# database/<dialect>/tables.sql, which users copy into their migrations.
DDL_FILES = {"postgres": "postgresql.sql", "mysql": "mysql.sql", "sqlite": "sqlite.sql"}


def ddl(kind: str) -> str | None:
    """The packaged DDL for a store kind, or None for stores without a schema (memory, redis).
    CliError if the file is missing from this installation."""
    name = DDL_FILES.get(kind)
    if name is None:
        return None
    resource = resources.files("proletarian").joinpath("schema", name)
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(
            f"the {kind} DDL (proletarian/schema/{name}) is missing from this installation"
        ) from None


def print_schema(args: argparse.Namespace) -> int:
    """Print the DDL without connecting: the URL's scheme, and the table names and id kind its
    options give, are all that matter."""
    url = store_url(args)
    kind = kind_of(url)
    # A URL without options gets the default names, whose DDL is the packaged file as it is:
    # printed without the store's driver. Otherwise the store renders it with its names.
    if not query(url):
        text = ddl(kind)
    else:
        with driver_for(url):
            text = schema_for_url(url)
    if text is None:
        print(f"-- {kind} stores have no schema: nothing to create")
    else:
        print(text.rstrip("\n"))
    return OK


def apply_schema(args: argparse.Namespace) -> int:
    """Create the store's tables if missing (idempotent)."""
    url = store_url(args)
    with opened(url) as store:
        store.install_schema()
    kind = kind_of(url)
    if kind in DDL_FILES:
        print(f"schema installed on {redact(url)}")
    else:
        print(f"{kind} stores have no schema; {redact(url)} is ready")
    return OK
