"""Running one claimed job: the handler under its middleware, core's decision, one store call.

Every path from a claim to its outcome ends the claim, whatever raises in between: an error in
proletarian, a retry function or an exception's own `__str__` still records a failure; a store
that refuses an outcome gets a minimal failure record instead; an outcome write a leased claim
could not send is sent again while the lease holds; a BaseException (KeyboardInterrupt,
SystemExit) gives the job back and propagates.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from proletarian.core.decisions import Decision, Fail, RetryAt, Succeed, admit, decide
from proletarian.core.errors import (
    ClaimLost,
    JobAbandoned,
    JobTimeout,
    SerializationError,
    StoreError,
    StoreUnavailable,
    TransactionAborted,
)
from proletarian.core.job import Job, JobError
from proletarian.core.policy import NO_RETRY, RetryPolicy
from proletarian.ports.clock import Clock
from proletarian.ports.events import EventLog
from proletarian.ports.store import Claim, Renewable
from proletarian.worker.context import CallNext, JobContext
from proletarian.worker.handlers import Handlers
from proletarian.worker.options import WorkerOptions

# Waits between attempts to send an outcome a leased claim could not send (store unreachable).
OUTCOME_RETRY_FIRST = 0.05
OUTCOME_RETRY_MAX = 2.0


def _own() -> bool:
    return True


def error_of(exc: BaseException) -> JobError:
    """The error to record for `exc`, even when its `__str__` or its traceback can't be
    rendered (an exception's own code may raise)."""
    return JobError(
        type=type(exc).__qualname__,
        message=_rendered(lambda: str(exc), exc, "message"),
        traceback=_rendered(lambda: "".join(traceback.format_exception(exc)), exc, "traceback"),
    )


def _rendered(render: Callable[[], str], exc: BaseException, what: str) -> str:
    try:
        text = render()
    except Exception as failure:
        return f"<the {what} of {type(exc).__qualname__} could not be rendered: {failure!r}>"
    return text if isinstance(text, str) else repr(text)


@attrs.frozen(kw_only=True)
class Runner:
    """Everything needed to run a claim to its outcome. Stateless, shared by worker threads.

    Attributes:
        call: The handler under its middleware (see dispatch.job_call).
        registry: The handler when it is a `Handlers` registry, whose retry policies and
            timeouts per job type come before the options'.
    """

    call: CallNext
    registry: Handlers | None
    options: WorkerOptions
    clock: Clock
    log: EventLog
    jitter: Callable[[], float]
    interrupt: Callable[[], None]

    def run(self, claim: Claim, ctx: JobContext, end: Callable[[], bool] = _own) -> None:
        """Run the claimed job and record its outcome. A handler's Exception is an outcome;
        a BaseException stops the worker (`interrupt` is called first, so no sibling thread
        claims the job meanwhile), gives the job back and propagates. `end` says, once the
        handler returned, whether this thread still records the outcome (False: the job was
        cut, see `cut`)."""
        job = claim.job
        data = _event_data(job, ctx)
        owned = False
        try:
            self.log("job_claimed", data)
            try:
                decision, exc = self._attempt(claim, job, ctx, data)
            except Exception as bug:
                # Not the handler's error (that is an outcome): ours, or a policy's. Recording
                # it as the failure ends the claim; giving the job back would loop.
                decision, exc = Fail(error=error_of(bug)), bug
            owned = end()
            if not owned:
                self.log("cut_job_returned", data)
                return
            self._conclude(claim, job, decision, exc, data)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.interrupt()
            if owned or end():
                give_back([claim])
            raise

    def cut(self, claim: Claim, worker_id: str, timeout: timedelta) -> None:
        """Record the attempt of a handler still running past its timeout's grace as failed
        with JobTimeout (retried by the policy), from another thread: the claim is first
        interrupted, so the handler's transaction no longer holds the job."""
        job = claim.job
        data = {**_event_data(job), "worker_id": worker_id}
        exc = JobTimeout(
            f"the handler of job {job.id} was still running past its timeout of "
            f"{timeout.total_seconds():g} s and its grace period; it was cut"
        )
        self.log("job_timed_out", {**data, "error": str(exc)})
        claim.interrupt()
        self._conclude(claim, job, self._decide_error(job, exc), exc, data)

    def timeout_for(self, job: Job) -> timedelta | None:
        if self.registry is not None:
            per_type = self.registry.timeout_for(job.job_type)
            if per_type is not None:
                return per_type
        return self.options.timeout

    def _attempt(
        self, claim: Claim, job: Job, ctx: JobContext, data: dict[str, Any]
    ) -> tuple[Decision, BaseException | None]:
        """Run the handler unless the job can't or mustn't run. Returns the decision and the
        exception behind it (None on success)."""
        if claim.decode_error is not None:
            return Fail(error=claim.decode_error), SerializationError(claim.decode_error.message)
        refused = admit(job, self.options.max_abandons)
        if refused is not None:
            self.log("job_abandoned", {**data, "error": refused.error.message})
            return refused, JobAbandoned(refused.error.message)
        started = time.monotonic()
        exc = self._call(job, ctx)
        data["duration"] = round(time.monotonic() - started, 6)
        return (Succeed(), None) if exc is None else (self._decide_error(job, exc), exc)

    def _decide_error(self, job: Job, exc: BaseException) -> Decision:
        error = error_of(exc)
        policy = self._policy(job, exc)
        try:
            return decide(job, error, policy, self.clock.now(), self.jitter())
        except Exception as bug:
            self.log("retry_function_error", {**_event_data(job), **_error_data(error_of(bug))})
            return Fail(error=error)

    def _conclude(
        self,
        claim: Claim,
        job: Job,
        decision: Decision,
        exc: BaseException | None,
        data: dict[str, Any],
    ) -> None:
        """Write the decision, and report it: exactly one outcome ends the claim."""
        try:
            decision, exc = self._record(claim, job, decision, exc, data)
        except (StoreUnavailable, ClaimLost):
            raise
        except StoreError as refused:
            # The claim is still held after a refusal (see Claim): something it can keep ends
            # it, rather than a loop of runs.
            self.log("outcome_refused", {**data, "error": str(refused)})
            decision, exc = self._record_refused(claim, job, decision, exc, refused, data)
        if isinstance(decision, Succeed):
            self.log("job_succeeded", data)
        elif isinstance(decision, RetryAt):
            self.log(
                "job_retry_scheduled",
                {**data, "retry_at": decision.when.isoformat(), **_error_data(decision.error)},
            )
        else:
            self.log("job_failed", {**data, **_error_data(decision.error)})
            self._after_failure(job, exc or JobAbandoned(decision.error.message), data)

    def _record_refused(
        self,
        claim: Claim,
        job: Job,
        decision: Decision,
        exc: BaseException | None,
        refused: StoreError,
        data: dict[str, Any],
    ) -> tuple[Decision, BaseException | None]:
        """After the store refused `decision`: the same outcome with a small error (a refusal
        may have come from the claim's state, a transaction the handler ended, not from the
        values), then, refused again, a small failure."""
        kind = "success" if isinstance(decision, Succeed) else decision.error.type
        small = JobError(
            type="OutcomeRefused",
            message=f"the store refused to record this attempt's outcome ({kind}): {refused}",
        )
        same = decision if isinstance(decision, Succeed) else attrs.evolve(decision, error=small)
        exc = exc or refused
        try:
            return self._record(claim, job, same, exc, data)
        except (StoreUnavailable, ClaimLost):
            raise
        except StoreError:
            failed = Fail(error=small)
            self._record(claim, job, failed, exc, data)
            return failed, exc

    def _record(
        self,
        claim: Claim,
        job: Job,
        decision: Decision,
        exc: BaseException | None,
        data: dict[str, Any],
    ) -> tuple[Decision, BaseException | None]:
        """One outcome call for the decision; the decision and exception it recorded."""
        if isinstance(decision, Succeed):
            try:
                self._write(claim, claim.succeed, data)
                return decision, exc
            except TransactionAborted as aborted:
                decision, exc = self._decide_error(job, aborted), aborted
        if isinstance(decision, RetryAt):
            retry = decision
            self._write(claim, lambda: claim.retry_at(retry.when, retry.error), data)
        elif isinstance(decision, Fail):
            fail = decision
            self._write(claim, lambda: claim.fail(fail.error), data)
        return decision, exc

    def _write(self, claim: Claim, outcome: Callable[[], None], data: dict[str, Any]) -> None:
        """Send an outcome. A leased claim whose store can't be reached sends it again while
        its lease can still hold (the worker's heartbeat renews it meanwhile), so a short
        outage doesn't turn a finished job into an abandoned one. A transactional claim's
        transaction is gone with its connection: nothing is left to send."""
        wait = OUTCOME_RETRY_FIRST
        deadline: float | None = None
        while True:
            try:
                outcome()
                return
            except StoreUnavailable as exc:
                if not isinstance(claim, Renewable):
                    raise
                now = time.monotonic()
                deadline = deadline or now + claim.lease.total_seconds()
                if now + wait > deadline:
                    raise
                self.log(
                    "store_unavailable",
                    {**data, "error": str(exc), "during": "outcome", "retry_in": wait},
                )
            time.sleep(wait)
            wait = min(wait * 2, OUTCOME_RETRY_MAX)

    def _call(self, job: Job, ctx: JobContext) -> Exception | None:
        try:
            self.call(job, ctx)
        except Exception as exc:
            return exc
        return None

    def _policy(self, job: Job, exc: BaseException) -> RetryPolicy:
        if self.registry is not None:
            per_type = self.registry.retry_for(job.job_type)
            if per_type is not None:
                return per_type
        retry = self.options.retry
        if retry is None:
            return NO_RETRY
        if isinstance(retry, RetryPolicy):
            return retry
        try:
            policy = retry(job, exc)
        except Exception as error:
            self.log("retry_function_error", {**_event_data(job), **_error_data(error_of(error))})
            return NO_RETRY
        if policy is None:
            return NO_RETRY
        if not isinstance(policy, RetryPolicy):
            self.log(
                "retry_function_error",
                {**_event_data(job), "error": f"returned {policy!r}, not a RetryPolicy or None"},
            )
            return NO_RETRY
        return policy

    def _after_failure(self, job: Job, exc: BaseException, base: Mapping[str, Any]) -> None:
        on_failed = self.options.on_failed
        if on_failed is None:
            return
        try:
            on_failed(job, exc)
        except Exception as error:
            self.log("on_failed_error", {**base, **_error_data(error_of(error))})


def give_back(claims: Iterable[Claim]) -> None:
    """Abandon claims that may already have ended; never raises a store error."""
    for claim in claims:
        with contextlib.suppress(StoreError):
            claim.abandon()


def _event_data(job: Job, ctx: JobContext | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "queue": job.queue,
        "job_id": job.id,
        "job_type": job.job_type,
        "attempt": job.attempt,
    }
    if job.abandons:
        data["abandons"] = job.abandons
    if ctx is not None:
        data["worker_id"] = ctx.worker_id
    return data


def _error_data(error: JobError) -> dict[str, Any]:
    return {"error_type": error.type, "error": error.message, "traceback": error.traceback}
