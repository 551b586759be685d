"""The store-independent half of the chaos soaks: worker processes under chaos, the journals
they write (see tests/fault/soak_worker.py), and the accounting of every handler run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from proletarian import NewJob
from tests.fault.soak_worker import expected_outcome, fails

ROOT = Path(__file__).resolve().parents[2]
REPORT_VARIABLE = "PROLETARIAN_SOAK_REPORT"


class Target(Protocol):
    """One store under chaos, as the soak sees it. Observations may raise while the server is
    down; the soak then simply looks again later."""

    kind: str
    worker_url: str  # "{pid}" is replaced by each worker process's id
    worker_options: dict[str, Any]
    leased: bool  # leased claims count an attempt that a crash cut short

    def enqueue(self, jobs: list[NewJob]) -> list[str]: ...

    def archived_count(self) -> int: ...

    def queued_count(self) -> int: ...

    def archive(self) -> list[tuple[str, str, int, str | None]]:
        """Every archive row: (job id, status, attempts, error type)."""

    def disrupt(self, rng: random.Random) -> int:
        """Kill some of the workers' connections on the server; returns how many."""

    def restart(self) -> None:
        """Restart the server and return once it accepts connections again."""


@dataclass(frozen=True)
class Plan:
    """What a soak does. Times are seconds between chaos actions (0: never)."""

    jobs: int
    workers: int = 3
    threads: int = 4
    retries: int = 3
    fail_percent: int = 5
    doomed_every: int = 100  # every n-th job raises on every attempt, so some jobs fail
    kill_every: float = 3.0
    disrupt_every: float = 0.0
    pause_every: float = 0.0  # SIGSTOP a worker for pause_for seconds (leases expire)
    pause_for: float = 0.0
    restarts: int = 0  # server restarts, spread over the run
    lease: float | None = None
    deadline: float = 120.0  # seconds for the whole run; the soak fails past it


@dataclass
class Figures:
    """One run's numbers, printed and optionally appended to $PROLETARIAN_SOAK_REPORT."""

    store: str
    jobs: int
    workers: int
    threads: int
    seed: int
    seconds: float = 0.0
    kills: int = 0
    pauses: int = 0
    connections_killed: int = 0
    restarts: int = 0
    handler_runs: int = 0
    retried_runs: int = 0
    interrupted_runs: int = 0
    unexplained_runs: int = 0
    succeeded: int = 0
    failed: int = 0
    jobs_lost: int = 0
    duplicate_archive_rows: int = 0

    def report(self) -> None:
        line = json.dumps(asdict(self), sort_keys=True)
        print(f"soak {self.store}: {line}")
        path = os.environ.get(REPORT_VARIABLE)
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")


