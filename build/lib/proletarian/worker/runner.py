"""Running one claimed job: the handler under its middleware, core's decision, one store call."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import attrs

from proletarian.core.decisions import Decision, Fail, RetryAt, Succeed, admit, decide
from proletarian.core.errors import (
    ConfigurationError,
    JobAbandoned,
    SerializationError,
    TransactionAborted,
)
from proletarian.core.job import Job, JobError
from proletarian.core.policy import NO_RETRY, RetryPolicy
from proletarian.ports.clock import Clock
from proletarian.ports.events import EventLog
from proletarian.ports.store import Claim
from proletarian.worker.context import JobContext, Middleware
from proletarian.worker.handlers import Handlers

HandlerMode = Literal["default", "advanced"]
RetryFunction = Callable[[Job, BaseException], RetryPolicy | None]
OnFailed = Callable[[Job, BaseException], object]


def error_of(exc: BaseException) -> JobError:
    return JobError(
        type=type(exc).__qualname__,
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
    )


@attrs.frozen(kw_only=True)
class Runner:
    """Everything needed to run a claim to its outcome. Stateless, shared by worker threads."""

    handler: Any
    mode: HandlerMode
    retry: RetryPolicy | RetryFunction | None
    on_failed: OnFailed | None
    middleware: Sequence[Middleware]
    clock: Clock
    log: EventLog
    jitter: Callable[[], float]

    def run(self, claim: Claim, ctx: JobContext) -> None:
        """Run the claimed job and record its outcome. A handler's Exception is an outcome;
        a BaseException abandons the claim (the job runs again later) and propagates."""
        job = claim.job
        data = _event_data(job, ctx)
        self.log("job_claimed", data)
        decision, exc = self._attempt(claim, job, ctx, data)
        if isinstance(decision, Succeed):
            try:
                claim.succeed()
            except TransactionAborted as aborted:
                decision, exc = self._decide_error(job, aborted), aborted
            else:
                self.log("job_succeeded", data)
                return
        if isinstance(decision, RetryAt):
            claim.retry_at(decision.when, decision.error)
            self.log(
                "job_retry_scheduled",
                {**data, "retry_at": decision.when.isoformat(), **_error_data(decision.error)},
            )
        elif isinstance(decision, Fail):
            claim.fail(decision.error)
            self.log("job_failed", {**data, **_error_data(decision.error)})
            assert exc is not None  # every failing decision comes from an exception
            self._after_failure(job, exc, data)

    def _attempt(
        self, claim: Claim, job: Job, ctx: JobContext, data: dict[str, Any]
    ) -> tuple[Decision, BaseException | None]:
        """Run the handler unless the job can't or mustn't run. Returns the decision and the
        exception behind it (None on success)."""
        if claim.decode_error is not None:
            return Fail(error=claim.decode_error), SerializationError(claim.decode_error.message)
        # Only a job whose worker died holding it can have run out of attempts unseen.
        refused = admit(job, self._policy(job, JobAbandoned())) if claim.reclaimed else None
        if refused is not None:
            self.log("job_abandoned", {**data, "error": refused.error.message})
            return refused, JobAbandoned(refused.error.message)
        started = time.monotonic()
        exc = self._call(claim, job, ctx)
        data["duration"] = round(time.monotonic() - started, 6)
        return (Succeed(), None) if exc is None else (self._decide_error(job, exc), exc)

    def _decide_error(self, job: Job, exc: BaseException) -> Decision:
        policy = self._policy(job, exc)
        return decide(job, error_of(exc), policy, self.clock.now(), self.jitter())

    def _call(self, claim: Claim, job: Job, ctx: JobContext) -> Exception | None:
        try:
            call_next = self._innermost
            for middleware in reversed(self.middleware):
                call_next = _wrap(middleware, call_next)
            call_next(job, ctx)
        except Exception as exc:
            return exc
        except BaseException:
            claim.abandon()
            raise
        return None

    def _innermost(self, job: Job, ctx: JobContext) -> None:
        if isinstance(self.handler, Handlers):
            result = self.handler.dispatch(job, ctx)
        elif self.mode == "advanced":
            result = self.handler(job, ctx)
        else:
            result = self.handler(job.job_type, job.payload)
        if hasattr(result, "__await__"):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise ConfigurationError(
                "the handler returned an awaitable; the threaded worker needs a plain function"
            )

    def _policy(self, job: Job, exc: BaseException) -> RetryPolicy:
        if isinstance(self.handler, Handlers):
            per_type = self.handler.retry_for(job.job_type)
            if per_type is not None:
                return per_type
        if self.retry is None:
            return NO_RETRY
        if isinstance(self.retry, RetryPolicy):
            return self.retry
        try:
            policy = self.retry(job, exc)
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
        if self.on_failed is None:
            return
        try:
            self.on_failed(job, exc)
        except Exception as error:
            self.log("on_failed_error", {**base, **_error_data(error_of(error))})


def _wrap(middleware: Middleware, call_next: Callable[[Job, JobContext], None]) -> Any:
    def call(job: Job, ctx: JobContext) -> None:
        middleware(job, ctx, call_next)

    return call


def _event_data(job: Job, ctx: JobContext | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "queue": job.queue,
        "job_id": job.id,
        "job_type": job.job_type,
        "attempt": job.attempt,
    }
    if ctx is not None:
        data["worker_id"] = ctx.worker_id
    return data


def _error_data(error: JobError) -> dict[str, Any]:
    return {"error_type": error.type, "error": error.message, "traceback": error.traceback}
