"""Unique jobs: the rules every store applies to a job's `unique_key`, in one place.

A key is held by the job that last took it while that job is queued (scheduled, ready or
running), and for its `unique_for` after it was archived as succeeded or failed. A cancelled job
is gone from the store, so its key is free at once. Enqueueing a held key writes nothing and
returns the holder's id (`JobId.created` False). The stores enforce this with the database (a
key table with the key as its primary key, or one Lua script), never by a read then a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from proletarian.core import names
from proletarian.core.job import NewJob


def first_of_each_key(jobs: Sequence[NewJob]) -> list[int]:
    """For each job of one `enqueue_many`, the index of the job that will stand for it: itself,
    unless an earlier job of the same call has its unique key, which then stands for it (the
    later one is not written, and its id is the earlier one's)."""
    first: dict[str, int] = {}
    result: list[int] = []
    for index, job in enumerate(jobs):
        if job.unique_key is None:
            result.append(index)
        else:
            result.append(first.setdefault(job.unique_key, index))
    return result


def is_free(
    *, queued: bool, finished_at: datetime | None, unique_for: timedelta, now: datetime
) -> bool:
    """Whether the job that last took a key has let it go: it is not queued, and it is either
    gone from the store or archived at least `unique_for` before `now`."""
    if queued:
        return False
    return finished_at is None or finished_at <= now - unique_for


def microseconds(value: timedelta) -> int:
    """`unique_for` as the stores keep it: whole microseconds."""
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def key_prefix(prefix: str) -> str:
    """Check the prefix given to `latest_unique_key`: text any store can hold (may be empty)."""
    return names.text(prefix, what="unique key prefix")


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (for a range scan on
    a key index), or None when there is none (every character of `prefix` is the greatest)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    last = ord(stripped[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # skip the surrogates, which no store holds
        last = 0xE000
    return stripped[:-1] + chr(last)
