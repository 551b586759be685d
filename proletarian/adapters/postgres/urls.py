"""The store options a postgresql:// URL carries in its query beside libpq's parameters:
`postgresql://app@db/app?schema=jobs&lease=60&sslmode=require`."""

from __future__ import annotations

import functools
from typing import Any

from psycopg import pq

from proletarian.adapters import url_options as read
from proletarian.core.errors import ConfigurationError
from proletarian.core.urls import query, with_query

# PostgresStore.connect's pool settings, when neither its keywords nor the URL give them.
POOL_DEFAULTS: dict[str, Any] = {
    "min_size": 1,
    "max_size": 10,
    "timeout": 5.0,
    "reconnect_timeout": 30.0,
}

# PostgresStore's keyword arguments (and connect's pool settings) by their URL names. None of
# them is a libpq parameter (a test checks), so each name in a query means one thing.
STORE_OPTIONS = read.UrlOptions(
    "PostgreSQL",
    {
        "schema": read.text,
        "job_table": read.text,
        "archived_job_table": read.text,
        "channel": read.text,
        "server_prepared": read.boolean,
        "lease": read.or_none(read.seconds),
        "read_timeout": read.or_none(read.number),
        "job_ids": read.job_ids,
        "min_size": read.whole,
        "max_size": read.whole,
        "timeout": read.number,
        "reconnect_timeout": read.number,
    },
    passed_on="a libpq connection parameter (sslmode, application_name, ...)",
)


@functools.cache
def libpq_parameters() -> frozenset[str]:
    """The connection parameters of the libpq psycopg runs on, as it lists them."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """The conninfo for libpq (`url` without the store's options) and the store's options,
    read. A libpq key=value string ("host=db dbname=app") carries no store options: give them
    as keyword arguments. ConfigurationError for a name that is neither a store option nor a
    libpq parameter, and for a value that can't be read."""
    if "://" not in url:
        return url, {}
    options, _ = STORE_OPTIONS.read(query(url), driver=libpq_parameters().__contains__)
    return with_query(url, drop=options), options


def pool_settings(given: dict[str, Any], from_url: dict[str, Any]) -> dict[str, Any]:
    """connect's pool settings: each keyword given (not None), else the URL's, else the
    default; checked here so a bad one is a ConfigurationError naming it, not psycopg_pool's
    ValueError."""
    settings = {
        name: given[name] if given.get(name) is not None else from_url.get(name, default)
        for name, default in POOL_DEFAULTS.items()
    }
    for name in ("min_size", "max_size"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be an int >= 0, got {value!r}")
    if settings["max_size"] < max(settings["min_size"], 1):
        raise ConfigurationError(
            f"max_size must be at least min_size and 1, got max_size={settings['max_size']!r} "
            f"with min_size={settings['min_size']!r}"
        )
    for name in ("timeout", "reconnect_timeout"):
        value = settings[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return settings
