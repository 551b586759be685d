"""What `prune_archive` may delete: the one check of its arguments, which every store calls
before touching storage."""

from __future__ import annotations

from datetime import datetime, timedelta

from proletarian.core.errors import ConfigurationError


def prune_cutoff(older_than: timedelta, now: datetime) -> datetime:
    """The time before which archived jobs finished to be pruned. ConfigurationError for an
    `older_than` that is not a timedelta, is negative (its cutoff would be in the future, and
    every archived job older than that), or reaches before year 1."""
    if not isinstance(older_than, timedelta):
        raise ConfigurationError(f"older_than must be a timedelta, got {type(older_than).__name__}")
    if older_than < timedelta(0):
        raise ConfigurationError(
            f"older_than must be 0 or more, got {older_than}: a negative age would prune "
            "every archived job"
        )
    try:
        return now - older_than
    except OverflowError:
        raise ConfigurationError(
            f"older_than {older_than} reaches before the year 1; no job finished that long ago"
        ) from None


def prune_limit(limit: int | None) -> int | None:
    """How many archived jobs to prune at most: None for all, else a positive int."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigurationError(f"limit must be a positive int or None, got {limit!r}")
    return limit
