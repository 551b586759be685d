"""Uuid7Ids draws random bytes in advance; a forked child must not reuse its parent's draw."""

from __future__ import annotations

import os
import sys

import pytest

from proletarian.adapters.ids import Uuid7Ids


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads, 3.12+
@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork()")
def test_a_forked_child_draws_its_own_random_bits() -> None:
    """After a fork, the child's next id has other random bits than the parent's next id."""
    ids = Uuid7Ids()
    ids.new_id()  # the parent has random bytes drawn and waiting
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        os.write(write, ids.new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = ids.new_id()
    # Past the 48-bit timestamp and the version nibble, everything is random.
    assert child[15:] != parent[15:]
