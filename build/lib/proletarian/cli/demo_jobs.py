"""The demo's sample jobs: a seeded plan of four job types, a few of which fail, and the
handlers that play them out. Outcomes depend only on the plan, never on timing, so a run's
totals are known before it starts."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

from proletarian.core.job import Job, NewJob, Priority
from proletarian.core.policy import RetryPolicy
from proletarian.worker.context import JobContext
from proletarian.worker.handlers import Handlers

QUEUES = {
    "send-email": "demo-emails",
    "resize-image": "demo-images",
    "charge-card": "demo-billing",
    "sync-crm": "demo-crm",
}
JOB_TYPES = tuple(QUEUES)
WEIGHTS = (40, 25, 20, 15)

# Short delays so a demo of thousands of jobs, retries included, ends in seconds.
RETRY = RetryPolicy.exponential(retries=2, base=0.2, factor=2.0, cap=1.0, jitter=0.2)

# How many attempts fail before one succeeds; "always" outlasts every retry.
FAILURES = {"never": 0, "once": 1, "twice": 2, "always": RETRY.max_attempts}

ErrorFactory = Callable[[Job], Exception]

# (transient error, permanent error) per job type, as a real integration might raise them.
ERRORS: dict[str, tuple[ErrorFactory, ErrorFactory]] = {
    "send-email": (
        lambda job: ConnectionError("SMTP server closed the connection"),
        lambda job: ValueError(f"mailbox {job.payload['to']} does not exist"),
    ),
    "resize-image": (
        lambda job: TimeoutError("image store timed out"),
        lambda job: ValueError(f"{job.payload['image']} is not a readable image"),
    ),
    "charge-card": (
        lambda job: ConnectionError("payment gateway answered 503"),
        lambda job: ValueError(f"card for order {job.payload['order']} was declined"),
    ),
    "sync-crm": (
        lambda job: TimeoutError("CRM API rate limit (429)"),
        lambda job: LookupError(f"CRM contact {job.payload['contact']} was deleted"),
    ),
}


@attrs.define
class Outcome:
    """Counts for one job type: planned before a run, or tallied from a run's events."""

    jobs: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0


def plan(jobs: int, seed: int) -> list[NewJob]:
    """`jobs` sample jobs drawn from `seed`: about 3% fail once, 2% twice (both then succeed),
    1% on every attempt; 5% are delayed by 1 to 2 seconds and 10% have high priority."""
    rng = random.Random(seed)
    planned = []
    for n in range(jobs):
        job_type = rng.choices(JOB_TYPES, weights=WEIGHTS)[0]
        roll = rng.random()
        fails = (
            "always"
            if roll < 0.01
            else "twice"
            if roll < 0.03
            else "once"
            if roll < 0.06
            else "never"
        )
        delay = rng.uniform(1.0, 2.0) if rng.random() < 0.05 else None
        priority = Priority.HIGH if rng.random() < 0.10 else Priority.NORMAL
        simulate = {"work_ms": round(rng.uniform(0.2, 3.0), 2), "fails": fails}
        planned.append(
            NewJob(
                job_type=job_type,
                payload={**_business_fields(job_type, n, rng), "simulate": simulate},
                queue=QUEUES[job_type],
                priority=priority,
                process_in=None if delay is None else timedelta(seconds=delay),
            )
        )
    return planned


def expected(jobs: list[NewJob]) -> dict[str, Outcome]:
    """What a run of `jobs` must end with, per job type."""
    outcomes = {job_type: Outcome() for job_type in JOB_TYPES}
    for job in jobs:
        outcome = outcomes[job.job_type]
        fails = FAILURES[job.payload["simulate"]["fails"]]
        outcome.jobs += 1
        if fails >= RETRY.max_attempts:
            outcome.failed += 1
            outcome.retries += RETRY.retries
        else:
            outcome.succeeded += 1
            outcome.retries += fails
    return outcomes


def handlers() -> Handlers:
    """A registry with one handler per sample job type."""
    registry = Handlers()
    for job_type in JOB_TYPES:
        registry.register(job_type, with_context=True)(_simulation(job_type))
    return registry


def _simulation(job_type: str) -> Callable[[Job, JobContext], None]:
    transient, permanent = ERRORS[job_type]

    def handle(job: Job, ctx: JobContext) -> None:
        simulate = job.payload["simulate"]
        # Stand-in for I/O; cut short when the worker stops.
        ctx.stopping.wait(simulate["work_ms"] / 1000)
        fails = FAILURES[simulate["fails"]]
        if job.attempt <= fails:
            raise (permanent if fails >= RETRY.max_attempts else transient)(job)

    handle.__name__ = handle.__qualname__ = job_type.replace("-", "_")
    return handle


def _business_fields(job_type: str, n: int, rng: random.Random) -> dict[str, Any]:
    if job_type == "send-email":
        return {"to": f"user{n}@example.com", "template": rng.choice(["welcome", "receipt"])}
    if job_type == "resize-image":
        return {"image": f"uploads/{n}.jpg", "width": rng.choice([320, 640, 1280])}
    if job_type == "charge-card":
        return {"order": 10_000 + n, "cents": rng.randrange(500, 20_000)}
    return {"contact": n, "fields": rng.choice([["email"], ["email", "phone"]])}
