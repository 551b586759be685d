"""The operators' commands (jobs, show, workers, status --watch/--json, bulk retry and cancel),
run through main(argv) against MemoryStore and SQLite."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import proletarian
from proletarian import JobError, JobStatus, NewJob
from proletarian.core.inspection import WorkerInfo
from proletarian.ports.store import QueueStore
from tests.unit.test_cli import Cli, cli, one_line_error

__all__ = ["cli"]  # the fixture, shared with test_cli

ERROR = JobError(type="ValueError", message="bad \x1b[31mred\x1b[0m", traceback="Traceback\n  x\n")


def finish(store: QueueStore, *, fail: bool) -> str:
    claim = store.claim(["default", "mail"], worker_id="w")
    assert claim is not None
    if fail:
        claim.fail(ERROR)
    else:
        claim.succeed()
    return str(claim.job.id)


def test_jobs_lists_a_page_with_the_cursor_of_the_next(cli: Cli) -> None:
    """jobs prints a table newest first and the --before that continues it."""
    ids = [proletarian.enqueue(cli.store, "send", {"n": n}) for n in range(3)]
    first = cli("jobs", "--limit", "2")
    assert first.code == 0, first
    assert first.out.index(ids[2]) < first.out.index(ids[1])
    assert ids[0] not in first.out
    assert f"more: add --before {ids[1]}" in first.out
    second = cli("jobs", "--limit", "2", "--before", ids[1])
    assert ids[0] in second.out
    assert "more:" not in second.out


def test_jobs_filters_and_prints_json(cli: Cli) -> None:
    """--status, --queue and --type filter; --json prints the jobs whole and the cursor."""
    proletarian.enqueue(cli.store, "send", None)
    failed = finish(cli.store, fail=True)
    proletarian.enqueue(cli.store, "send", {"to": "x"}, queue="mail")
    result = cli("jobs", "--status", "failed", "--type", "send", "--json")
    data = json.loads(result.out)
    assert [job["id"] for job in data["jobs"]] == [failed]
    assert data["jobs"][0]["error"]["message"] == ERROR.message
    assert data["next_before"] is None
    queued = json.loads(cli("jobs", "--queue", "mail", "--json").out)["jobs"]
    assert [(j["queue"], j["payload"], j["status"]) for j in queued] == [
        ("mail", {"to": "x"}, "ready")
    ]
    assert "no jobs match" in cli("jobs", "--type", "nothing").out


def test_store_text_is_escaped_for_the_terminal(cli: Cli) -> None:
    """A job type or error holding an escape sequence is printed escaped, never raw."""
    proletarian.enqueue(cli.store, "evil\x1b]0;pwned\x07", None)
    finish(cli.store, fail=True)
    for result in (cli("jobs"), cli("jobs", "--json"), cli("status")):
        assert "\x1b" not in result.out
        assert "\x07" not in result.out
    assert "evil\\x1b]0;pwned\\x07" in cli("jobs").out


def test_show_prints_one_job_whole(cli: Cli) -> None:
    """show prints fields, meta, payload, and the error with its traceback on its own lines."""
    cli.store.enqueue(NewJob("send", {"to": "a@b.c"}, meta={"tenant": "acme"}))
    job_id = finish(cli.store, fail=True)
    result = cli("show", job_id)
    assert result.code == 0, result
    for fragment in (
        f"id           {job_id}",
        "status       failed",
        "attempts     1",
        "tenant: acme",
        '"to": "a@b.c"',
        "error: ValueError: bad \\x1b[31mred\\x1b[0m",
        "  Traceback\n    x",
        "ran for",
    ):
        assert fragment in result.out
    data = json.loads(cli("show", job_id, "--json").out)
    assert (data["status"], data["meta"], data["payload"]) == (
        "failed",
        {"tenant": "acme"},
        {"to": "a@b.c"},
    )
    one_line_error(cli("show", "no-such-job"), 1, "no job with id")


def test_workers_lists_the_registry(cli: Cli) -> None:
    """workers shows each worker alive or dead; --json too; --remove-dead removes the dead."""
    now = cli.store.clock.now()
    for worker_id, seen in (("w-alive", now), ("w-dead", now - timedelta(minutes=5))):
        cli.store.register_worker(
            WorkerInfo(
                id=worker_id,
                host="box",
                pid=7,
                queues=("default",),
                threads=2,
                version="9.9",
                started_at=seen,
                last_seen=seen,
                heartbeat_interval=timedelta(seconds=10),
                running=("job-1",),
            )
        )
    table = cli("workers").out
    assert "w-alive  alive" in table
    assert "w-dead   dead" in table
    data = json.loads(cli("workers", "--json").out)["workers"]
    assert [(w["id"], w["dead"], w["running"]) for w in data] == [
        ("w-alive", False, ["job-1"]),
        ("w-dead", True, ["job-1"]),
    ]
    assert cli("workers", "--remove-dead").out == "removed 1 dead worker\n"
    assert [w.id for w in cli.store.workers()] == ["w-alive"]


def test_status_json_has_counts_and_throughput(cli: Cli) -> None:
    """status --json prints each queue's counts and jobs finished per minute."""
    proletarian.enqueue(cli.store, "t", None)
    finish(cli.store, fail=False)
    data = json.loads(cli("status", "--json", "--minutes", "3").out)
    assert data["queues"]["default"]["succeeded"] == 1
    assert [m["succeeded"] for m in data["throughput"]][-1] == 1
    assert len(data["throughput"]) == 3


