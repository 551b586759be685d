"""Core: jobs, retry policies, backoff and decisions, with exact times."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proletarian import ConfigurationError, JobError, NewJob, Priority, RetryPolicy
from proletarian.core.checks import optional_duration, positive_duration, positive_int
from proletarian.core.decisions import Fail, RetryAt, Succeed, admit, decide
from proletarian.core.job import (
    MAX_ERROR_MESSAGE,
    MAX_ERROR_TRACEBACK,
    MAX_ERROR_TYPE,
    Job,
    JobStatus,
)
from proletarian.core.names import storable, table_name
from proletarian.core.policy import MAX_DELAY, Backoff
from proletarian.core.urls import kind_of, redact

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ERR = JobError(type="E", message="m")


def job(attempts: int = 0) -> Job:
    return Job(
        id="1",
        queue="q",
        job_type="t",
        payload=None,
        attempts=attempts,
        enqueued_at=NOW,
        process_at=NOW,
        status=JobStatus.RUNNING,
    )


def test_delays_list_with_the_last_repeating() -> None:
    """Retry k waits delays[k-1]; past the list the last delay repeats."""
    policy = RetryPolicy(retries=5, delays=[1, 10, 60])
    assert [policy.delay(k, 0.5) for k in range(1, 6)] == [1, 10, 60, 60, 60]


def test_no_delays_means_retry_at_once() -> None:
    """A policy without delays retries immediately."""
    assert RetryPolicy(retries=2).delay(1, 0.9) == 0


def test_exponential_backoff_exact_values_without_jitter() -> None:
    """Exponential delays are base * factor**(k-1), capped."""
    policy = RetryPolicy.exponential(retries=10, base=1, factor=2, cap=20, jitter=0)
    assert [policy.delay(k, 0.3) for k in range(1, 7)] == [1, 2, 4, 8, 16, 20]


def test_jitter_spreads_by_the_draw() -> None:
    """The jitter draw maps [0, 1) onto -jitter..+jitter of the raw delay."""
    policy = RetryPolicy.exponential(retries=3, base=10, factor=2, cap=100, jitter=0.1)
    assert policy.delay(1, 0.0) == pytest.approx(9.0)
    assert policy.delay(1, 0.5) == pytest.approx(10.0)
    assert policy.delay(2, 0.999999) == pytest.approx(22.0, rel=1e-5)


@given(
    retry=st.integers(min_value=1, max_value=5000),
    base=st.floats(min_value=0, max_value=1e6),
    factor=st.floats(min_value=1, max_value=100),
    cap=st.floats(min_value=0, max_value=1e7),
    jitter=st.floats(min_value=0, max_value=1),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_never_exceeds_the_cap(
    retry: int, base: float, factor: float, cap: float, jitter: float, draw: float
) -> None:
    """Whatever the retry number and draw, the delay lies in [0, cap]."""
    policy = RetryPolicy.exponential(
        retries=retry, base=base, factor=factor, cap=cap, jitter=jitter
    )
    delay = policy.delay(retry, draw)
    assert 0 <= delay <= cap
    assert math.isfinite(delay)


@given(
    base=st.floats(min_value=0, max_value=1e3),
    factor=st.floats(min_value=1, max_value=10),
    cap=st.floats(min_value=0, max_value=1e5),
    retries=st.integers(min_value=1, max_value=200),
)
def test_backoff_before_jitter_never_decreases(
    base: float, factor: float, cap: float, retries: int
) -> None:
    """Before jitter, each retry waits at least as long as the one before."""
    backoff = Backoff(base=base, factor=factor, cap=cap, jitter=0)
    delays = [backoff.raw_delay(k) for k in range(1, retries + 1)]
    assert delays == sorted(delays)


@given(retries=st.integers(min_value=0, max_value=50), draw=st.floats(0, 0.999))
def test_attempts_are_bounded_by_the_policy(retries: int, draw: float) -> None:
    """A job that always fails is tried exactly retries + 1 times, then fails."""
    policy = RetryPolicy.exponential(retries=retries)
    current, runs = job(), 0
    while True:
        runs += 1
        decision = decide(current, ERR, policy, NOW, draw)
        if isinstance(decision, Fail):
            break
        assert isinstance(decision, RetryAt)
        assert decision.when >= NOW
        current = attrs.evolve(current, attempts=current.attempts + 1)
    assert runs == retries + 1


def test_decide_success_and_exact_retry_time() -> None:
    """Success succeeds; an error with attempts left retries at now + the policy's delay."""
    policy = RetryPolicy(retries=2, delays=[5])
    assert decide(job(), None, policy, NOW, 0.5) == Succeed()
    assert decide(job(), ERR, policy, NOW, 0.5) == RetryAt(
        when=NOW + timedelta(seconds=5), error=ERR
    )
    assert decide(job(attempts=2), ERR, policy, NOW, 0.5) == Fail(error=ERR)


