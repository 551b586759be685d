"""Store URLs: which kind of store a URL names, a form of it that is safe to show, and the
name=value pairs of its query, where store options ride."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

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


def query(url: str) -> list[tuple[str, str]]:
    """The URL's query as decoded (name, value) pairs, in order, blank values kept. Read from
    the text between the first `?` and a `#`, so a URL that no parser accepts still has one."""
    return parse_qsl(_parts(url)[1], keep_blank_values=True)


def with_query(url: str, *, drop: Collection[str] = (), add: Sequence[tuple[str, str]] = ()) -> str:
    """`url` without the query pairs named in `drop`, and with `add` appended (each value
    replacing any the URL had for that name). Every other character stays as written, so a
    password or a pair the caller did not name is never re-encoded."""
    gone = {*drop, *(name for name, _ in add)}
    head, text, fragment = _parts(url)
    pairs = [pair for pair in text.split("&") if pair and _name(pair) not in gone]
    pairs += [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in add]
    return head + (f"?{'&'.join(pairs)}" if pairs else "") + fragment


def _name(pair: str) -> str:
    return unquote_plus(pair.partition("=")[0])


def _parts(url: str) -> tuple[str, str, str]:
    """What comes before the query, the query (without its `?`), and the fragment (with its
    `#`), split as urlsplit splits them: a `#` ends the query."""
    before, hash_, fragment = url.partition("#")
    head, _, text = before.partition("?")
    return head, text, hash_ + fragment
