"""The worker's log lines in logfmt and in JSON: one line per record, with its time and level,
durations in milliseconds, lists as lists, and a failed attempt's traceback on the line."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import proletarian
from proletarian import JsonFormatter, LogfmtFormatter, QueueWorker
from proletarian.adapters.memory import MemoryStore
from proletarian.worker.log import guarded, logging_events

# 2030-01-01T09:30:00.123Z
CREATED = datetime(2030, 1, 1, 9, 30, 0, 123000, tzinfo=UTC).timestamp()
TS = "2030-01-01T09:30:00.123Z"
TRACEBACK = (
    'Traceback (most recent call last):\n  File "tasks.py", line 3, in handle\n'
    'ValueError: invoice "2024-017" has no total\n'
)


class FixedTime(logging.Filter):
    """Gives every record the same time, so lines can be compared whole."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = CREATED
        return True


class Lines(logging.Handler):
    """Keeps each formatted line."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.addFilter(FixedTime())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def emit(handler: Lines, event: str, data: dict[str, Any]) -> list[str]:
    logging_events(event, data)
    return handler.lines


JOB = {
    "queue": "emails",
    "job_id": "01a2293e-527c-7ab2-a5a1-db46718fa70d",
    "job_type": "send-email",
    "attempt": 1,
    "worker_id": "web-1:4242:a1b2c3:0",
}


@pytest.fixture
def logfmt() -> Iterator[Lines]:
    handler = Lines(LogfmtFormatter())
    yield from _attached(handler)


@pytest.fixture
def jsonl() -> Iterator[Lines]:
    handler = Lines(JsonFormatter())
    yield from _attached(handler)


def _attached(handler: Lines) -> Iterator[Lines]:
    logger = logging.getLogger("proletarian")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_logfmt_job_succeeded(logfmt: Lines) -> None:
    """A success: time and level first, then the event and its fields; the duration in
    milliseconds, in positional notation."""
    assert emit(logfmt, "job_succeeded", {**JOB, "duration": 5.1e-05}) == [
        f"ts={TS} level=info event=job_succeeded queue=emails "
        "job_id=01a2293e-527c-7ab2-a5a1-db46718fa70d job_type=send-email attempt=1 "
        "worker_id=web-1:4242:a1b2c3:0 duration_ms=0.051"
    ]


def test_json_job_succeeded(jsonl: Lines) -> None:
    """The same success in JSON: the same fields, numbers as numbers."""
    assert emit(jsonl, "job_succeeded", {**JOB, "duration": 5.1e-05}) == [
        f'{{"ts": "{TS}", "level": "info", "event": "job_succeeded", "queue": "emails", '
        '"job_id": "01a2293e-527c-7ab2-a5a1-db46718fa70d", "job_type": "send-email", '
        '"attempt": 1, "worker_id": "web-1:4242:a1b2c3:0", "duration_ms": 0.051}'
    ]


def test_logfmt_job_failed_carries_its_traceback(logfmt: Lines) -> None:
    """A failure: the error quoted where it must be, and the traceback last, escaped onto the
    same line (its final newline dropped)."""
    data = {
        **JOB,
        "duration": 1.5,
        "error_type": "ValueError",
        "traceback": TRACEBACK,
        "error": 'invoice "2024-017" has no total',
    }
    assert emit(logfmt, "job_failed", data) == [
        f"ts={TS} level=error event=job_failed queue=emails "
        "job_id=01a2293e-527c-7ab2-a5a1-db46718fa70d job_type=send-email attempt=1 "
        "worker_id=web-1:4242:a1b2c3:0 duration_ms=1500.0 error_type=ValueError "
        'error="invoice \\"2024-017\\" has no total" '
        'traceback="Traceback (most recent call last):\\n  File \\"tasks.py\\", line 3, in '
        'handle\\nValueError: invoice \\"2024-017\\" has no total"'
    ]


def test_json_job_failed_carries_its_traceback(jsonl: Lines) -> None:
    """The same failure in JSON: the traceback is a field, and the line parses back to it."""
    data = {**JOB, "duration": 1.5, "error_type": "ValueError", "traceback": TRACEBACK}
    (line,) = emit(jsonl, "job_failed", data)
    assert line == (
        f'{{"ts": "{TS}", "level": "error", "event": "job_failed", "queue": "emails", '
        '"job_id": "01a2293e-527c-7ab2-a5a1-db46718fa70d", "job_type": "send-email", '
        '"attempt": 1, "worker_id": "web-1:4242:a1b2c3:0", "duration_ms": 1500.0, '
        '"error_type": "ValueError", "traceback": "Traceback (most recent call last):\\n  '
        'File \\"tasks.py\\", line 3, in handle\\nValueError: invoice \\"2024-017\\" has no '
        'total"}'
    )
    assert json.loads(line)["traceback"] == TRACEBACK.rstrip("\n")


def test_lists_are_comma_separated_in_logfmt_and_arrays_in_json(
    logfmt: Lines, jsonl: Lines
) -> None:
    """worker_started's queues: a list, never a Python repr."""
    logging_events(
        "worker_started", {"worker_id": "web-1:4242:a1b2c3", "queues": ["emails", "default"],
                           "threads": 4}
    )  # fmt: skip
    assert logfmt.lines == [
        f"ts={TS} level=info event=worker_started worker_id=web-1:4242:a1b2c3 "
        "queues=emails,default threads=4"
    ]
    assert jsonl.lines == [
        f'{{"ts": "{TS}", "level": "info", "event": "worker_started", '
        '"worker_id": "web-1:4242:a1b2c3", "queues": ["emails", "default"], "threads": 4}'
    ]