class Fleet:
    """The soak's worker processes; all are killed at exit of `with`."""

    def __init__(self, target: Target, plan: Plan, directory: Path) -> None:
        self.target = target
        self.plan = plan
        self.journals = directory / "journals"
        self.stderr = directory / "stderr"
        self.journals.mkdir()
        self.stderr.mkdir()
        self.live: list[subprocess.Popen[bytes]] = []
        self.ended: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.fault.soak_worker"]
        command += [self.target.worker_url, str(self.journals)]
        command += ["--threads", str(self.plan.threads), "--retries", str(self.plan.retries)]
        command += ["--fail-percent", str(self.plan.fail_percent)]
        command += ["--options", json.dumps(self.target.worker_options)]
        if self.plan.lease is not None:
            command += ["--lease", str(self.plan.lease)]
        with (self.stderr / f"{len(self.live) + len(self.ended)}.txt").open("wb") as err:
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        self.live.append(process)

    def kill(self, rng: random.Random) -> None:
        """SIGKILL a random worker and start another."""
        victim = rng.choice(self.live)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        self.killed.add(victim.pid)
        self.live.remove(victim)
        self.ended.append(victim)
        self.start()

    def pause(self, rng: random.Random, seconds: float) -> None:
        """SIGSTOP a random worker for `seconds`, then SIGCONT it: its leases lapse meanwhile."""
        victim = rng.choice(self.live)
        victim.send_signal(signal.SIGSTOP)
        # Not a synchronisation: the pause is the fault itself, and its length must exceed the
        # lease for the lease to lapse.
        threading.Event().wait(seconds)
        victim.send_signal(signal.SIGCONT)

    def check_alive(self) -> None:
        """Fail if a worker exited without being killed (a crash at start-up or later)."""
        for process in self.live:
            if process.poll() is not None:
                raise AssertionError(
                    f"soak worker {process.pid} exited on its own with status "
                    f"{process.returncode}:\n{self._stderr_of(process)}"
                )

    def stop(self) -> dict[int, int]:
        """SIGTERM every live worker once it is ready; their exit statuses by pid."""
        statuses: dict[int, int] = {}
        for process in self.live:
            until(
                partial(self.is_ready, process.pid),
                f"worker {process.pid} to be ready before it is stopped",
                timeout=60,
            )
            process.send_signal(signal.SIGTERM)
        for process in self.live:
            statuses[process.pid] = process.wait(timeout=60)
        self.ended += self.live
        self.live = []
        return statuses

    def is_ready(self, pid: int) -> bool:
        path = self.journals / f"{pid}.log"
        return path.exists() and "ready" in path.read_text().splitlines()

    def _stderr_of(self, process: subprocess.Popen[bytes]) -> str:
        index = (self.ended + self.live).index(process)
        return (self.stderr / f"{index}.txt").read_text(errors="replace")[-3000:]

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.live:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def until(predicate: Callable[[], object], what: str, *, timeout: float) -> None:
    """Poll for an end state, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        threading.Event().wait(0.05)


def observed(look: Callable[[], int]) -> int | None:
    """An observation of the store, or None while it can't be reached (a restart)."""
    try:
        return look()
    except Exception:
        return None


def run_soak(target: Target, plan: Plan, directory: Path, *, seed: int) -> Figures:
    """Enqueue the jobs, run the fleet under chaos until every job is archived and the queue
    is empty (or the deadline passes: AssertionError), stop the fleet gracefully, and account
    for every handler run. Returns the figures; raises AssertionError listing every problem."""
    rng = random.Random(seed)
    figures = Figures(
        store=target.kind, jobs=plan.jobs, workers=plan.workers, threads=plan.threads, seed=seed
    )
    doomed: set[str] = set()
    ids: list[str] = []
    for start in range(0, plan.jobs, 1000):
        batch = [
            NewJob(job_type="soak", payload={"n": n, "doomed": n % plan.doomed_every == 0})
            for n in range(start, min(start + 1000, plan.jobs))
        ]
        new = target.enqueue(batch)
        ids += new
        doomed.update(i for i, job in zip(new, batch, strict=True) if job.payload["doomed"])
    began = time.monotonic()
    with Fleet(target, plan, directory) as fleet:
        for _ in range(plan.workers):
            fleet.start()
        _chaos(target, plan, fleet, figures, rng, began)
        statuses = fleet.stop()
        figures.seconds = round(time.monotonic() - began, 1)
        figures.kills = len(fleet.killed)
        journals = read_journals(fleet.journals)
        killed = set(fleet.killed)
    problems = [f"worker {pid} stopped with status {s}" for pid, s in statuses.items() if s]
    problems += account(target, plan, ids, doomed, journals, killed, figures)
    figures.report()
    assert not problems, f"soak on {target.kind} (seed {seed}): " + "; ".join(problems[:30])
    return figures


