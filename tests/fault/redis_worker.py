"""A worker process over the test Redis, for tests that kill it or run several:
`python -m tests.fault.redis_worker PREFIX [--lease SECONDS] [--threads N]`.

Handlers record what they do in Redis lists under the store's prefix, so the test reads them
with blocking pops instead of parsing output: `PREFIX:test:started` gets the id of a job on
its first claim (no abandonment counted yet) when the payload's "action" is "hang_first" (the
handler then never returns); `PREFIX:test:killing` gets "<job id> <abandons>" when the action
is "kill", and the handler then SIGKILLs this very process; `PREFIX:test:done` gets the id of
every job whose handler returned. Jobs get two attempts (retries=1), and the default
max_abandons (3). SIGTERM stops the worker gracefully.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from datetime import timedelta

from proletarian import Job, JobContext, QueueWorker, RetryPolicy
from proletarian.adapters.redis import RedisStore
from tests.fixtures.servers import REDIS_URL


def started_list(prefix: str) -> str:
    return f"{prefix}:test:started"


def done_list(prefix: str) -> str:
    return f"{prefix}:test:done"


def killing_list(prefix: str) -> str:
    return f"{prefix}:test:killing"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prefix")
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    store = RedisStore.connect(REDIS_URL, prefix=args.prefix, lease=timedelta(seconds=args.lease))

    def handle(job: Job, ctx: JobContext) -> None:
        if job.payload.get("action") == "hang_first" and job.abandons == 0:
            store.client.rpush(started_list(args.prefix), job.id)
            threading.Event().wait()
        if job.payload.get("action") == "kill":
            store.client.rpush(killing_list(args.prefix), f"{job.id} {job.abandons}")
            os.kill(os.getpid(), signal.SIGKILL)
        store.client.rpush(done_list(args.prefix), job.id)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    worker = QueueWorker(
        store,
        handle,
        threads=args.threads,
        handler_mode="advanced",
        polling_interval=timedelta(milliseconds=100),
        shutdown_timeout=timedelta(seconds=5),
        retry=RetryPolicy(retries=1),
    )
    worker.start()
    stop.wait()
    worker.stop()
    store.close()


if __name__ == "__main__":
    main()
