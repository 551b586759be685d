"""The argument parser: every command, its options and their help."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import NoReturn

from proletarian.cli import bulk, commands, demo, inspection, schedules, schema, values, worker
from proletarian.cli.errors import UsageError
from proletarian.cli.session import URL_VARIABLE
from proletarian.core.inspection import MAX_PAGE, MAX_THROUGHPUT_MINUTES
from proletarian.core.job import JobStatus, Priority


class Parser(argparse.ArgumentParser):
    """Reports a bad command line as a UsageError (one line, exit 2) instead of printing the
    usage block and calling sys.exit, so `main(argv)` returns normally."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build() -> Parser:
    parser = Parser(
        prog="proletarian",
        description="A durable job queue on PostgreSQL, MySQL, SQLite or Redis.",
        epilog=f"--url defaults to the {URL_VARIABLE} environment variable; -o KEY=VALUE adds "
        "a store option to it. Try it with no server: proletarian demo",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    url = Parser(add_help=False)
    url.add_argument(
        "--url",
        help=f"the store: postgresql://..., mysql://..., sqlite:///path, redis://..., memory:// "
        f"(default: ${URL_VARIABLE})",
    )
    _store_option(url)

    schema_cmd = sub.add_parser("schema", help="print or install the tables a store needs")
    schema_sub = schema_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    schema_sub.add_parser(
        "print", parents=[url], help="print the DDL for the URL's kind of store (no connection)"
    ).set_defaults(run=schema.print_schema)
    schema_sub.add_parser(
        "apply", parents=[url], help="create the tables if missing (idempotent)"
    ).set_defaults(run=schema.apply_schema)

    work = sub.add_parser(
        "worker",
        parents=[url],
        help="run jobs with a handler until SIGTERM or Ctrl-C",
        description="Run a worker. The first SIGTERM or SIGINT stops it gracefully (running "
        "jobs finish, up to --shutdown-timeout); a second one exits at once.",
    )
    work.add_argument("handler", metavar="MODULE:HANDLER", help="e.g. myapp.jobs:handle_job")
    work.add_argument(
        "--queue",
        action="append",
        metavar="Q",
        help="a queue to work; repeat for several (default: default)",
    )
    work.add_argument(
        "--threads", type=values.positive_int, default=1, metavar="N", help="default: 1"
    )
    work.add_argument(
        "--polling-interval",
        type=values.positive_seconds,
        default=1.0,
        metavar="S",
        help="seconds between polls when idle (default: 1)",
    )
    work.add_argument(
        "--shutdown-timeout",
        type=values.positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds running jobs get to finish after a stop signal (default: 10)",
    )
    work.add_argument(
        "--lease",
        type=values.positive_seconds,
        default=None,
        metavar="S",
        help="lease claims for S seconds: leased claims on PostgreSQL (for long jobs), the "
        "lease length on SQLite, Redis and memory:// (default: transactional claims on "
        "PostgreSQL, 30 s leases elsewhere)",
    )
    work.add_argument(
        "--timeout",
        type=values.positive_seconds,
        default=None,
        metavar="S",
        help="a job's handler is told to stop after S seconds (ctx.stopping) and cut after "
        "--timeout-grace more: its attempt fails as JobTimeout (default: no timeout)",
    )
    work.add_argument(
        "--timeout-grace",
        type=values.positive_seconds,
        default=30.0,
        metavar="S",
        help="seconds a handler past its timeout gets before it is cut (default: 30)",
    )
    work.add_argument(
        "--max-abandons",
        type=values.positive_int,
        default=3,
        metavar="N",
        help="a job whose attempts ended without an outcome N times (its worker died running "
        "it) is failed as JobAbandoned instead of run again (default: 3)",
    )
    work.add_argument(
        "--handler-mode",
        choices=("default", "advanced"),
        default="default",
        help="default: handler(job_type, payload); advanced: handler(job, ctx)",
    )
    work.add_argument(
        "--schedules",
        metavar="MODULE:SCHEDULES",
        help="also enqueue the ticks of these schedules (see proletarian schedules)",
    )
    _log_options(work)
    work.set_defaults(run=worker.run_worker)

    listing = sub.add_parser(
        "schedules",
        parents=[url],
        help="list schedules: when they tick, the latest tick enqueued, the next ones",
    )
    listing.add_argument("schedules", metavar="MODULE:SCHEDULES", help="e.g. myapp.jobs:schedules")
    listing.add_argument(
        "--next", type=values.positive_int, default=3, metavar="N", help="ticks shown (default: 3)"
    )
    listing.set_defaults(run=schedules.list_schedules)

    scheduler = sub.add_parser(
        "scheduler",
        parents=[url],
        help="enqueue the ticks of schedules until SIGTERM or Ctrl-C (runs no jobs)",
        description="A schedule-only process: it enqueues each tick's job, once however many "
        "schedulers and workers run the same schedules. Workers run the jobs.",
    )
    scheduler.add_argument(
        "schedules", metavar="MODULE:SCHEDULES", help="e.g. myapp.jobs:schedules"
    )
    _log_options(scheduler)
    scheduler.set_defaults(run=schedules.run_scheduler)

    enqueue = sub.add_parser("enqueue", parents=[url], help="enqueue one job; prints its id")
    enqueue.add_argument("job_type", metavar="JOB_TYPE")
    enqueue.add_argument("payload", metavar="JSON_PAYLOAD", help='e.g. \'{"email": "a@b.c"}\'')
    enqueue.add_argument("--queue", default="default", metavar="Q", help="default: default")
    enqueue.add_argument(
        "--in",
        dest="delay",
        type=values.seconds,
        default=0.0,
        metavar="SECONDS",
        help="run it this many seconds from now",
    )
    enqueue.add_argument(
        "--priority",
        choices=[p.name.lower() for p in Priority],
        default="normal",
        help="default: normal",
    )
    enqueue.set_defaults(run=commands.enqueue)

    json_output = Parser(add_help=False)
    json_output.add_argument(
        "--json", action="store_true", help="print JSON for scripts instead of a table"
    )
    filters = Parser(add_help=False)
    filters.add_argument("--queue", metavar="Q", help="only jobs of this queue")
    filters.add_argument("--type", dest="job_type", metavar="T", help="only jobs of this type")

    status = sub.add_parser(
        "status", parents=[url, json_output], help="jobs per queue: waiting, running, archived"
    )
    status.add_argument(
        "--watch",
        type=values.positive_seconds,
        metavar="N",
        help="redraw every N seconds, with jobs succeeded and failed per minute, until Ctrl-C",
    )
    status.add_argument(
        "--minutes",
        type=values.positive_int,
        default=10,
        metavar="M",
        help=f"throughput over the last M minutes, at most {MAX_THROUGHPUT_MINUTES} "
        "(--watch and --json; default: 10)",
    )
    status.add_argument(
        "--frames",
        type=values.positive_int,
        metavar="K",
        help="with --watch: stop after K redraws (default: until Ctrl-C)",
    )
    status.set_defaults(run=inspection.status)

    jobs = sub.add_parser(
        "jobs",
        parents=[url, json_output, filters],
        help="list jobs newest first, by status, queue and type",
        description="A page of jobs, queued and archived, newest first. The line after the "
        "table gives the --before that shows the next page.",
    )
    jobs.add_argument(
        "--status", choices=[s.value for s in JobStatus], help="only jobs in this state"
    )
    jobs.add_argument(
        "--limit",
        type=values.positive_int,
        default=50,
        metavar="N",
        help=f"jobs per page, at most {MAX_PAGE} (default: 50)",
    )
    jobs.add_argument(
        "--before", metavar="CURSOR", help="the next page: jobs older than this job id"
    )
    jobs.set_defaults(run=inspection.jobs)

    show_job = sub.add_parser(
        "show",
        parents=[url, json_output],
        help="one job whole: payload, meta, attempts, timings, error and traceback",
    )
    show_job.add_argument("job_id", metavar="JOB_ID")
    show_job.set_defaults(run=inspection.show)

    workers = sub.add_parser(
        "workers",
        parents=[url, json_output],
        help="the running workers: host, pid, queues, last heartbeat, running jobs",
    )
    workers.add_argument(
        "--remove-dead",
        action="store_true",
        help="remove the workers that missed 3 heartbeats (live workers do it too, every minute)",
    )
    workers.set_defaults(run=inspection.workers)

    for name, run, flag, text, flag_text in (
        (
            "retry",
            bulk.retry,
            "--all-failed",
            "put a failed job, or every failed job of a filter, back on its queue",
            "every failed job matching --queue and --type",
        ),
        (
            "cancel",
            bulk.cancel,
            "--all-queued",
            "remove a queued job that has not started, or every one of a filter",
            "every queued job matching --queue and --type that is not running",
        ),
    ):
        command = sub.add_parser(name, parents=[url, filters], help=text)
        command.add_argument("job_id", metavar="JOB_ID", nargs="?")
        command.add_argument(flag, action="store_true", help=flag_text)
        command.add_argument(
            "--yes", action="store_true", help=f"with {flag}: go ahead without asking"
        )
        command.set_defaults(run=run)

    prune = sub.add_parser("prune", parents=[url], help="delete old archived jobs")
    prune.add_argument(
        "--older-than",
        type=values.duration,
        required=True,
        metavar="AGE",
        help="finished longer ago than this: 7d, 12h, 30m, 90s, 1d12h",
    )
    prune.add_argument(
        "--batch",
        type=values.positive_int,
        default=10_000,
        metavar="N",
        help="delete at most N jobs per transaction, reporting progress (default 10000)",
    )
    prune.set_defaults(run=commands.prune)

    show = sub.add_parser(
        "demo",
        help="work sample jobs on an embedded SQLite file, with live progress (no server)",
        description="Enqueue sample jobs (send-email, resize-image, charge-card, sync-crm; a "
        "few fail once or twice, a few on every attempt, some are delayed or urgent) into a new "
        "SQLite file, work them with live progress, and print a summary per job type. "
        "Needs no server.",
    )
    target = show.add_mutually_exclusive_group()
    target.add_argument(
        "--path", metavar="FILE", help="the SQLite file (default: a new file in a temp dir)"
    )
    target.add_argument("--url", help="run on another store instead; its demo queues must be empty")
    _store_option(show)
    show.add_argument(
        "--jobs", type=values.positive_int, default=3000, metavar="N", help="default: 3000"
    )
    show.add_argument(
        "--threads", type=values.positive_int, default=4, metavar="N", help="default: 4"
    )
    show.add_argument(
        "--seed", type=int, default=1, help="seed of the sample jobs' random choices (default: 1)"
    )
    show.add_argument(
        "--timeout",
        type=values.positive_seconds,
        default=300.0,
        metavar="S",
        help="give up after this many seconds (default: 300)",
    )
    show.set_defaults(run=demo.run_demo)
    return parser


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="events logged to stderr (default: info)",
    )
    parser.add_argument(
        "--log-format",
        choices=("logfmt", "json"),
        default="logfmt",
        help="how each log line on stderr is written: logfmt (key=value, the default) or json "
        "(one object per line)",
    )


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--store-option",
        dest="store_options",
        action="append",
        type=values.store_option,
        metavar="KEY=VALUE",
        help="a store option, added to the URL's query (replacing its own value): schema=app, "
        "prefix=myapp, job_table=jobs, lease=60, ...; repeat for several (see docs/stores/)",
    )


def _version() -> str:
    try:
        return metadata.version("proletarian")
    except metadata.PackageNotFoundError:
        return "unknown"