def _chaos(
    target: Target,
    plan: Plan,
    fleet: Fleet,
    figures: Figures,
    rng: random.Random,
    began: float,
) -> None:
    """Kill, disrupt, pause and restart on schedule until every job is archived."""
    next_kill = began + plan.kill_every
    next_disrupt = began + plan.disrupt_every
    next_pause = began + plan.pause_every
    # Restarts when these fractions of the jobs are archived: spread over the run.
    restart_marks = [(k + 1) / (plan.restarts + 1) for k in range(plan.restarts)]
    while True:
        fleet.check_alive()
        archived = observed(target.archived_count)
        if archived == plan.jobs and observed(target.queued_count) == 0:
            return
        now = time.monotonic()
        if now - began > plan.deadline:
            raise AssertionError(
                f"soak on {target.kind} did not finish within {plan.deadline:g} s: "
                f"{archived} of {plan.jobs} jobs archived, {observed(target.queued_count)} "
                f"still queued; chaos so far: {asdict(figures)}"
            )
        if plan.kill_every and now >= next_kill:
            fleet.kill(rng)
            next_kill = now + plan.kill_every
        if plan.disrupt_every and now >= next_disrupt:
            figures.connections_killed += observed(lambda: target.disrupt(rng)) or 0
            next_disrupt = now + plan.disrupt_every
        if plan.pause_every and now >= next_pause:
            fleet.pause(rng, plan.pause_for)
            figures.pauses += 1
            next_pause = time.monotonic() + plan.pause_every
        if restart_marks and archived is not None and archived >= restart_marks[0] * plan.jobs:
            restart_marks.pop(0)
            target.restart()
            figures.restarts += 1
        threading.Event().wait(0.1)


@dataclass
class Journals:
    """What the workers wrote: counters keyed by (job id, attempt, pid)."""

    runs: Counter[tuple[str, int, int]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, int, int]] = field(default_factory=Counter)
    events: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    faults: Counter[int] = field(default_factory=Counter)  # store errors, by pid
    worker_errors: list[int] = field(default_factory=list)  # anything else: a bug, by pid
    interrupted: list[int] = field(default_factory=list)
    # Attempts the worker refused to run: the job came back after lost leases with no attempt
    # left, so it was archived as failed (Abandoned) without a handler run.
    abandoned: set[tuple[str, int, int]] = field(default_factory=set)


def read_journals(directory: Path) -> Journals:
    journals = Journals()
    for path in directory.glob("*.log"):
        pid = int(path.stem)
        for line in path.read_text().splitlines():
            words = line.split()
            if words[0] == "run":
                journals.runs[words[1], int(words[2]), pid] += 1
            elif words[0] == "abandoned":
                journals.abandoned.add((words[1], int(words[2]), pid))
            elif words[0].startswith("job_"):
                journals.outcomes[words[1], int(words[2]), pid] += 1
                journals.events.setdefault((words[1], int(words[2])), []).append(words[0])
            elif words[:2] == ["fault", "worker_error"]:
                journals.worker_errors.append(pid)
            elif words[0] == "fault":
                journals.faults[pid] += 1
            elif words[0] == "interrupted":
                journals.interrupted.append(pid)
    return journals


def account(
    target: Target,
    plan: Plan,
    ids: list[str],
    doomed: set[str],
    journals: Journals,
    killed: set[int],
    figures: Figures,
) -> list[str]:
    """Check the end state and explain every handler run; fills `figures`, returns problems."""
    problems: list[str] = []
    rows = target.archive()
    by_id: dict[str, tuple[str, int, str | None]] = {}
    for job_id, status, attempts, error_type in rows:
        if job_id in by_id:
            figures.duplicate_archive_rows += 1
        by_id[job_id] = (status, attempts, error_type)
    if figures.duplicate_archive_rows:
        problems.append(f"{figures.duplicate_archive_rows} duplicate archive rows")
    missing = [job_id for job_id in ids if job_id not in by_id]
    figures.jobs_lost = len(missing)
    if missing:
        problems.append(f"{len(missing)} jobs never archived, e.g. {missing[:3]}")
    strangers = set(by_id) - set(ids)
    if strangers:
        problems.append(f"{len(strangers)} archived jobs were never enqueued")
    queued = target.queued_count()
    if queued:
        problems.append(f"{queued} jobs left in the queue")
    if journals.interrupted:
        problems.append(f"workers {sorted(set(journals.interrupted))} stopped on a BaseException")
    if journals.worker_errors:
        # A claim-and-run that failed on something other than a store error: an untranslated
        # driver exception or a bug, never a fault the chaos causes.
        problems.append(f"{len(journals.worker_errors)} worker_error events")
    for job_id in ids:
        if job_id in by_id:
            problems += _check_job(job_id, by_id[job_id], job_id in doomed, plan, target, journals)
    figures.succeeded = sum(1 for status, _, _ in by_id.values() if status == "succeeded")
    figures.failed = sum(1 for status, _, _ in by_id.values() if status == "failed")
    problems += _explain_runs(journals, killed, plan, figures)
    return problems


