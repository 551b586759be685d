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
from tests.fault.soak_worker import expected_outcome

ROOT = Path(__file__).resolve().parents[2]
REPORT_VARIABLE = "PROLETARIAN_SOAK_REPORT"

# An archive row: (job id, status, attempts, abandons, error type).
Row = tuple[str, str, int, int, str | None]


class Target(Protocol):
    """One store under chaos, as the soak sees it. Observations may raise while the server is
    down; the soak then simply looks again later."""

    kind: str
    worker_url: str  # "{pid}" is replaced by each worker process's id
    worker_options: dict[str, Any]

    def enqueue(self, jobs: list[NewJob]) -> list[str]: ...

    def archived_count(self) -> int: ...

    def queued_count(self) -> int: ...

    def archive(self) -> list[Row]:
        """Every archive row: (job id, status, attempts, abandons, error type)."""

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
    poison: int = 2  # jobs whose handler SIGKILLs its own worker process on every attempt
    hung: int = 2  # jobs whose handler blocks on attempt 1 until the worker's timeout cuts it
    max_abandons: int = 3
    timeout: float = 1.0  # the workers' job timeout, seconds
    timeout_grace: float = 1.0
    kill_every: float = 3.0
    disrupt_every: float = 0.0
    pause_every: float = 0.0  # SIGSTOP a worker for pause_for seconds (leases expire)
    pause_for: float = 0.0
    restarts: int = 0  # server restarts, spread over the run
    lease: float | None = None
    deadline: float = 120.0  # seconds for the whole run; the soak fails past it

    @property
    def hang(self) -> float:
        """Seconds a hung job's first attempt blocks: past its cut, so the cut comes first and
        the stuck handler returns later (recording nothing)."""
        return self.timeout + self.timeout_grace + 2.0

    def roles(self) -> list[str]:
        """Each job's role, by its index: every doomed_every-th job doomed; hung jobs spread
        over the first 35% of the run and poison jobs over 45% to 75% (claims take jobs in
        about enqueue order), so they meet the chaos, a poison job's run of kills doesn't
        also cut the hung jobs' hangs, and the end of the run doesn't wait on them; the rest
        plain."""
        roles = ["doomed" if n % self.doomed_every == 0 else "plain" for n in range(self.jobs)]
        places = [("hung", 0.35 * (k + 1) / (self.hung + 1)) for k in range(self.hung)]
        places += [("poison", 0.45 + 0.3 * (k + 1) / (self.poison + 1)) for k in range(self.poison)]
        for role, fraction in places:
            n = int(self.jobs * fraction)
            while roles[n] != "plain":
                n += 1
            roles[n] = role
        return roles


@dataclass
class Figures:
    """One run's numbers, printed and optionally appended to $PROLETARIAN_SOAK_REPORT."""

    store: str
    jobs: int
    workers: int
    threads: int
    seed: int
    seconds: float = 0.0
    kills: int = 0  # SIGKILLs by the chaos loop
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
    poison: int = 0
    poison_kills: int = 0  # worker processes a poison job's handler SIGKILLed
    poison_abandoned: int = 0  # poison jobs archived FAILED JobAbandoned
    hung: int = 0
    hung_cut_succeeded: int = 0  # hung jobs cut on attempt 1 (JobTimeout), then succeeded
    hung_abandoned: int = 0  # hung jobs abandoned max_abandons times by faults
    timeout_cuts: int = 0  # attempts recorded as failed with JobTimeout
    other_jobs_abandoned: int = 0  # plain or doomed jobs abandoned max_abandons times by faults
    runless_abandons: int = 0  # abandonments counted for claims cut before the handler ran
    cut_store_errors: int = 0  # cuts that failed on the store, logged as worker_error

    def report(self) -> None:
        line = json.dumps(asdict(self), sort_keys=True)
        print(f"soak {self.store}: {line}")
        path = os.environ.get(REPORT_VARIABLE)
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")


