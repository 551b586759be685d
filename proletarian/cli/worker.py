"""`proletarian worker MODULE:HANDLER`: run a QueueWorker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from proletarian.cli.errors import FAILURE, OK, CliError, UsageError
from proletarian.cli.loading import load_handler, load_schedules
from proletarian.cli.session import opened, store_url
from proletarian.cli.signals import StopSignals
from proletarian.core.urls import kind_of, redact
from proletarian.ports.events import EventLog
from proletarian.worker.log import JsonFormatter, LogfmtFormatter, logging_events
from proletarian.worker.queue_worker import QueueWorker

log = logging.getLogger("proletarian.cli")

# A primary-key lookup that touches the store's tables: it proves at start-up that the server is
# reachable and the schema installed, instead of a worker that only logs errors forever.
PROBE_ID = "00000000-0000-0000-0000-000000000000"


def run_worker(args: argparse.Namespace) -> int:
    """Exit 0 after a graceful stop, 1 if the store can't be reached at start, a handler raised
    SystemExit or KeyboardInterrupt, or jobs were still running after the shutdown timeout."""
    url = store_url(args)
    handler = load_handler(args.handler, mode=args.handler_mode)
    schedules = load_schedules(args.schedules) if args.schedules else []
    configure_logging(args.log_level, args.log_format)
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
            schedules=schedules,
            log=_naming_the_store(url),
        )
        with StopSignals() as signals:
            worker.start()
            signals.wait(lambda: worker.stopping)
            if signals.received is not None:
                log.info(
                    "%s: finishing running jobs (up to %gs); send it again to exit at once",
                    signals.received.name,
                    args.shutdown_timeout,
                )
            finished = worker.stop()
    if worker.interrupted is not None:
        raise CliError(f"worker stopped: a handler raised {worker.interrupted!r}")
    if not finished:
        log.warning(
            "jobs were still running after %gs; they go back to their queue (leases given back "
            "now, transactions rolled back as this process exits)",
            args.shutdown_timeout,
        )
        return FAILURE
    return OK


def configure_logging(level: str, log_format: str) -> None:
    """Every record, the worker's events and the handlers' own logging alike, goes to stderr
    as one line in the chosen format. Logging a handler's module configured as it was imported
    is left as it is (basicConfig does nothing then)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])


def _naming_the_store(url: str) -> EventLog:
    """The default sink, with the store's URL (its password hidden) on `worker_started`: the
    one line that says what this process works on, in place of a banner of its own."""

    def sink(event: str, data: Mapping[str, Any]) -> None:
        logging_events(event, {**data, "url": redact(url)} if event == "worker_started" else data)

    return sink
