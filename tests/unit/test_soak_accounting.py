"""The soak's accounting (tests/fault/soak.py) is not vacuous: fed made-up journals and archive
rows, it flags lost jobs, duplicate rows, outcomes the failure rule forbids (a crashed attempt
counted, on any store), jobs finished twice, handler runs no fault explains, timeouts no hang
or pause explains, poison jobs not refused after max_abandons, abandoned jobs the faults don't
explain, and worker errors."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from proletarian import NewJob
from tests.fault.soak import Faults, Figures, Journals, Plan, Row, account, read_journals
from tests.fault.soak_worker import expected_outcome

PLAN = Plan(jobs=2, threads=2, retries=1, fail_percent=50, max_abandons=3)
ROLES = {"job-a": "plain", "job-b": "plain"}
PID, OTHER = 100, 200


class FakeTarget:
    """Archive rows given by the test."""

    kind = "fake"
    worker_url = ""
    worker_options: dict[str, object] = {}  # noqa: RUF012

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    def enqueue(self, jobs: list[NewJob]) -> list[str]:
        return []

    def archived_count(self) -> int:
        return len(self.rows)

    def queued_count(self) -> int:
        return 0

    def archive(self) -> list[Row]:
        return self.rows

    def disrupt(self, rng: random.Random) -> int:
        return 0

    def restart(self) -> None:
        return None


def predicted_rows(roles: dict[str, str] = ROLES) -> list[Row]:
    rows: list[Row] = []
    for job_id, role in roles.items():
        status, attempts = expected_outcome(job_id, role=role, retries=1, percent=50)
        error = None if status == "succeeded" else "SoakFailure"
        rows.append((job_id, status, attempts, 0, error))
    return rows


def ran(
    journals: Journals, job_id: str, attempt: int, event: str, error: str = "-", pid: int = PID
) -> None:
    """One handler run of the attempt in `pid`, with its outcome logged."""
    journals.runs[job_id, attempt, pid] += 1
    journals.outcomes[job_id, attempt, pid] += 1
    journals.events.setdefault((job_id, attempt), []).append((event, error))
    if error == "JobTimeout":
        journals.timeouts[job_id, attempt, pid] += 1


def clean_journals(roles: dict[str, str] = ROLES) -> Journals:
    """Each predicted attempt ran once in PID and logged its outcome."""
    journals = Journals()
    for job_id, status, attempts, _, _ in predicted_rows(roles):
        for attempt in range(1, attempts + 1):
            final = attempt == attempts
            event = f"job_{status}" if final else "job_retry_scheduled"
            error = "-" if final and status == "succeeded" else "SoakFailure"
            ran(journals, job_id, attempt, event, error)
    return journals


def check(
    rows: list[Row],
    journals: Journals,
    *,
    roles: dict[str, str] = ROLES,
    killed: frozenset[int] = frozenset(),
    paused: Counter[int] | None = None,
) -> tuple[list[str], Figures]:
    figures = Figures(store="fake", jobs=len(roles), workers=1, threads=2, seed=0)
    faults = Faults(killed=set(killed), paused=paused or Counter())
    problems = account(FakeTarget(rows), PLAN, roles, journals, faults, figures)
    return problems, figures


def test_a_clean_run_has_no_problems() -> None:
    """Predicted outcomes, each run with its outcome logged: nothing to report."""
    problems, figures = check(predicted_rows(), clean_journals())
    assert problems == []
    assert figures.handler_runs == sum(attempts for _, _, attempts, _, _ in predicted_rows())


def test_lost_and_duplicated_jobs_are_flagged() -> None:
    """A job missing from the archive is lost; a second row for a job is a duplicate."""
    rows = predicted_rows()
    problems, figures = check([rows[0], rows[0]], clean_journals())
    assert figures.jobs_lost == 1
    assert figures.duplicate_archive_rows == 1
    assert any("never archived" in p for p in problems)


def test_a_crashed_attempt_counted_is_flagged_on_every_store() -> None:
    """Attempts count outcomes only: one more attempt than predicted (a crash counted, as
    leased claims once did) is flagged, whatever the store, and so is a wrong error type."""
    rows = predicted_rows()
    job_id, status, attempts, _, error = rows[0]
    rows[0] = (job_id, status, attempts + 1, 1, error)
    problems, _ = check(rows, clean_journals())
    assert any(f"plain job {job_id} archived" in p for p in problems)
    rows = predicted_rows()
    rows[1] = (rows[1][0], "failed", PLAN.retries + 1, 0, "Abandoned")
    problems, _ = check(rows, clean_journals())
    assert any(f"plain job {rows[1][0]} archived failed" in p for p in problems)


def test_a_job_finished_twice_is_flagged() -> None:
    """Two final outcomes for one job mean it ran to completion twice."""
    journals = clean_journals()
    job_id, status, attempts, _, _ = predicted_rows()[0]
    ran(journals, job_id, attempts, f"job_{status}", pid=OTHER)
    problems, _ = check(predicted_rows(), journals)
    assert any("finished more than once" in p for p in problems)


def test_a_cut_short_run_needs_a_fault_of_its_own_process() -> None:
    """A run with no outcome is explained by its process being killed or reporting a store
    error; otherwise it is counted as unexplained."""
    journals = clean_journals()
    journals.runs["job-a", 1, OTHER] += 1
    problems, figures = check(predicted_rows(), journals)
    assert figures.unexplained_runs == 1
    assert problems
    assert check(predicted_rows(), journals, killed=frozenset({OTHER}))[0] == []
    journals.faults[OTHER] += 1
    assert check(predicted_rows(), journals)[0] == []


def test_journals_are_read_from_the_workers_files(tmp_path: Path) -> None:
    """Each worker's file gives its runs, outcomes (with error types), cuts, poison kills and
    faults under its pid; a cut that failed on the store is a store fault, any other
    worker_error is not."""
    (tmp_path / f"{PID}.log").write_text(
        "ready\nrun job-a 1\ntimed_out job-a 1\njob_retry_scheduled job-a 1 JobTimeout\n"
        "cut_returned job-a 1\nrun job-a 2\nfault store_unavailable\n"
    )
    (tmp_path / f"{OTHER}.log").write_text(
        "fault worker_error 'ValueError()'\nrun job-p 1\nkill_self job-p 1\n"
        "fault cut_store_error 'StoreError(\"interrupting job job-q failed\")'\n"
    )
    journals = read_journals(tmp_path)
    assert journals.runs == {("job-a", 1, PID): 1, ("job-a", 2, PID): 1, ("job-p", 1, OTHER): 1}
    assert journals.outcomes == {("job-a", 1, PID): 1}
    assert journals.events == {("job-a", 1): [("job_retry_scheduled", "JobTimeout")]}
    assert journals.timeouts == {("job-a", 1, PID): 1}
    assert journals.faults == {PID: 1, OTHER: 1}
    assert journals.cut_store_errors == 1
    assert journals.worker_errors == [OTHER]
    assert journals.kill_self == {"job-p": 1}


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
    refused as abandoned (max_abandons reached), which it journals."""
    (tmp_path / f"{PID}.log").write_text("abandoned job-a 5\njob_failed job-a 5 JobAbandoned\n")
    journals = read_journals(tmp_path)
    assert journals.abandoned == {("job-a", 5, PID)}
    journals.outcomes["job-b", 7, PID] += 1
    problems, _ = check(predicted_rows(), journals)
    assert any("('job-b', 7, 100) has 1 outcomes and no run" in p for p in problems)
    assert not any("'job-a', 5" in p and "no run" in p for p in problems)


