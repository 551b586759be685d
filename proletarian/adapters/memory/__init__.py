"""An in-process store for tests and prototypes. It keeps payloads serialized, claims with leases
and orders jobs exactly like the database stores, and it passes the same contract suite.

    from proletarian.adapters.memory import MemoryStore
    store = MemoryStore()
"""

from proletarian.adapters.memory.claim import MemoryClaim
from proletarian.adapters.memory.store import MemoryStore, MemoryTransaction

__all__ = ["MemoryClaim", "MemoryStore", "MemoryTransaction"]
