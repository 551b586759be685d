"""One measurement in a process of its own: `python -m bench.child SYSTEM METRIC [options]`.

Prints one JSON object: {"value": ...} (a rate in jobs/s, latency samples in seconds, or RSS
in MiB), or {"error": "..."} when the measurement failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from datetime import timedelta
from typing import Any

from bench.common import System
from bench.run import OTHER_STORES, POSTGRES_SYSTEMS

SYSTEMS = (*POSTGRES_SYSTEMS, *OTHER_STORES)
METRICS = ("enqueue_one", "enqueue_bulk", "drain", "latency", "rss", "idle")


def system(name: str, batch_size: int) -> System:
    if name.startswith("floor"):
        from bench.peers.floor import Floor

        return Floor(name.removeprefix("floor-") if "-" in name else "execute")
    if name == "procrastinate":
        from bench.peers.procrastinate_peer import Procrastinate

        return Procrastinate()
    if name == "pgqueuer":
        from bench.peers.pgqueuer_peer import PgQueuer

        return PgQueuer()
    from bench.peers.ours import Ours

    if name == "proletarian":
        return Ours("postgres")
    if name == "proletarian-batch":
        return Ours("postgres", batch_size=batch_size)
    if name == "proletarian-leased":
        return Ours("postgres", lease=timedelta(seconds=30))
    return Ours(name)


def measure(args: argparse.Namespace) -> Any:
    target = system(args.system, args.batch_size)
    if args.metric == "enqueue_one":
        return target.enqueue_one(args.jobs)
    if args.metric == "enqueue_bulk":
        return target.enqueue_bulk(args.jobs)
    if args.metric == "drain":
        return target.drain(args.jobs, args.concurrency)
    if args.metric == "latency":
        return target.latency(args.jobs)
    if args.metric == "idle":
        from bench.peers.ours import Ours

        if not isinstance(target, Ours):
            raise NotImplementedError("the idle cost is measured for proletarian only")
        return target.idle(float(args.jobs), args.concurrency)
    return target.rss(args.jobs)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("metric", choices=METRICS)
    parser.add_argument(
        "--jobs", type=int, default=1000, help="jobs (latency: samples; idle: seconds)"
    )
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    # Peers log every job at INFO; a benchmark keeps its output to the result.
    logging.basicConfig(level=logging.WARNING)
    try:
        result: dict[str, Any] = {"value": measure(args)}
    except NotImplementedError as exc:
        result = {"skipped": str(exc)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