def _check_job(
    job_id: str,
    row: tuple[str, int, str | None],
    doomed: bool,
    plan: Plan,
    target: Target,
    journals: Journals,
) -> list[str]:
    """The job's archive row agrees with the failure rule and with what the workers logged."""
    status, attempts, error_type = row
    problems: list[str] = []
    last = plan.retries + 1
    if target.leased:
        # A crash cuts an attempt short and it still counts; the worker that claims the job
        # after its last allowed attempt fails it as Abandoned, without running it.
        if status == "succeeded":
            ok = not doomed and attempts <= last and not fails(job_id, attempts, plan.fail_percent)
        else:
            ok = (error_type, attempts) in {("SoakFailure", last), ("Abandoned", last + 1)}
    else:
        # A crashed attempt rolls back uncounted: the outcome is exactly the predicted one.
        want = expected_outcome(
            job_id, doomed=doomed, retries=plan.retries, percent=plan.fail_percent
        )
        ok = (status, attempts) == want
    if not ok:
        problems.append(f"job {job_id} archived {status} after {attempts} attempts ({error_type})")
    finals = [
        (attempt, event)
        for attempt in range(1, last + 2)
        for event in journals.events.get((job_id, attempt), [])
        if event != "job_retry_scheduled"
    ]
    if len(finals) > 1:
        problems.append(f"job {job_id} finished more than once: {finals}")
    expected_event = "job_succeeded" if status == "succeeded" else "job_failed"
    if finals and finals[0] != (attempts, expected_event):
        problems.append(f"job {job_id} logged {finals[0]} but is archived {status}/{attempts}")
    for attempt in range(1, last + 2):
        events = journals.events.get((job_id, attempt), [])
        if len(events) > 1:
            problems.append(f"attempt {attempt} of job {job_id} has outcomes {events}")
    return problems


def _explain_runs(journals: Journals, killed: set[int], plan: Plan, figures: Figures) -> list[str]:
    """Every handler run either recorded its outcome, or was cut short by a fault its own
    process suffered: SIGKILL (at most one run per thread), or a store error reported by the
    thread running it (at most one run per reported error)."""
    figures.handler_runs = sum(journals.runs.values())
    figures.retried_runs = sum(
        1 for events in journals.events.values() for e in events if e == "job_retry_scheduled"
    )
    problems: list[str] = []
    interrupted: Counter[int] = Counter()
    for key, runs in journals.runs.items():
        outcomes = journals.outcomes.get(key, 0)
        if outcomes > runs:
            problems.append(f"{key} has {outcomes} outcomes for {runs} runs")
        interrupted[key[2]] += max(0, runs - outcomes)
    for key, outcomes in journals.outcomes.items():
        if key not in journals.runs and key not in journals.abandoned:
            problems.append(f"{key} has {outcomes} outcomes and no run")
    figures.interrupted_runs = sum(interrupted.values())
    for pid, count in interrupted.items():
        allowed = journals.faults[pid] + (plan.threads if pid in killed else 0)
        if count > allowed:
            figures.unexplained_runs += count - allowed
            problems.append(
                f"worker {pid} cut short {count} runs but was killed: {pid in killed}, "
                f"reported {journals.faults[pid]} store errors"
            )
    return problems