def test_backoffs_are_milliseconds_too(logfmt: Lines) -> None:
    """store_unavailable's retry_in (seconds in the event) is written as retry_in_ms."""
    logging_events(
        "store_unavailable",
        {"worker_id": "w", "error": "connection refused", "retry_in": 0.05},
    )
    assert logfmt.lines == [
        f'ts={TS} level=error event=store_unavailable worker_id=w error="connection refused" '
        "retry_in_ms=50.0"
    ]


def test_odd_values(logfmt: Lines, jsonl: Lines) -> None:
    """None is left out; booleans are true/false; an empty string is quoted; a field named
    like one of the line's own keys is renamed, never overwriting it; non-ASCII stays readable
    in logfmt and is escaped in JSON."""
    logging_events(
        "custom",
        {"gone": None, "ok": True, "empty": "", "level": "x", "name": "résumé", "n": 1e-7},
    )
    assert logfmt.lines == [
        f'ts={TS} level=info event=custom ok=true empty="" data_level=x name=résumé n=0.0000001'
    ]
    assert jsonl.lines == [
        f'{{"ts": "{TS}", "level": "info", "event": "custom", "ok": true, "empty": "", '
        '"data_level": "x", "name": "r\\u00e9sum\\u00e9", "n": 1e-07}'
    ]


def test_other_records_have_logger_msg_and_traceback(logfmt: Lines, jsonl: Lines) -> None:
    """A record that is not an event (a failing event sink, reported with its exception) has
    its logger and message instead, and the exception's traceback on the same line."""

    def broken(event: str, data: Any) -> None:
        raise RuntimeError("sink down")

    guarded(broken)("job_succeeded", {})
    (line,) = logfmt.lines
    assert re.fullmatch(
        f"ts={TS} level=error logger=proletarian "
        'msg="event sink <function .*broken at 0x[0-9a-f]+> failed on job_succeeded" '
        'traceback="Traceback \\(most recent call last\\):\\\\n.*'
        'RuntimeError: sink down"',
        line,
    ), line
    record = json.loads(jsonl.lines[0])
    assert list(record) == ["ts", "level", "logger", "msg", "traceback"]
    assert record["traceback"].endswith("RuntimeError: sink down")


def test_the_message_is_one_logfmt_line_for_formats_of_your_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """record.getMessage() is `name key=value ...` in the same rendering, traceback included,
    and record.data keeps the values as they were (seconds, lists)."""
    caplog.set_level(logging.INFO, logger="proletarian")
    data = {"queues": ["a", "b"], "duration": 0.25, "traceback": "T\nE: x\n", "error": "x y"}
    logging_events("job_failed", data)
    (record,) = caplog.records
    assert record.getMessage() == (
        'job_failed queues=a,b duration_ms=250.0 error="x y" traceback="T\\nE: x"'
    )
    assert record.data == data  # type: ignore[attr-defined]
    assert record.event == "job_failed"  # type: ignore[attr-defined]


class Ids:
    """Job ids in order: job-1, job-2, ..."""

    def __init__(self) -> None:
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"job-{self.count}"


