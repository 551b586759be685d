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
    "job_timed_out": logging.ERROR,
    "cut_job_returned": logging.WARNING,
    "worker_thread_replaced": logging.WARNING,
    "outcome_refused": logging.ERROR,
    "shutdown_released": logging.WARNING,
    "claim_lost": logging.ERROR,
    "store_unavailable": logging.ERROR,
    "listener_lost": logging.WARNING,
    "on_failed_error": logging.ERROR,
    "worker_error": logging.ERROR,
    "shutdown_stragglers": logging.WARNING,
}


def logging_events(event: str, data: Mapping[str, Any]) -> None:
    """Log `event` at a level that fits it, with `data` as key=value pairs and as `extra`.
    The message is one line whatever the values hold (see `_value`)."""
    level = _LEVELS.get(event, logging.INFO)
    if logger.isEnabledFor(level):
        details = " ".join(
            f"{key}={_value(value)}" for key, value in data.items() if key != "traceback"
        )
        logger.log(level, "%s %s", event, details, extra={"event": event, "data": dict(data)})


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_QUOTED = frozenset(' ="\\')


def _value(value: Any) -> str:
    """A value as it appears after `key=`: bare when it is plain, else in double quotes with
    backslash escapes, so a job type or an error message holding a newline (or a space, an
    '=', a quote) can't forge a line or a pair. Non-printable characters (controls, line
    separators, lone surrogates) are written as \\xNN, \\uNNNN or \\UNNNNNNNN."""
    text = str(value)
    if text and text.isprintable() and _QUOTED.isdisjoint(text):
        return text
    return '"' + "".join(_escape(char) for char in text) + '"'


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return char if char.isprintable() else ascii(char)[1:-1]


def guarded(sink: EventLog) -> EventLog:
    """Wrap a user's sink so its exceptions are logged instead of breaking a job's outcome."""

    def log(event: str, data: Mapping[str, Any]) -> None:
        try:
            sink(event, data)
        except Exception:
            logger.exception("event sink %r failed on %s", sink, event)

    return log
