"""Four processes run the same schedule on one store, two of them on clocks that leap ahead:
every tick is enqueued exactly once, by whichever process reaches it first."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fault.soak_targets import MySQLTarget, PostgresTarget, RedisTarget, SQLiteTarget
from tests.fixtures.redis import new_prefix

SECONDS = 12.0


def target_of(kind: str, tmp_path: Path) -> Any:
    if kind == "postgres":
        return PostgresTarget()
    if kind == "mysql":
        return MySQLTarget()
    if kind == "redis":
        return RedisTarget(new_prefix())
    return SQLiteTarget(tmp_path)


def start(target: Any, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.fixtures.schedule_process", target.worker_url]
    # Where the store keeps its jobs (schema, prefix, pool); not the soak's crash tuning.
    store = {k: v for k, v in target.worker_options.items() if k != "crash_delay"}
    command += ["--options", json.dumps(store), "--seconds", str(SECONDS)]
    return subprocess.Popen([*command, *options], stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("kind", ["postgres", "mysql", "sqlite", "redis"])
def test_four_schedulers_enqueue_every_tick_exactly_once(kind: str, tmp_path: Path) -> None:
    """Two workers on the real clock run the schedule's jobs as they enqueue them; two
    schedulers on leaping clocks enqueue ticks seconds before they are due. No tick gets two
    jobs (a finished tick's key is still held), and every tick of the time all four ran is
    enqueued."""
    target = target_of(kind, tmp_path)
    try:
        began = datetime.now().astimezone()
        processes = [
            start(target, "--clock", "system", "--work"),
            start(target, "--clock", "system", "--work"),
            start(target, "--clock", "jumping"),
            start(target, "--clock", "jumping"),
        ]
        outputs = [process.communicate(timeout=SECONDS + 60)[0] for process in processes]
        ended = datetime.now().astimezone()
        assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
        stored = target.queued_count() + target.archived_count()
    finally:
        target.close()
    created: list[tuple[int, datetime, str]] = []
    for index, output in enumerate(outputs):
        assert output.splitlines()[0] == "ready", output
        assert output.splitlines()[-1] == "done", output
        for line in output.splitlines():
            if line.startswith("enqueued "):
                _, tick, job_id = line.split()
                created.append((index, datetime.fromisoformat(tick), job_id))
    per_tick = Counter(tick for _, tick, _ in created)
    assert [tick for tick, count in per_tick.items() if count > 1] == []
    assert stored == len(created)
    # The system clocks' processes were all up between these (with a second's margin).
    first = (began + timedelta(seconds=3)).replace(microsecond=0)
    last = (ended - timedelta(seconds=3)).replace(microsecond=0)
    expected = {first + timedelta(seconds=s) for s in range(int((last - first).total_seconds()))}
    assert expected - set(per_tick) == set()
    ahead = {index for index, tick, _ in created if index >= 2 and tick > last}
    assert ahead, "the leaping schedulers never ran ahead: the test tested nothing"