def poisoned(kills: int) -> tuple[dict[str, str], Journals]:
    """ROLES and a poison job that killed `kills` worker processes (OTHER + k), then was
    refused by PID."""
    roles = {**ROLES, "job-p": "poison"}
    journals = clean_journals(ROLES)
    for k in range(kills):
        journals.runs["job-p", 1, OTHER + k] += 1
        journals.kill_self["job-p"] += 1
    journals.abandoned.add(("job-p", 1, PID))
    journals.outcomes["job-p", 1, PID] += 1
    journals.events["job-p", 1] = [("job_failed", "JobAbandoned")]
    return roles, journals


def test_a_poison_job_must_end_refused_after_max_abandons() -> None:
    """A poison job ends FAILED JobAbandoned, abandons == max_abandons, its refusal its only
    attempt, after killing at least max_abandons workers (more on MySQL); anything else is
    flagged."""
    roles, journals = poisoned(3)
    killed = frozenset({OTHER, OTHER + 1, OTHER + 2})
    refused: Row = ("job-p", "failed", 1, 3, "JobAbandoned")
    problems, figures = check([*predicted_rows(), refused], journals, roles=roles, killed=killed)
    assert problems == []
    assert (figures.poison, figures.poison_kills, figures.poison_abandoned) == (1, 3, 1)
    roles, journals = poisoned(4)
    killed = frozenset({OTHER, OTHER + 1, OTHER + 2, OTHER + 3})
    assert check([*predicted_rows(), refused], journals, roles=roles, killed=killed)[0] == []
    for row in [
        ("job-p", "failed", 1, 2, "JobAbandoned"),
        ("job-p", "failed", 2, 3, "JobAbandoned"),
        ("job-p", "succeeded", 1, 3, None),
    ]:
        problems, _ = check([*predicted_rows(), row], journals, roles=roles, killed=killed)
        assert any("poison job job-p archived" in p for p in problems), row
    roles, journals = poisoned(2)
    killed = frozenset({OTHER, OTHER + 1})
    problems, _ = check([*predicted_rows(), refused], journals, roles=roles, killed=killed)
    assert any("it killed 2 workers" in p for p in problems)
    # The chaos killed another worker too: it may have held the poison job's third claim
    # before the handler ran, so two kills and three abandonments are explained.
    chaos = killed | {OTHER + 9}
    problems, _ = check([*predicted_rows(), refused], journals, roles=roles, killed=chaos)
    assert not any("poison job" in p for p in problems), problems