def test_status_watch_redraws_in_place(cli: Cli) -> None:
    """--watch redraws the table and the throughput in place, frame after frame."""
    proletarian.enqueue(cli.store, "t", None)
    result = cli("status", "--watch", "0.01", "--frames", "2", "--minutes", "2")
    assert result.code == 0, result
    assert result.out.count("\x1b[H\x1b[J") == 2
    assert result.out.count("minute (UTC)") == 2
    assert "workers alive: 0" in result.out


def test_bulk_retry_asks_unless_yes(cli: Cli) -> None:
    """retry --all-failed refuses without a terminal to ask on, and with --yes retries every
    failed job of the filter and says how many."""
    for job_type in ("a", "a", "b"):
        proletarian.enqueue(cli.store, job_type, None)
        finish(cli.store, fail=True)
    one_line_error(cli("retry", "--all-failed"), 2, "retry 3 jobs", "--yes")
    assert cli("retry", "--all-failed", "--type", "a", "--yes").out == "2 jobs queued again\n"
    assert len(cli.store.list_jobs(status=JobStatus.FAILED).jobs) == 1
    assert (
        cli("retry", "--all-failed", "--type", "zzz").out
        == "no failed jobs of type 'zzz' to retry\n"
    )


def test_bulk_retry_confirms_on_a_terminal(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the count is shown and only 'y' goes ahead."""
    proletarian.enqueue(cli.store, "a", None)
    finish(cli.store, fail=True)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert "nothing done" in cli("retry", "--all-failed").out
    assert "1 job queued again" in cli("retry", "--all-failed").out


def test_bulk_cancel_leaves_running_jobs(cli: Cli) -> None:
    """cancel --all-queued removes the queued jobs of the filter but not a running one."""
    proletarian.enqueue(cli.store, "a", None)
    claim = cli.store.claim(["default"], worker_id="w")
    assert claim is not None
    try:
        proletarian.enqueue(cli.store, "a", None, process_in=timedelta(hours=1))
        proletarian.enqueue(cli.store, "a", None)
        result = cli("cancel", "--all-queued", "--type", "a", "--yes")
        assert result.out == "2 jobs cancelled\n"
        assert [j.status for j in cli.store.list_jobs().jobs] == [JobStatus.RUNNING]
    finally:
        claim.abandon()


def test_bulk_and_single_forms_do_not_mix(cli: Cli) -> None:
    """A JOB_ID with --all-failed, or filters without it, is a usage error."""
    one_line_error(cli("retry", "x", "--all-failed"), 2, "not both")
    one_line_error(cli("retry"), 2, "--all-failed")
    one_line_error(cli("cancel", "x", "--queue", "q"), 2, "go with --all-queued")
