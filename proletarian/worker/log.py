"""The default event sink, and two log formats a person and a log pipeline can both read.

`logging_events(event, data)` logs every event to the standard logger "proletarian", at a level
that fits it, with the event's name and data on the record (`record.event`, `record.data`, the
values as they were) and a one-line message `name key=value ...` for formats of your own.

`LogfmtFormatter` and `JsonFormatter` write any record as one line: `ts`, `level`, then `event`
and the event's fields, or `logger` and `msg` for records that are not events. The fields are
the same in both: durations in milliseconds (`duration` and `retry_in`, seconds in the data, are
written as `duration_ms` and `retry_in_ms`), the traceback of a failed attempt last, fields
whose value is None left out. Lists are comma-separated in logfmt and arrays in JSON.

With no logging configured at all (no handler on "proletarian" or any of its ancestors), the
records Python's last-resort handler would print (WARNING and above) are written to stderr in
logfmt, with their time and level, instead of as a bare message.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
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
    "worker_registered": logging.DEBUG,
    "worker_heartbeat_failed": logging.WARNING,
    "schedule_tick_taken": logging.DEBUG,
    "scheduler_error": logging.ERROR,
}

# Event fields holding seconds, and the name each is written under, in milliseconds.
_MILLISECONDS = {"duration": "duration_ms", "retry_in": "retry_in_ms"}
# The names a line starts with; an event field of the same name is written as data_<name>.
_RESERVED = frozenset({"ts", "level", "event", "logger", "msg"})


def logging_events(event: str, data: Mapping[str, Any]) -> None:
    """Log `event` at a level that fits it, with `data` as `extra` and as key=value pairs in
    the message (durations in milliseconds, the traceback last, all on one line)."""
    level = _LEVELS.get(event, logging.INFO)
    if logger.isEnabledFor(level):
        message = " ".join([event, *(f"{key}={_logfmt(value)}" for key, value in _fields(data))])
        _log(level, "%s", message, extra={"event": event, "data": dict(data)})


def guarded(sink: EventLog) -> EventLog:
    """Wrap a user's sink so its exceptions are logged instead of breaking a job's outcome."""

    def log(event: str, data: Mapping[str, Any]) -> None:
        try:
            sink(event, data)
        except Exception:
            _log(logging.ERROR, "event sink %r failed on %s", sink, event, exc_info=True)

    return log


class _LineFormatter(logging.Formatter):
    """The fields of one line, shared by both formats. The arguments of logging.Formatter are
    accepted (so `dictConfig` can build one from its `class` key) and have no effect: the
    format is fixed."""

    def _line(self, record: logging.LogRecord) -> list[tuple[str, Any]]:
        line: list[tuple[str, Any]] = [
            ("ts", _timestamp(record.created)),
            ("level", record.levelname.lower()),
        ]
        event, data = getattr(record, "event", None), getattr(record, "data", None)
        if isinstance(event, str) and isinstance(data, Mapping):
            line.append(("event", event))
            line.extend(
                (f"data_{key}" if key in _RESERVED else key, value) for key, value in _fields(data)
            )
        else:
            line.extend([("logger", record.name), ("msg", record.getMessage())])
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text and all(key != "traceback" for key, _ in line):
            line.append(("traceback", record.exc_text))
        if record.stack_info:
            line.append(("stack", record.stack_info))
        return line


class LogfmtFormatter(_LineFormatter):
    """Writes a record as one line of logfmt:

        ts=2030-01-01T09:30:00.123Z level=info event=job_succeeded queue=emails job_id=0190...
        job_type=send-email attempt=1 worker_id=web-1:4242:a1b2:0 duration_ms=12.5

    A value is written bare when it is plain, else in double quotes with backslash escapes, so
    a value holding a space, '=', a quote or a newline (a job type, an error message, a
    traceback) can neither split the line nor forge a pair. Lists are joined with commas (an
    element holding a comma is not told apart: use JSON where that matters). A traceback stays
    on the line, as an escaped value, so line-oriented collectors keep it with its event."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt(value)}" for key, value in self._line(record))


class JsonFormatter(_LineFormatter):
    """Writes a record as one JSON object on one line, with the fields of `LogfmtFormatter`:

        {"ts": "2030-01-01T09:30:00.123Z", "level": "info", "event": "job_succeeded",
         "queue": "emails", ..., "duration_ms": 12.5}

    Lists are arrays, numbers are numbers, and the text is ASCII (other characters as \\u
    escapes), so no value can break the line or its encoding."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({key: _json(value) for key, value in self._line(record)})


def _fields(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The event's fields as they are written: seconds as milliseconds, no None values, the
    traceback last."""
    fields: list[tuple[str, Any]] = []
    traceback = None
    for key, value in data.items():
        if value is None:
            continue
        if key == "traceback":
            traceback = value
        elif key in _MILLISECONDS and _is_number(value):
            fields.append((_MILLISECONDS[key], round(value * 1000, 3)))
        else:
            fields.append((key, value))
    if traceback:
        fields.append(("traceback", str(traceback).rstrip("\n")))
    return fields


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp(created: float) -> str:
    """The record's time in UTC, ISO 8601 to the millisecond: 2030-01-01T09:30:00.123Z."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_QUOTED = frozenset(' ="\\')


def _logfmt(value: Any) -> str:
    """A value as it appears after `key=`: bare when it is plain, else in double quotes with
    backslash escapes, so a job type or an error message holding a newline (or a space, an
    '=', a quote) can't forge a line or a pair. Non-printable characters (controls, line
    separators, lone surrogates) are written as \\xNN, \\uNNNN or \\UNNNNNNNN."""
    text = _text(value)
    if text and text.isprintable() and _QUOTED.isdisjoint(text):
        return text
    return '"' + "".join(_escape(char) for char in text) + '"'


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _decimal(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_text(item) for item in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _decimal(value: float) -> str:
    """A float in positional notation, as short as repr: 0.000051, never 5.1e-05."""
    if not math.isfinite(value):
        return str(value)
    return format(Decimal(repr(value)), "f")


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` safe to write to a terminal: controls (an escape sequence could recolour or
    rewrite the screen), line separators and lone surrogates written as in `_logfmt`; newlines
    kept when `newlines` (a traceback), else escaped too (a table cell)."""
    return "".join(
        char if char.isprintable() or (newlines and char == "\n") else _escape(char)
        for char in text
    )


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return char if char.isprintable() else ascii(char)[1:-1]


def _json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or Infinity
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Stderr(logging.Handler):
    """Writes to whatever sys.stderr is at the time, as Python's last-resort handler does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


_LAST_RESORT = _Stderr()
_LAST_RESORT.setFormatter(LogfmtFormatter())


def _log(
    level: int,
    msg: str,
    *args: Any,
    exc_info: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """logger.log, except that when no handler would receive the record, a record that
    Python's last resort would print bare is written in logfmt, with its time and level."""
    if logger.hasHandlers():
        logger.log(level, msg, *args, exc_info=exc_info, extra=extra)
        return
    resort = logging.lastResort
    if resort is None or level < resort.level or not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(
        logger.name,
        level,
        "(proletarian)",
        0,
        msg,
        args,
        sys.exc_info() if exc_info else None,
        extra=extra,
    )
    if not logger.disabled and logger.filter(record):
        _LAST_RESORT.handle(record)