def test_admit_refuses_a_job_abandoned_max_abandons_times() -> None:
    """A job whose attempts ended without an outcome max_abandons times is failed as
    JobAbandoned, whatever its retry policy; fewer abandonments let it run."""
    assert admit(attrs.evolve(job(), abandons=2), 3) is None
    refused = admit(attrs.evolve(job(attempts=0), abandons=3), 3)
    assert refused is not None
    assert refused.error.type == "JobAbandoned"
    assert "abandoned 3 times" in refused.error.message


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "3"])
def test_bad_counts_are_refused(value: object) -> None:
    """A count (max_abandons, threads, batch_size) must be an int of 1 or more; the error names
    the option."""
    with pytest.raises(ConfigurationError, match="max_abandons must be an int >= 1"):
        positive_int(value, what="max_abandons")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [timedelta(0), timedelta(seconds=-1), 5, None])
def test_bad_durations_are_refused(value: object) -> None:
    """A duration option must be a positive timedelta; a limit may also be None."""
    with pytest.raises(ConfigurationError, match="grace must be a positive timedelta, got"):
        positive_duration(value, what="grace")  # type: ignore[arg-type]
    if value is not None:
        with pytest.raises(ConfigurationError, match="limit must be a positive timedelta or None"):
            optional_duration(value, what="limit")  # type: ignore[arg-type]
    assert optional_duration(None, what="limit") is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetryPolicy(retries=1, delays=[1e12]),
        lambda: RetryPolicy.exponential(retries=1, cap=1e12),
        lambda: RetryPolicy.exponential(retries=1, base=1e12),
    ],
)
def test_delays_a_due_time_cannot_hold_are_refused(make: Callable[[], RetryPolicy]) -> None:
    """A delay over ten years (1e12 s would overflow the retry's due time) is refused when the
    policy is made, not when a retry is computed."""
    with pytest.raises(ConfigurationError, match="ten years"):
        make()


def test_the_longest_delay_still_gives_a_due_time() -> None:
    """The longest delay a policy accepts yields a due time even from a late clock."""
    policy = RetryPolicy(retries=1, delays=[MAX_DELAY])
    late = datetime(9980, 1, 1, tzinfo=UTC)
    decision = decide(job(), ERR, policy, late, 0.5)
    assert isinstance(decision, RetryAt)
    assert decision.when == late + timedelta(seconds=MAX_DELAY)


def test_error_text_is_made_storable() -> None:
    """NUL and lone surrogates, which databases refuse, are kept as visible escapes."""
    error = JobError(type="Bad\x00Type", message="a\x00b\ud800c", traceback="t\udfff")
    assert error.message == "a\\x00b\\ud800c"
    assert error.traceback == "t\\udfff"
    error.message.encode("utf-8")


