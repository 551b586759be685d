"""The application's handler module of the FastAPI page."""

from __future__ import annotations

from typing import Any


def handle_job(job_type: str, payload: Any) -> None:
    """Succeeds."""
