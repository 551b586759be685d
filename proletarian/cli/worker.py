"""`proletarian worker MODULE:HANDLER`: run a QueueWorker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import timedelta
from typing import Any

from proletarian.cli.errors import FAILURE, OK, CliError, UsageError
from proletarian.cli.loading import load_handler
from proletarian.cli.session import opened, store_url
from proletarian.cli.signals import StopSignals
from proletarian.core.urls import kind_of, redact
from proletarian.worker.queue_worker import QueueWorker

# A primary-key lookup that touches the store's tables: it proves at start-up that the server is
# reachable and the schema installed, instead of a worker that only logs errors forever.
PROBE_ID = "00000000-0000-0000-0000-000000000000"


def run_worker(args: argparse.Namespace) -> int:
    """Exit 0 after a graceful stop, 1 if the store can't be reached at start, a handler raised
    SystemExit or KeyboardInterrupt, or jobs were still running after the shutdown timeout."""
    url = store_url(args)
    handler = load_handler(args.handler, mode=args.handler_mode)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    options: dict[str, Any] = {}
    if args.lease is not None:
        if kind_of(url) == "mysql":
            raise UsageError("--lease: MySQL claims are transactional; it has no leased claims")
        options["lease"] = timedelta(seconds=args.lease)
    with opened(url, **options) as store:
        store.get_job(PROBE_ID)  # missing tables: SchemaMissing, which `opened` explains
        worker = QueueWorker(
            store,
            handler,
            queue=args.queue or ["default"],
            threads=args.threads,
            polling_interval=timedelta(seconds=args.polling_interval),
            shutdown_timeout=timedelta(seconds=args.shutdown_timeout),
            handler_mode=args.handler_mode,
            timeout=None if args.timeout is None else timedelta(seconds=args.timeout),
            timeout_grace=timedelta(seconds=args.timeout_grace),
            max_abandons=args.max_abandons,
        )
        with StopSignals() as signals:
            worker.start()
            _say(
                f"worker {worker.worker_id} on {redact(url)}, queues {', '.join(worker.queues)}, "
                f"{worker.threads} thread{'s' if worker.threads > 1 else ''}; "
                "SIGTERM or Ctrl-C stops it"
            )
            signals.wait(lambda: worker.stopping)
            if signals.received is not None:
                _say(
                    f"{signals.received.name}: finishing running jobs (up to "
                    f"{args.shutdown_timeout:g}s); send it again to exit at once"
                )
            finished = worker.stop()
    if worker.interrupted is not None:
        raise CliError(f"worker stopped: a handler raised {worker.interrupted!r}")
    if not finished:
        _say(
            f"jobs were still running after {args.shutdown_timeout:g}s; they go back to their "
            "queue (leases given back now, transactions rolled back as this process exits)"
        )
        return FAILURE
    _say("worker stopped")
    return OK


def _say(message: str) -> None:
    print(f"proletarian: {message}", file=sys.stderr, flush=True)
