"""The event log port: every state change is reported as a name and a small mapping.

Names are stable: worker_started, worker_stopping, worker_stopped, worker_interrupted,
worker_error, job_claimed, job_succeeded, job_retry_scheduled, job_failed, job_abandoned,
claim_lost, store_unavailable, store_recovered, listener_lost, retry_function_error,
on_failed_error, shutdown_stragglers. A sink must be thread-safe; one that raises is reported to
the logging module and never affects a job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EventLog = Callable[[str, Mapping[str, Any]], None]
