"""`proletarian demo`: its seeded plan, its event tally, its progress line, and whole runs that
must end with exactly the planned totals."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest

from proletarian import Priority
from proletarian.cli import demo, main
from proletarian.cli.demo import Progress, Tally
from proletarian.cli.demo_jobs import JOB_TYPES, RETRY, Outcome, expected, plan

SEED = 3


def summary_rows(out: str) -> dict[str, list[int]]:
    """The summary table as {job type or 'total': [jobs, succeeded, failed, retries]}."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("job type")) + 2
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = [int(c) for c in cells[1:5]]
    return rows


def test_plan_is_seeded() -> None:
    """The same seed gives the same jobs; another seed gives others."""
    assert plan(200, SEED) == plan(200, SEED)
    assert plan(200, SEED) != plan(200, SEED + 1)


def test_plan_has_every_kind_of_sample() -> None:
    """The demo's sample has every job type, flaky and broken jobs, delays and high priority."""
    jobs = plan(200, SEED)
    fates = {job.payload["simulate"]["fails"] for job in jobs}
    assert fates == {"never", "once", "twice", "always"}
    assert {job.job_type for job in jobs} == set(JOB_TYPES)
    assert any(job.process_in is not None for job in jobs)
    assert any(job.priority is Priority.HIGH for job in jobs)


def test_expected_counts_retries_by_fate() -> None:
    """A job failing k times costs k retries; one that always fails uses every retry."""
    outcomes = expected(plan(200, SEED))
    total = Outcome()
    for outcome in outcomes.values():
        assert outcome.jobs == outcome.succeeded + outcome.failed
        total.failed += outcome.failed
        total.retries += outcome.retries
    fates = [job.payload["simulate"]["fails"] for job in plan(200, SEED)]
    assert total.failed == fates.count("always")
    assert total.retries == (
        fates.count("once") + 2 * fates.count("twice") + RETRY.retries * fates.count("always")
    )


def test_tally_counts_outcomes_from_events() -> None:
    """The tally counts successes, failures and retries per job type, and knows when all ended."""
    tally = Tally(total=2)
    tally("job_retry_scheduled", {"job_type": "send-email"})
    tally("job_succeeded", {"job_type": "send-email", "duration": 0.002})
    assert not tally.wait_finished(0)
    tally("job_failed", {"job_type": "sync-crm"})
    tally("job_claimed", {"job_type": "sync-crm"})
    assert tally.wait_finished(0)
    assert tally.counts() == (2, 1, 1)
    assert tally.outcomes["send-email"] == Outcome(jobs=1, succeeded=1, retries=1)
    assert tally.trouble == []
    tally("store_unavailable", {"error": "disk I/O error"})
    assert tally.trouble == ["store_unavailable: disk I/O error"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal() -> None:
    """On a terminal the progress line is redrawn in place with a carriage return."""
    out = Terminal()
    progress = Progress(out, total=10)
    progress.show(3, 1, 0, "7 (2 scheduled)")
    progress.show(10, 1, 0, "0 (0 scheduled)")
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 2
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "processed 10/10" in text


def test_progress_prints_lines_when_not_a_terminal() -> None:
    """Piped to a file, every update is its own line, once a second."""
    out = io.StringIO()
    progress = Progress(out, total=10)
    assert progress.interval == 1.0
    progress.show(3, 1, 0, "7 (2 scheduled)")
    progress.show(5, 1, 0, "5 (2 scheduled)")
    progress.close()
    lines = out.getvalue().splitlines(keepends=True)
    assert len(lines) == 2
    assert all(line.endswith("\n") and "\r" not in line for line in lines)
    assert re.fullmatch(
        r"processed 5/10  [\d,]+ jobs/s  retries 1  failed 0  queue depth 5 \(2 scheduled\)\n",
        lines[1],
    )


@pytest.mark.parametrize("store", ["sqlite", "memory"])
def test_demo_ends_with_the_planned_totals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, store: str
) -> None:
    """A small demo run finishes every job and its summary matches the seeded plan exactly."""
    target = ["--path", str(tmp_path / "demo.db")] if store == "sqlite" else ["--url", "memory://"]
    code = main(["demo", "--jobs", "200", "--threads", "2", "--seed", str(SEED), *target])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    planned = expected(plan(200, SEED))
    rows = summary_rows(out)
    for job_type, outcome in planned.items():
        assert rows[job_type] == [outcome.jobs, outcome.succeeded, outcome.failed, outcome.retries]
    succeeded = sum(o.succeeded for o in planned.values())
    failed = sum(o.failed for o in planned.values())
    retries = sum(o.retries for o in planned.values())
    assert rows["total"] == [200, succeeded, failed, retries]
    assert f"the store's archive: {succeeded} succeeded, {failed} failed; 0 still queued" in out
    assert "processed 200/200" in out


def test_demo_refuses_a_database_that_already_ran_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Run twice on one file, the demo refuses the second run: its totals would be wrong."""
    path = str(tmp_path / "demo.db")
    assert main(["demo", "--jobs", "5", "--seed", "1", "--path", path]) == 0
    capsys.readouterr()
    assert main(["demo", "--jobs", "5", "--path", path]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already holds jobs on demo-" in err


def test_demo_takes_store_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """-o reaches the demo's store as any command's: the jobs go to the tables it names."""
    path = tmp_path / "demo.db"
    code = main(["demo", "--jobs", "5", "--path", str(path), "-o", "job_table=demo_jobs",
                 "-o", "archived_job_table=demo_done"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with sqlite3.connect(path) as conn:
        archived = conn.execute("SELECT count(*) FROM demo_done").fetchone()[0]
    assert archived == 5


def test_demo_path_and_url_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    """--path and --url name the same thing; giving both is a usage error."""
    assert main(["demo", "--path", "x.db", "--url", "memory://"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_demo_that_times_out_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A demo whose jobs are not all done by --timeout prints its summary and exits 1."""
    code = main(["demo", "--jobs", "200", "--seed", str(SEED), "--url", "memory://",
                 "--timeout", "0.01"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert "job type" in out
    assert err.startswith("proletarian: error: demo timed out after 0.01s with ")


def test_demo_totals_are_checked_against_the_plan(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo checks its event totals against the plan and exits 1 when they differ."""
    monkeypatch.setattr(demo, "expected", lambda jobs: {})
    code = main(["demo", "--jobs", "20", "--seed", str(SEED), "--url", "memory://"])
    assert code == 1
    assert "totals differ from its plan" in capsys.readouterr().err
