"""Store URLs: which kind of store a URL names, and a form of it that is safe to show."""

from __future__ import annotations

import re
from urllib.parse import unquote

from proletarian.core.errors import ConfigurationError

SCHEMES = {
    "memory": "memory",
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
}


# A password can also ride in a URL's query (libpq and redis-py read `?password=`) and in a
# libpq conninfo string (`host=db password='x y'`).
_QUERY_PASSWORD = re.compile(r"[?&]password=([^&#]*)", re.IGNORECASE)
_CONNINFO_PASSWORD = re.compile(r"\bpassword\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s']*)", re.IGNORECASE)


def _password_spans(url: str) -> list[tuple[int, int]]:
    """Where in `url` (or conninfo) passwords sit, as (start, end) offsets. Found by reading the
    text, not by a URL parser, so a URL no parser accepts is covered too: the authority ends at
    the first / ? or #, as urlsplit has it, and the password is between its first : and last @."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return [found.span(1) for found in _CONNINFO_PASSWORD.finditer(url)]
    start = len(scheme) + len(sep)
    end = next((start + i for i, char in enumerate(rest) if char in "/?#"), len(url))
    spans: list[tuple[int, int]] = []
    userinfo, at, _ = url[start:end].rpartition("@")
    if at and ":" in userinfo:
        colon = start + userinfo.index(":") + 1
        spans.append((colon, start + len(userinfo)))
    spans.extend(found.span(1) for found in _QUERY_PASSWORD.finditer(url, end))
    return spans


def redact(url: str) -> str:
    """The URL (or libpq conninfo) with every password replaced by ***, for logs, events and
    error messages; the rest is kept to be read. Works on URLs no parser accepts."""
    for start, end in reversed(_password_spans(url)):
        url = f"{url[:start]}***{url[end:]}"
    return url


def scrub(text: str, url: str | None) -> str:
    """`text` (a driver's message, say) with `url` shown redacted and its passwords, as written
    or decoded, replaced by *** wherever they appear."""
    if not url:
        return text
    text = text.replace(url, redact(url))
    passwords: set[str] = set()
    for start, end in _password_spans(url):
        password = url[start:end]
        if password.startswith("'"):  # a quoted conninfo value, as libpq reads it
            password = re.sub(r"\\(.)", r"\1", password.strip("'"))
        passwords.update((password, unquote(password)))
    for secret in sorted(passwords - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def kind_of(url: str) -> str:
    """memory, sqlite, postgres, mysql or redis; ConfigurationError for anything else."""
    if not isinstance(url, str) or "://" not in url:
        # Not echoed: without a scheme we cannot tell where a password would sit.
        raise ConfigurationError(
            "store URL has no scheme; expected one of "
            "postgresql://, mysql://, sqlite:///path, redis://, memory://"
        )
    scheme = url.split("://", 1)[0].lower()
    try:
        return SCHEMES[scheme]
    except KeyError:
        raise ConfigurationError(
            f"store URL scheme {scheme!r} is not supported; expected one of "
            f"{', '.join(sorted(SCHEMES))}"
        ) from None
