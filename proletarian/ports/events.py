"""The event log port: every state change is reported as a name and a small mapping.

Names are stable: worker_started, worker_stopping, worker_stopped, job_claimed, job_succeeded,
job_retry_scheduled, job_failed, job_abandoned, store_unavailable, store_recovered,
listener_lost, handler_error, on_failed_error, shutdown_stragglers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

EventLog = Callable[[str, Mapping[str, Any]], None]
