"""The job-ID strategy port."""

from __future__ import annotations

from typing import Protocol


class JobIdStrategy(Protocol):
    """Makes the id of each job a store enqueues (`job_ids=` of every store)."""

    def new_id(self) -> str | None:
        """A fresh id for a job about to be enqueued, or None to let the database assign one
        (the store then returns the generated id). Safe to call from several threads."""