def test_an_abandoned_plain_job_must_be_refused_as_due_and_explained_by_faults() -> None:
    """A plain job archived FAILED JobAbandoned must have max_abandons abandons and have been
    due (every earlier attempt failing by the rule); its abandonments, with or without a run
    cut short, must be explained by faults."""
    rows = predicted_rows()
    rows[0] = ("job-a", "failed", 1, 3, "JobAbandoned")
    journals = clean_journals({"job-b": "plain"})
    journals.abandoned.add(("job-a", 1, PID))
    journals.outcomes["job-a", 1, PID] += 1
    journals.events["job-a", 1] = [("job_failed", "JobAbandoned")]
    for k in range(2):
        journals.runs["job-a", 1, OTHER + k] += 1
    # Two runs cut short by their processes' deaths, a third claim cut before its run.
    problems, figures = check(rows, journals, killed=frozenset({OTHER, OTHER + 1}))
    assert problems == []
    assert (figures.other_jobs_abandoned, figures.runless_abandons) == (1, 1)
    problems, _ = check(rows, journals)
    assert any("cut short 1 runs but was killed: False" in p for p in problems)
    rows[0] = ("job-a", "failed", 1, 2, "JobAbandoned")
    problems, _ = check(rows, journals, killed=frozenset({OTHER, OTHER + 1}))
    assert any(
        "plain job job-a archived failed after 1 attempts and 2 abandons" in p for p in problems
    )


def test_abandonments_without_a_run_need_faults_to_explain_them() -> None:
    """A job counted abandoned more often than its runs were cut short had claims cut before
    their run: each needs a fault (a thread of a killed process, a store error) that explains
    no other run."""
    rows = predicted_rows()
    rows[0] = (*rows[0][:3], 2, rows[0][4])
    problems, figures = check(rows, clean_journals())
    assert figures.runless_abandons == 2
    assert any("2 abandonments without a run, but the faults explain 0" in p for p in problems)
    journals = clean_journals()
    journals.faults[PID] += 1
    assert check(rows, journals)[0] != []
    assert check(rows, journals, killed=frozenset({OTHER}))[0] == []


def hung_journals(*, cut: bool) -> tuple[dict[str, str], Journals]:
    roles = {**ROLES, "job-h": "hung"}
    journals = clean_journals(ROLES)
    if cut:
        ran(journals, "job-h", 1, "job_retry_scheduled", "JobTimeout")
        ran(journals, "job-h", 2, "job_succeeded")
    else:
        ran(journals, "job-h", 1, "job_succeeded")
    return roles, journals


def test_a_hung_job_must_be_cut_on_its_first_attempt_then_succeed() -> None:
    """A hung job ends SUCCEEDED after 2 attempts, the first cut with JobTimeout; one that
    succeeded at once, or without a logged cut, is flagged."""
    roles, journals = hung_journals(cut=True)
    rows = [*predicted_rows(), ("job-h", "succeeded", 2, 0, None)]
    problems, figures = check(rows, journals, roles=roles)
    assert problems == []
    assert (figures.hung, figures.hung_cut_succeeded, figures.timeout_cuts) == (1, 1, 1)
    roles, journals = hung_journals(cut=False)
    problems, _ = check(
        [*predicted_rows(), ("job-h", "succeeded", 1, 0, None)], journals, roles=roles
    )
    assert any("hung job job-h archived succeeded after 1" in p for p in problems)
    problems, _ = check(rows, journals, roles=roles)
    assert any("without its first attempt being cut" in p for p in problems)


def test_a_timeout_of_another_job_needs_a_pause_of_its_worker() -> None:
    """A plain job's attempt cut with JobTimeout shifts its predicted outcome by that attempt,
    and is explained only by a pause of its worker, at most one per thread per pause."""
    rows = predicted_rows()
    journals = clean_journals({"job-b": "plain"})
    want = expected_outcome("job-a", role="plain", retries=1, percent=50, cut=frozenset({1}))
    ran(journals, "job-a", 1, "job_retry_scheduled", "JobTimeout")
    if want == ("succeeded", 2):
        ran(journals, "job-a", 2, "job_succeeded")
        rows[0] = ("job-a", "succeeded", 2, 0, None)
    else:
        ran(journals, "job-a", 2, "job_failed", "SoakFailure")
        rows[0] = ("job-a", "failed", 2, 0, "SoakFailure")
    problems, _ = check(rows, journals)
    assert any("cut 1 attempts with JobTimeout" in p for p in problems)
    assert check(rows, journals, paused=Counter({PID: 1}))[0] == []
    assert check(rows, journals, paused=Counter({OTHER: 1}))[0] != []
