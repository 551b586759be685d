"""Graceful shutdown: a long job that watches `ctx.stopping`. On SIGTERM or Ctrl-C the worker
stops claiming, the job hands its remaining rows to a new job (committed together with its own
success) and returns, and the process exits. Run it again with the same file to finish.

    python examples/shutdown.py [path/to/jobs.db]    # then press Ctrl-C, or kill -TERM <pid>

Without a path it uses a fresh file in a temporary directory.
"""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import FrameType

import proletarian
from proletarian import Job, JobContext, QueueWorker
from proletarian.adapters.sqlite import SQLiteStore

ROWS = 40
ROW_SECONDS = 0.05  # the "work" of exporting one row


def exporter(store: SQLiteStore) -> Callable[[Job, JobContext], None]:
    def export(job: Job, ctx: JobContext) -> None:
        start, rows = job.payload["start"], job.payload["rows"]
        for row in range(start, rows):
            if ctx.stopping.is_set():
                # ctx.connection is the claim's transaction: the follow-up job commits together
                # with this job's success, so no row is lost or exported twice.
                rest = {"start": row, "rows": rows}
                proletarian.enqueue(store, "export", rest, queue="exports", conn=ctx.connection)
                print(f"stopping: rows {row}..{rows - 1} left to a new job", flush=True)
                return
            time.sleep(ROW_SECONDS)
            if (row + 1) % 10 == 0:
                print(f"exported {row + 1}/{rows} rows", flush=True)
        print("export finished", flush=True)

    return export


def main(path: Path) -> int:
    fresh = not path.exists()
    store = SQLiteStore(path)
    if fresh:
        proletarian.enqueue(store, "export", {"start": 0, "rows": ROWS}, queue="exports")
    worker = QueueWorker(
        store,
        exporter(store),
        handler_mode="advanced",
        queue="exports",
        shutdown_timeout=timedelta(seconds=5),
    )

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        print(f"{signal.Signals(signum).name}: finishing the running job", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    worker.start()
    print(f"worker started on {path}", flush=True)
    # Run until a signal arrives or nothing is left to do.
    while not stop.is_set() and not worker.wait_idle(timeout=0.1):
        pass
    finished = worker.stop()  # sets ctx.stopping, waits up to shutdown_timeout

    stats = store.stats()["exports"]
    print(f"done: succeeded {stats.succeeded}, waiting {stats.ready}", flush=True)
    store.close()
    return 0 if finished else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as directory:
        sys.exit(main(Path(directory) / "jobs.db"))