class Fleet:
    """The soak's worker processes, supervised: a worker that a poison job SIGKILLed is
    replaced, as systemd's Restart=always would; any other exit is a failure. All are killed
    at exit of `with`."""

    def __init__(self, target: Target, plan: Plan, directory: Path) -> None:
        self.target = target
        self.plan = plan
        self.journals = directory / "journals"
        self.stderr = directory / "stderr"
        self.journals.mkdir()
        self.stderr.mkdir()
        self.live: list[subprocess.Popen[bytes]] = []
        self.ended: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()  # by the chaos loop
        self.poisoned: set[int] = set()  # by a poison job's handler
        self.paused: Counter[int] = Counter()
        self.stderr_of: dict[int, Path] = {}

    def start(self) -> None:
        plan = self.plan
        command = [sys.executable, "-m", "tests.fault.soak_worker"]
        command += [self.target.worker_url, str(self.journals)]
        command += ["--threads", str(plan.threads), "--retries", str(plan.retries)]
        command += ["--fail-percent", str(plan.fail_percent)]
        command += ["--max-abandons", str(plan.max_abandons)]
        command += ["--timeout", str(plan.timeout), "--timeout-grace", str(plan.timeout_grace)]
        command += ["--hang", str(plan.hang)]
        command += ["--options", json.dumps(self.target.worker_options)]
        if plan.lease is not None:
            command += ["--lease", str(plan.lease)]
        path = self.stderr / f"{len(self.live) + len(self.ended)}.txt"
        with path.open("wb") as err:
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        self.live.append(process)
        self.stderr_of[process.pid] = path

    def kill(self, rng: random.Random) -> None:
        """SIGKILL a random worker and start another."""
        victim = rng.choice(self.live)
        if victim.poll() is not None:
            return  # it died on its own meanwhile: supervise() sees to it
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        self.killed.add(victim.pid)
        self.live.remove(victim)
        self.ended.append(victim)
        self.start()

    def pause(self, rng: random.Random, seconds: float) -> None:
        """SIGSTOP a random worker for `seconds`, then SIGCONT it: its leases lapse meanwhile,
        and its running jobs pass their timeout."""
        victim = rng.choice(self.live)
        victim.send_signal(signal.SIGSTOP)
        # Not a synchronisation: the pause is the fault itself, and its length must exceed the
        # lease for the lease to lapse.
        threading.Event().wait(seconds)
        victim.send_signal(signal.SIGCONT)
        self.paused[victim.pid] += 1

    def supervise(self) -> None:
        """Replace a worker a poison job killed; fail if a worker exited otherwise (a crash at
        start-up or later)."""
        for process in list(self.live):
            if process.poll() is None:
                continue
            if process.returncode == -signal.SIGKILL and self._killed_itself(process.pid):
                self.poisoned.add(process.pid)
                self.live.remove(process)
                self.ended.append(process)
                self.start()
                continue
            raise AssertionError(
                f"soak worker {process.pid} exited on its own with status "
                f"{process.returncode}:\n{self._stderr(process.pid)}"
            )

    def _killed_itself(self, pid: int) -> bool:
        path = self.journals / f"{pid}.log"
        return path.exists() and any(
            line.startswith("kill_self ") for line in path.read_text().splitlines()
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

    def _stderr(self, pid: int) -> str:
        return self.stderr_of[pid].read_text(errors="replace")[-3000:]

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
    roles: dict[str, str] = {}
    planned = plan.roles()
    for start in range(0, plan.jobs, 1000):
        batch = [
            NewJob(job_type="soak", payload={"n": n, "role": role})
            for n, role in enumerate(planned[start : start + 1000], start)
        ]
        new = target.enqueue(batch)
        roles.update(zip(new, (job.payload["role"] for job in batch), strict=True))
    began = time.monotonic()
    with Fleet(target, plan, directory) as fleet:
        for _ in range(plan.workers):
            fleet.start()
        _chaos(target, plan, fleet, figures, rng, began)
        statuses = fleet.stop()
        figures.seconds = round(time.monotonic() - began, 1)
        figures.kills = len(fleet.killed)
        journals = read_journals(fleet.journals)
        faults = Faults(killed=fleet.killed | fleet.poisoned, paused=fleet.paused)
    problems = [f"worker {pid} stopped with status {s}" for pid, s in statuses.items() if s]
    problems += account(target, plan, roles, journals, faults, figures)
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
        fleet.supervise()
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
    # Each (job id, attempt)'s outcome events, with the error type recorded ("-": none).
    events: dict[tuple[str, int], list[tuple[str, str]]] = field(default_factory=dict)
    # Attempts recorded as failed with JobTimeout: a cut.
    timeouts: Counter[tuple[str, int, int]] = field(default_factory=Counter)
    faults: Counter[int] = field(default_factory=Counter)  # store errors, by pid
    worker_errors: list[int] = field(default_factory=list)  # anything else: a bug, by pid
    interrupted: list[int] = field(default_factory=list)
    # Attempts the worker refused to run: the job had been abandoned max_abandons times, so
    # it was archived as failed (JobAbandoned) without a handler run.
    abandoned: set[tuple[str, int, int]] = field(default_factory=set)
    kill_self: Counter[str] = field(default_factory=Counter)  # poison runs, by job id
    cut_store_errors: int = 0  # cuts that failed on the store (also in faults)


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
            elif words[0] == "kill_self":
                journals.kill_self[words[1]] += 1
            elif words[0].startswith("job_"):
                key = (words[1], int(words[2]))
                error_type = words[3] if len(words) > 3 else "-"
                journals.outcomes[(*key, pid)] += 1
                journals.events.setdefault(key, []).append((words[0], error_type))
                if error_type == "JobTimeout":
                    journals.timeouts[(*key, pid)] += 1
            elif words[:2] == ["fault", "worker_error"]:
                journals.worker_errors.append(pid)
            elif words[0] == "fault":
                journals.faults[pid] += 1
                journals.cut_store_errors += words[1] == "cut_store_error"
            elif words[0] == "interrupted":
                journals.interrupted.append(pid)
    return journals


@dataclass(frozen=True)
class Faults:
    """The faults the chaos dealt each worker process, by pid, as the test saw them."""

    killed: set[int] = field(default_factory=set)  # SIGKILLed: by the chaos or a poison job
    paused: Counter[int] = field(default_factory=Counter)  # SIGSTOPs past the timeout


def account(
    target: Target,
    plan: Plan,
    roles: dict[str, str],
    journals: Journals,
    faults: Faults,
    figures: Figures,
) -> list[str]:
    """Check the end state and explain every handler run; fills `figures`, returns problems.
    `roles` gives every enqueued job's role, by id."""
    problems: list[str] = []
    rows = target.archive()
    by_id: dict[str, Row] = {}
    for row in rows:
        if row[0] in by_id:
            figures.duplicate_archive_rows += 1
        by_id[row[0]] = row
    if figures.duplicate_archive_rows:
        problems.append(f"{figures.duplicate_archive_rows} duplicate archive rows")
    missing = [job_id for job_id in roles if job_id not in by_id]
    figures.jobs_lost = len(missing)
    if missing:
        problems.append(f"{len(missing)} jobs never archived, e.g. {missing[:3]}")
    strangers = set(by_id) - set(roles)
    if strangers:
        problems.append(f"{len(strangers)} archived jobs were never enqueued")
    queued = target.queued_count()
    if queued:
        problems.append(f"{queued} jobs left in the queue")
    if journals.interrupted:
        problems.append(f"workers {sorted(set(journals.interrupted))} stopped on a BaseException")
    if journals.worker_errors:
        # A claim-and-run (or a cut) that failed on something other than a store error: an
        # untranslated driver exception or a bug, never a fault the chaos causes.
        problems.append(f"{len(journals.worker_errors)} worker_error events")
    problems += _explain_timeouts(journals, roles, plan, faults)
    poisoned = {pid for (job_id, _, pid) in journals.runs if roles.get(job_id) == "poison"}
    chaos = bool(faults.killed - poisoned) or any(journals.faults.values())
    for job_id, role in roles.items():
        if job_id in by_id:
            problems += _check_job(by_id[job_id], role, plan, journals, chaos=chaos)
    _count(figures, by_id, roles, journals)
    problems += _explain_runs(journals, faults.killed, plan, figures)
    problems += _explain_abandons(by_id, journals, faults.killed, plan, figures)
    return problems


def _cut_short_runs(journals: Journals) -> Counter[str]:
    """Each job's handler runs that recorded no outcome, by job id."""
    cut: Counter[str] = Counter()
    for (job_id, attempt, pid), runs in journals.runs.items():
        cut[job_id] += max(0, runs - journals.outcomes.get((job_id, attempt, pid), 0))
    return cut


def _explain_timeouts(
    journals: Journals, roles: dict[str, str], plan: Plan, faults: Faults
) -> list[str]:
    """A JobTimeout is a hung job's first attempt, or a job that was running when its worker
    was paused past the timeout: at most one per thread per pause of that process."""
    problems: list[str] = []
    others: Counter[int] = Counter()
    for (job_id, attempt, pid), count in journals.timeouts.items():
        if roles.get(job_id) != "hung" or attempt != 1:
            others[pid] += count
    for pid, count in others.items():
        allowed = plan.threads * faults.paused[pid]
        if count > allowed:
            problems.append(
                f"worker {pid} cut {count} attempts with JobTimeout that were not a hung job's "
                f"first, and was paused {faults.paused[pid]} times"
            )
    return problems


def _check_job(row: Row, role: str, plan: Plan, journals: Journals, *, chaos: bool) -> list[str]:
    """The job's archive row is the outcome its role predicts (crashed attempts are not
    counted, on any store), or a refusal as JobAbandoned after max_abandons abandonments (each
    explained by a fault: see _explain_abandons); and it agrees with what the workers
    logged."""
    job_id, status, attempts, abandons, error_type = row
    problems: list[str] = []
    last = plan.retries + 1
    events = {attempt: journals.events.get((job_id, attempt), []) for attempt in range(1, last + 2)}
    cut = frozenset(
        attempt
        for attempt, logged in events.items()
        if any(error == "JobTimeout" for _, error in logged)
    )
    refused = (status, error_type, abandons) == ("failed", "JobAbandoned", plan.max_abandons)
    if role == "poison":
        # Its handler never returns: each claim kills the worker, and is counted abandoned
        # by the next, until the one after max_abandons refuses it (that refusal is its only,
        # counted, attempt). On MySQL a kill under a plain claim goes uncounted, hence >=.
        # Where the chaos struck (`chaos`), a claim of it may have been cut before its handler
        # ran (a worker killed first, a lost claim reply): an abandonment without a kill, which
        # _explain_abandons accounts for with the others.
        kills = journals.kill_self[job_id]
        ok = refused and attempts == 1 and (kills >= plan.max_abandons or (chaos and kills >= 1))
        if not ok:
            problems.append(
                f"poison job {job_id} archived {status} after {attempts} attempts and "
                f"{abandons} abandons ({error_type}); it killed {journals.kill_self[job_id]} "
                "workers"
            )
    else:
        want = expected_outcome(
            job_id, role=role, retries=plan.retries, percent=plan.fail_percent, cut=cut
        )
        if error_type == "JobAbandoned":
            # Refused after max_abandons abandonments, on an attempt that was due (every
            # earlier one failed as the rule says).
            ok = refused and attempts <= want[1]
        else:
            wanted_error = None
            if want[0] == "failed":
                wanted_error = "JobTimeout" if want[1] in cut else "SoakFailure"
            ok = (status, attempts, error_type) == (*want, wanted_error)
        if not ok:
            problems.append(
                f"{role} job {job_id} archived {status} after {attempts} attempts and "
                f"{abandons} abandons ({error_type}); the rule says {want[0]} after {want[1]}"
            )
        if role == "hung" and status == "succeeded" and 1 not in cut:
            problems.append(f"hung job {job_id} succeeded without its first attempt being cut")
    finals = [
        (attempt, event)
        for attempt, logged in events.items()
        for event, _ in logged
        if event != "job_retry_scheduled"
    ]
    if len(finals) > 1:
        problems.append(f"job {job_id} finished more than once: {finals}")
    expected_event = "job_succeeded" if status == "succeeded" else "job_failed"
    if finals and finals[0] != (attempts, expected_event):
        problems.append(f"job {job_id} logged {finals[0]} but is archived {status}/{attempts}")
    for attempt, logged in events.items():
        if len(logged) > 1:
            problems.append(f"attempt {attempt} of job {job_id} has outcomes {logged}")
    return problems


def _count(
    figures: Figures, by_id: dict[str, Row], roles: dict[str, str], journals: Journals
) -> None:
    figures.succeeded = sum(1 for row in by_id.values() if row[1] == "succeeded")
    figures.failed = sum(1 for row in by_id.values() if row[1] == "failed")
    figures.poison = sum(1 for role in roles.values() if role == "poison")
    figures.hung = sum(1 for role in roles.values() if role == "hung")
    figures.poison_kills = sum(journals.kill_self.values())
    figures.timeout_cuts = sum(journals.timeouts.values())
    figures.cut_store_errors = journals.cut_store_errors
    for job_id, (_, status, attempts, _, error_type) in by_id.items():
        role = roles.get(job_id)
        abandoned = error_type == "JobAbandoned"
        if role == "poison":
            figures.poison_abandoned += abandoned
        elif role == "hung":
            figures.hung_abandoned += abandoned
            first_cut = ("job_retry_scheduled", "JobTimeout") in journals.events.get(
                (job_id, 1), []
            )
            figures.hung_cut_succeeded += status == "succeeded" and attempts == 2 and first_cut
        else:
            figures.other_jobs_abandoned += abandoned


def _explain_runs(journals: Journals, killed: set[int], plan: Plan, figures: Figures) -> list[str]:
    """Every handler run either recorded its outcome (a cut run's is its JobTimeout, recorded
    by the cut), or was cut short by a fault its own process suffered: SIGKILL (at most one run
    per thread), or a store error reported by the thread running it or cutting it (at most one
    run per reported error)."""
    figures.handler_runs = sum(journals.runs.values())
    figures.retried_runs = sum(
        1 for events in journals.events.values() for e, _ in events if e == "job_retry_scheduled"
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


def _explain_abandons(
    by_id: dict[str, Row], journals: Journals, killed: set[int], plan: Plan, figures: Figures
) -> list[str]:
    """Every abandonment a store counted is explained by a fault. One cut short a run of the
    job (a run with no outcome, explained by _explain_runs); any others cut a claim before its
    handler began (a MySQL careful claim counts before the job runs; a Redis claim's reply
    can be lost). A fault explains one of either: a killed process one per thread, a store
    error one. So the runs cut short and the abandonments without a run together stay within
    what the faults explain."""
    cut_short = _cut_short_runs(journals)
    figures.runless_abandons = sum(
        max(0, abandons - cut_short[job_id]) for job_id, _, _, abandons, _ in by_id.values()
    )
    pids = {pid for _, _, pid in journals.runs} | set(journals.faults) | killed
    explained = sum(journals.faults[pid] + (plan.threads if pid in killed else 0) for pid in pids)
    if figures.interrupted_runs + figures.runless_abandons > explained:
        return [
            f"{figures.interrupted_runs} runs cut short and {figures.runless_abandons} "
            f"abandonments without a run, but the faults explain {explained}"
        ]
    return []
