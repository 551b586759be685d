"""One thread per worker that renews the leases of the claims its threads are running."""

from __future__ import annotations

import threading
import time
from typing import cast

from proletarian.core.errors import ClaimLost, StoreError
from proletarian.ports.events import EventLog
from proletarian.ports.store import Claim, Renewable


class Heartbeat:
    """Renews each held lease once a third of it has passed. Idle (no thread, no query) while no
    leased claim is held. A lost lease is reported, not fatal: the outcome call will say so."""

    def __init__(self, stopping: threading.Event, log: EventLog) -> None:
        self._stopping = stopping
        self._log = log
        self._cond = threading.Condition()
        self._claims: dict[int, tuple[Claim, float]] = {}
        self._thread: threading.Thread | None = None

    def hold(self, claim: Claim) -> None:
        if not _renewable(claim):
            return
        with self._cond:
            self._claims[id(claim)] = (claim, time.monotonic())
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="proletarian-heartbeat", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def release(self, claim: Claim) -> None:
        if not _renewable(claim):
            return
        with self._cond:
            self._claims.pop(id(claim), None)

    def give_up(self) -> list[Claim]:
        """Stop renewing every held lease and return their claims."""
        with self._cond:
            claims = [claim for claim, _ in self._claims.values()]
            self._claims.clear()
            self._cond.notify_all()
        return claims

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._claims and not self._stopping.is_set():
                    self._cond.wait()
                if not self._claims:
                    self._thread = None
                    return
                now = time.monotonic()
                due = [
                    claim
                    for claim, renewed in self._claims.values()
                    if now - renewed >= _third(claim)
                ]
                soonest = min(
                    renewed + _third(claim) - now for claim, renewed in self._claims.values()
                )
            for claim in due:
                self._renew(claim)
            if not due:
                with self._cond:
                    self._cond.wait(max(soonest, 0.01))

    def _renew(self, claim: Claim) -> None:
        data = {"job_id": claim.job.id}
        try:
            cast(Renewable, claim).renew()
        except ClaimLost as exc:
            self._log("claim_lost", {**data, "error": str(exc)})
            self.release(claim)
            return
        except StoreError as exc:
            self._log("store_unavailable", {**data, "error": str(exc), "during": "renew"})
        with self._cond:
            if id(claim) in self._claims:
                self._claims[id(claim)] = (claim, time.monotonic())


# Whether claims of a type are Renewable, by type: an isinstance check against a runtime
# Protocol inspects every member and was measured at tens of microseconds, on every job.
_RENEWABLE: dict[type, bool] = {}


def _third(claim: Claim) -> float:
    """Seconds between renewals: a third of the lease."""
    return cast(Renewable, claim).lease.total_seconds() / 3


def _renewable(claim: object) -> bool:
    kind = type(claim)
    known = _RENEWABLE.get(kind)
    if known is None:
        known = _RENEWABLE[kind] = isinstance(claim, Renewable)
    return known