def test_a_worker_run_in_logfmt(logfmt: Lines) -> None:
    """A worker's whole run, as the lines a person reads (durations normalised: they are
    measured)."""
    store = MemoryStore(job_ids=Ids())
    proletarian.enqueue(store, "greet", {"name": "Ada"})
    proletarian.enqueue(store, "fail", None)

    def handle(job_type: str, payload: Any) -> None:
        if job_type == "fail":
            raise ValueError("no")

    with QueueWorker(store, handle, worker_id="w", queue=["default", "other"]) as worker:
        assert worker.wait_idle(timeout=10)
    registered = f"ts={TS} level=debug event=worker_registered worker_id=w heartbeat_interval=10.0"
    # The registry writes from a thread of its own: its line falls anywhere after the start.
    assert logfmt.lines.count(registered) == 1
    assert logfmt.lines.index(registered) > 0
    lines = [line for line in logfmt.lines if line != registered]
    normal = [re.sub(r"duration_ms=\d+\.\d+", "duration_ms=D", line) for line in lines]
    failed = normal[4]
    normal[4] = failed[: failed.index(" traceback=")]
    assert normal == [
        f"ts={TS} level=info event=worker_started worker_id=w queues=default,other threads=1",
        f"ts={TS} level=debug event=job_claimed queue=default job_id=job-1 job_type=greet "
        "attempt=1 worker_id=w:0",
        f"ts={TS} level=info event=job_succeeded queue=default job_id=job-1 job_type=greet "
        "attempt=1 worker_id=w:0 duration_ms=D",
        f"ts={TS} level=debug event=job_claimed queue=default job_id=job-2 job_type=fail "
        "attempt=1 worker_id=w:0",
        f"ts={TS} level=error event=job_failed queue=default job_id=job-2 job_type=fail "
        "attempt=1 worker_id=w:0 duration_ms=D error_type=ValueError error=no",
        f"ts={TS} level=info event=worker_stopping worker_id=w queues=default,other threads=1",
        f"ts={TS} level=info event=worker_stopped worker_id=w queues=default,other threads=1",
    ]
    assert failed.endswith('\\nValueError: no"')
    assert all("\n" not in line for line in logfmt.lines)


def test_with_no_logging_configured_warnings_have_their_time_and_level() -> None:
    """An embedded worker in a program that never configured logging writes its warnings and
    errors to stderr in logfmt, time and level included (Python alone would print the bare
    message), and nothing below WARNING."""
    code = (
        "import proletarian\n"
        "from proletarian.adapters.memory import MemoryStore\n"
        "store = MemoryStore()\n"
        "proletarian.enqueue(store, 'ok', None)\n"
        "proletarian.enqueue(store, 'boom', None)\n"
        "def handle(job_type, payload):\n"
        "    if job_type == 'boom':\n"
        "        raise ValueError('boom')\n"
        "proletarian.QueueWorker(store, handle, worker_id='w').drain()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = result.stderr.splitlines()
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=error event=job_failed queue=default "
        r"job_id=\S+ job_type=boom attempt=1 worker_id=w duration_ms=\d+\.\d+ "
        r'error_type=ValueError error=boom traceback="Traceback .*\\nValueError: boom"',
        line,
    ), line


def test_the_lines_shown_in_the_docs_are_the_formatters_own() -> None:
    """The example lines under "Log lines" in docs/operations.md are what the formatters write
    for those events, so the page can't drift from the format."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    worker = "web-1:4242:a1b2c3"
    started = {"worker_id": worker, "queues": ["emails", "default"], "threads": 4,
               "url": "postgresql://app:***@db.internal/app"}  # fmt: skip
    succeeded = {**JOB, "worker_id": f"{worker}:0", "duration": 0.0125}
    failed = {
        **JOB,
        "job_id": "01a2293e-5a11-7c3d-9e2f-0b1c2d3e4f50",
        "worker_id": f"{worker}:1",
        "duration": 5.1e-05,
        "error_type": "ValueError",
        "error": 'no address for "ada"',
        "traceback": 'Traceback (most recent call last):\n  File "/app/myapp/jobs.py", line 12, '
        'in send_email\n    raise ValueError(...)\nValueError: no address for "ada"\n',
    }
    shown = [
        (LogfmtFormatter(), "worker_started", logging.INFO, "00.123", started),
        (LogfmtFormatter(), "job_succeeded", logging.INFO, "01.441", succeeded),
        (LogfmtFormatter(), "job_failed", logging.ERROR, "02.017", failed),
        (JsonFormatter(), "job_succeeded", logging.INFO, "01.441", succeeded),
    ]
    for formatter, event, level, seconds, data in shown:
        record = logging.makeLogRecord(
            {
                "name": "proletarian",
                "levelno": level,
                "levelname": logging.getLevelName(level),
                "created": datetime.fromisoformat(f"2030-01-01T09:30:{seconds}+00:00").timestamp(),
                "event": event,
                "data": data,
            }
        )
        line = formatter.format(record)
        assert f"\n{line}\n" in docs, line
