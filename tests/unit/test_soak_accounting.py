"""The soak's accounting (tests/fault/soak.py) is not vacuous: fed made-up journals and archive
rows, it flags lost jobs, duplicate rows, outcomes the failure rule forbids, jobs finished
twice, handler runs no fault explains, and worker errors."""

from __future__ import annotations

import random
from pathlib import Path

from proletarian import NewJob
from tests.fault.soak import Figures, Journals, Plan, account, read_journals
from tests.fault.soak_worker import expected_outcome

PLAN = Plan(jobs=2, threads=2, retries=1, fail_percent=50)
IDS = ["job-a", "job-b"]
PID, OTHER = 100, 200


class FakeTarget:
    """Archive rows given by the test."""

    kind = "fake"
    worker_url = ""
    worker_options: dict[str, object] = {}  # noqa: RUF012

    def __init__(self, rows: list[tuple[str, str, int, str | None]], *, leased: bool) -> None:
        self.rows = rows
        self.leased = leased

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return []

    def archived_count(self) -> int:
        return len(self.rows)

    def queued_count(self) -> int:
        return 0

    def archive(self) -> list[tuple[str, str, int, str | None]]:
        return self.rows

    def disrupt(self, rng: random.Random) -> int:
        return 0

    def restart(self) -> None:
        return None


def predicted_rows() -> list[tuple[str, str, int, str | None]]:
    rows: list[tuple[str, str, int, str | None]] = []
    for job_id in IDS:
        status, attempts = expected_outcome(job_id, doomed=False, retries=1, percent=50)
        rows.append((job_id, status, attempts, None if status == "succeeded" else "SoakFailure"))
    return rows


def clean_journals() -> Journals:
    """Each predicted attempt ran once in PID and logged its outcome."""
    journals = Journals()
    for job_id, status, attempts, _ in predicted_rows():
        for attempt in range(1, attempts + 1):
            journals.runs[job_id, attempt, PID] += 1
            journals.outcomes[job_id, attempt, PID] += 1
            final = attempt == attempts
            event = f"job_{status}" if final else "job_retry_scheduled"
            journals.events.setdefault((job_id, attempt), []).append(event)
    return journals


def check(
    rows: list[tuple[str, str, int, str | None]],
    journals: Journals,
    *,
    killed: frozenset[int] = frozenset(),
    leased: bool = False,
) -> tuple[list[str], Figures]:
    figures = Figures(store="fake", jobs=2, workers=1, threads=2, seed=0)
    target = FakeTarget(rows, leased=leased)
    problems = account(target, PLAN, IDS, set(), journals, set(killed), figures)
    return problems, figures


def test_a_clean_run_has_no_problems() -> None:
    """Predicted outcomes, each run with its outcome logged: nothing to report."""
    problems, figures = check(predicted_rows(), clean_journals())
    assert problems == []
    assert figures.handler_runs == sum(attempts for _, _, attempts, _ in predicted_rows())


def test_lost_and_duplicated_jobs_are_flagged() -> None:
    """A job missing from the archive is lost; a second row for a job is a duplicate."""
    rows = predicted_rows()
    problems, figures = check([rows[0], rows[0]], clean_journals())
    assert figures.jobs_lost == 1
    assert figures.duplicate_archive_rows == 1
    assert any("never archived" in p for p in problems)


def test_an_outcome_against_the_failure_rule_is_flagged() -> None:
    """A transactional store must archive exactly the predicted status and attempt count."""
    rows = predicted_rows()
    job_id, status, attempts, error = rows[0]
    rows[0] = (job_id, status, attempts + 1, error)
    problems, _ = check(rows, clean_journals())
    assert any(f"job {job_id} archived" in p for p in problems)


def test_a_job_finished_twice_is_flagged() -> None:
    """Two final outcomes for one job mean it ran to completion twice."""
    journals = clean_journals()
    job_id, status, attempts, _ = predicted_rows()[0]
    journals.runs[job_id, attempts, OTHER] += 1
    journals.outcomes[job_id, attempts, OTHER] += 1
    journals.events[job_id, attempts].append(f"job_{status}")
    problems, _ = check(predicted_rows(), journals)
    assert any("finished more than once" in p for p in problems)


def test_a_cut_short_run_needs_a_fault_of_its_own_process() -> None:
    """A run with no outcome is explained by its process being killed or reporting a store
    error; otherwise it is counted as unexplained."""
    journals = clean_journals()
    journals.runs[IDS[0], 1, OTHER] += 1
    problems, figures = check(predicted_rows(), journals)
    assert figures.unexplained_runs == 1
    assert problems
    assert check(predicted_rows(), journals, killed=frozenset({OTHER}))[0] == []
    journals.faults[OTHER] += 1
    assert check(predicted_rows(), journals)[0] == []


def test_journals_are_read_from_the_workers_files(tmp_path: Path) -> None:
    """Each worker's file gives its runs, outcomes and faults under its pid."""
    (tmp_path / f"{PID}.log").write_text(
        "ready\nrun job-a 1\njob_retry_scheduled job-a 1\nrun job-a 2\nfault store_unavailable\n"
    )
    (tmp_path / f"{OTHER}.log").write_text("fault worker_error\n")
    journals = read_journals(tmp_path)
    assert journals.runs == {("job-a", 1, PID): 1, ("job-a", 2, PID): 1}
    assert journals.outcomes == {("job-a", 1, PID): 1}
    assert journals.events == {("job-a", 1): ["job_retry_scheduled"]}
    assert journals.faults == {PID: 1}
    assert journals.worker_errors == [OTHER]


def test_a_worker_error_is_a_problem_not_an_explanation() -> None:
    """A worker_error (an untranslated driver error, a bug) is reported, even with no run cut
    short."""
    journals = clean_journals()
    journals.worker_errors.append(PID)
    problems, _ = check(predicted_rows(), journals)
    assert problems == ["1 worker_error events"]


def test_an_outcome_without_a_run_is_flagged_unless_the_attempt_was_abandoned(
    tmp_path: Path,
) -> None:
    """An outcome no handler run produced is a problem, except for an attempt the worker
    refused as abandoned (lost leases used up the job's attempts), which it journals."""
    (tmp_path / f"{PID}.log").write_text("abandoned job-a 5\njob_failed job-a 5\n")
    journals = read_journals(tmp_path)
    assert journals.abandoned == {("job-a", 5, PID)}
    journals.outcomes["job-b", 7, PID] += 1
    problems, _ = check(predicted_rows(), journals, leased=True)
    assert any("('job-b', 7, 100) has 1 outcomes and no run" in p for p in problems)
    assert not any("'job-a', 5" in p and "no run" in p for p in problems)