def test_long_error_text_keeps_its_start_and_end() -> None:
    """A message or traceback over its limit is cut in the middle, within the limit, saying how
    much was cut; the end, where a traceback names the error, is kept."""
    traceback = "Traceback (most recent call last):\n" + "x" * 500_000 + "\nValueError: boom"
    error = JobError(type="T" * 1000, message="m" * 50_000, traceback=traceback)
    assert len(error.type) <= MAX_ERROR_TYPE
    assert len(error.message) <= MAX_ERROR_MESSAGE
    assert len(error.traceback) <= MAX_ERROR_TRACEBACK
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert error.traceback.endswith("ValueError: boom")
    assert "characters cut" in error.traceback
    assert storable("short", 10) == "short"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "retries must be an int >= 0"),
        ({"retries": True}, "retries must be an int"),
        ({"delays": [1, -2]}, "between 0 and"),
        ({"delays": [float("nan")]}, "finite"),
        ({"delays": "10"}, "sequence of seconds"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A retry policy with bad values raises ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_bad_backoff_is_refused() -> None:
    """Backoff factor below 1 or jitter above 1 is refused."""
    with pytest.raises(ConfigurationError, match="factor"):
        RetryPolicy.exponential(retries=1, factor=0.5)
    with pytest.raises(ConfigurationError, match="jitter"):
        RetryPolicy.exponential(retries=1, jitter=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"process_at": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"process_at": NOW, "process_in": timedelta(1)}, "not both"),
        ({"queue": ""}, "queue"),
        ({"queue": "x" * 256}, "1 to 255"),
        ({"job_type": " padded"}, "job_type"),
        ({"priority": 1}, "proletarian.Priority"),
        ({"meta": {"k": 1}}, "str to str"),
        ({"meta": {str(i): "v" for i in range(40)}}, "at most 32"),
        ({"process_in": 5}, "timedelta"),
    ],
)
def test_bad_new_jobs_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A job with bad fields raises ConfigurationError naming the field."""
    fields: dict[str, object] = {"job_type": "t", "payload": None, **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        NewJob(**fields)  # type: ignore[arg-type]


def test_due_time_resolution() -> None:
    """process_in counts from now, past process_at means now, negative process_in means now."""
    assert NewJob(job_type="t", payload=1).due_at(NOW) == NOW
    later = NOW + timedelta(minutes=3)
    assert NewJob(job_type="t", payload=1, process_at=later).due_at(NOW) == later
    assert NewJob(job_type="t", payload=1, process_at=NOW - timedelta(1)).due_at(NOW) == NOW
    assert NewJob(job_type="t", payload=1, process_in=timedelta(seconds=-5)).due_at(NOW) == NOW
    assert NewJob(job_type="t", payload=1, process_in=timedelta(seconds=9)).due_at(
        NOW
    ) == NOW + timedelta(seconds=9)


def test_priority_order() -> None:
    """CRITICAL sorts before HIGH before NORMAL before LOW (lower value first)."""
    values = [p.value for p in (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)]
    assert values == sorted(values)


@pytest.mark.parametrize("name", ["job", "proletarian.job", "_x1", "a" * 63])
def test_valid_table_names(name: str) -> None:
    """Plain and schema-qualified identifiers are accepted."""
    assert ".".join(table_name(name)) == name


@pytest.mark.parametrize("name", ["jobs;drop", "a.b.c", "1job", "", "a" * 64, 'x"y', "a. b"])
def test_table_names_carrying_sql_are_refused(name: str) -> None:
    """A table name that is not an identifier is refused, quoting what came."""
    with pytest.raises(ConfigurationError, match="is not a valid identifier"):
        table_name(name)


def test_urls_are_redacted_and_classified() -> None:
    """Passwords never survive redaction; schemes map to store kinds."""
    assert redact("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert "s3cret" not in redact("redis://:s3cret@localhost:6379/0")
    assert redact("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db"
    assert kind_of("postgres://x") == "postgres"
    assert kind_of("mariadb://x") == "mysql"
    with pytest.raises(ConfigurationError, match="'ftp' is not supported"):
        kind_of("ftp://user:pw@x")
    with pytest.raises(ConfigurationError, match="has no scheme") as info:
        kind_of("user:pw@host")
    assert "pw" not in str(info.value)


def test_new_job_takes_type_and_payload_by_position() -> None:
    """NewJob("t", payload, ...) works as the API shows; the other fields are keyword-only."""
    job = NewJob("send", {"a": 1}, queue="emails")
    assert (job.job_type, job.payload, job.queue) == ("send", {"a": 1}, "emails")
    with pytest.raises(TypeError):
        NewJob("send", {"a": 1}, "emails")  # type: ignore[call-arg]
