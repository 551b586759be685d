"""The event log port: every state change is reported as a name and a small mapping.

Names are stable: worker_started, worker_stopping, worker_stopped, worker_interrupted,
worker_error, worker_thread_replaced, job_claimed, job_succeeded, job_retry_scheduled,
job_failed, job_abandoned, job_timed_out, cut_job_returned, outcome_refused, claim_lost,
store_unavailable, store_recovered, listener_lost, retry_function_error, on_failed_error,
shutdown_stragglers, shutdown_released. A sink must be thread-safe; one that raises is reported
to the logging module and never affects a job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EventLog = Callable[[str, Mapping[str, Any]], None]
"""An event sink (`QueueWorker(log=...)`): called with an event's name, one of those above, and
its data (queue, job id, job type, attempt, duration, error, ...)."""
