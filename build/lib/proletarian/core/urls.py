"""Store URLs: which kind of store a URL names, and a form of it that is safe to show."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for logs, events and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


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
