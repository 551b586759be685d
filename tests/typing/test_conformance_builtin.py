"""Type-check only: mypy proves the built-in stores satisfy the ports. Nothing here runs."""

from __future__ import annotations

from proletarian.adapters.clocks import ManualClock, SystemClock
from proletarian.adapters.ids import DatabaseIds, Uuid7Ids
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.null import NullStore
from proletarian.adapters.serializers import JsonSerializer
from proletarian.ports.clock import Clock
from proletarian.ports.events import EventLog
from proletarian.ports.ids import JobIdStrategy
from proletarian.ports.serializer import Serializer
from proletarian.ports.store import Notifier, QueueStore, Renewable
from proletarian.testing import CapturingLog


def conformance() -> None:
    memory: QueueStore = MemoryStore()
    null: QueueStore = NullStore()
    notifier: Notifier = MemoryStore()
    claim = MemoryStore().claim(["default"], worker_id="w")
    if claim is not None:
        renewable: Renewable = claim
        del renewable
    serializer: Serializer = JsonSerializer()
    uuid_ids: JobIdStrategy = Uuid7Ids()
    db_ids: JobIdStrategy = DatabaseIds()
    clocks: list[Clock] = [SystemClock(), ManualClock()]
    log: EventLog = CapturingLog()
    del memory, null, notifier, serializer, uuid_ids, db_ids, clocks, log
