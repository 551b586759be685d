"""The default event sink: the standard logging module, logger "proletarian"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from proletarian.ports.events import EventLog

logger = logging.getLogger("proletarian")

_LEVELS = {
    "job_claimed": logging.DEBUG,
    "job_succeeded": logging.INFO,
    "job_retry_scheduled": logging.WARNING,
    "job_failed": logging.ERROR,
    "job_abandoned": logging.ERROR,
    "claim_lost": logging.ERROR,
    "store_unavailable": logging.ERROR,
    "listener_lost": logging.WARNING,
    "on_failed_error": logging.ERROR,
    "worker_error": logging.ERROR,
    "shutdown_stragglers": logging.WARNING,
}


def logging_events(event: str, data: Mapping[str, Any]) -> None:
    """Log `event` at a level that fits it, with `data` as key=value pairs and as `extra`."""
    level = _LEVELS.get(event, logging.INFO)
    if logger.isEnabledFor(level):
        details = " ".join(f"{key}={value}" for key, value in data.items() if key != "traceback")
        logger.log(level, "%s %s", event, details, extra={"event": event, "data": dict(data)})


def guarded(sink: EventLog) -> EventLog:
    """Wrap a user's sink so its exceptions are logged instead of breaking a job's outcome."""

    def log(event: str, data: Mapping[str, Any]) -> None:
        try:
            sink(event, data)
        except Exception:
            logger.exception("event sink %r failed on %s", sink, event)

    return log
