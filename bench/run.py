"""Measure proletarian beside procrastinate, pgqueuer and a raw-SQL floor on one PostgreSQL
server, then proletarian on MySQL (MariaDB), SQLite, Redis and in memory; print a Markdown
report and write it into a file (between markers, so the prose around it is kept).

    python bench/run.py [--jobs N] [--only SYSTEM,...] [--rss-jobs 100000] [--out FILE]

Each number comes from a child process of its own (`python -m bench.child`), run one after
another, never two at once. See docs/benchmarks.md for what each column means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
POSTGRES_SYSTEMS = (
    "floor",
    "floor-plain",
    "floor-pipeline",
    "proletarian",
    "proletarian-batch",
    "proletarian-leased",
    "procrastinate",
    "pgqueuer",
)
OTHER_STORES = ("mysql", "sqlite", "redis", "memory")
# Measured in this order, so the rows a target compares are measured next to each other.
MEASURED = (
    "floor",
    "proletarian",
    "proletarian-batch",
    "proletarian-leased",
    "pgqueuer",
    "procrastinate",
    "floor-plain",
    "floor-pipeline",
    *OTHER_STORES,
)
LABELS = {
    "floor": "raw SQL floor: server-prepared EXECUTE with BEGIN / COMMIT (2 round trips per job)",
    "floor-plain": "raw SQL floor, psycopg extended protocol (4 round trips per job)",
    "floor-pipeline": "raw SQL floor, psycopg pipeline mode (2 round trips per job)",
    "proletarian": "proletarian, strict (1 job per transaction)",
    "proletarian-batch": "proletarian, batch mode (K={batch} jobs per transaction)",
    "proletarian-leased": "proletarian, leased claims (lease=30 s, 2 statements per job)",
    "procrastinate": "procrastinate {procrastinate}",
    "pgqueuer": "pgqueuer {pgqueuer}",
    "mysql": "proletarian on MariaDB",
    "sqlite": "proletarian on SQLite (WAL)",
    "redis": "proletarian on Redis",
    "memory": "proletarian in memory",
}
# Rows that measure only some metrics: batch mode and the pipelined floor change only drains.
ONLY_METRICS = {
    "proletarian-batch": {"drain"},
    "proletarian-leased": {"drain"},
    "floor-plain": {"drain"},
    "floor-pipeline": {"drain"},
}
PACKAGES = ("proletarian", "psycopg", "psycopg-pool", "PyMySQL", "redis", "procrastinate")
PEER_PACKAGES = ("pgqueuer", "asyncpg", "uvloop", "psutil")


@dataclass
class Row:
    system: str
    values: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)


@dataclass
class Run:
    args: argparse.Namespace
    loads: list[float] = field(default_factory=list)
    rows: dict[str, Row] = field(default_factory=dict)
    idle: dict[str, Any] | None = None
    started: str = ""
    seconds: float = 0.0


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def child(
    system: str,
    metric: str,
    *,
    jobs: int,
    concurrency: int = 1,
    batch: int = 10,
    root: Path = ROOT,
) -> Any:
    """One measurement in a fresh process, with the proletarian of the checkout at `root`; its
    value, or an exception carrying its error."""
    command = [
        sys.executable,
        "-m",
        "bench.child",
        system,
        metric,
        f"--jobs={jobs}",
        f"--concurrency={concurrency}",
        f"--batch-size={batch}",
    ]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{system} {metric}: no result; stderr: {done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if "skipped" in result:
        raise LookupError(result["skipped"])
    if "error" in result:
        raise RuntimeError(f"{system} {metric}: {' '.join(str(result['error']).split())}")
    return result["value"]


def measure(run: Run, system: str, round_: int) -> None:
    """One round of `system`'s measurements into its row. Throughputs are measured in every
    round, latency and RSS in the first only. Rounds go over every system in turn, so each
    system's samples are spread over the whole run and a burst of load elsewhere on the machine
    hits them all alike."""
    args = run.args
    row = run.rows.setdefault(system, Row(system))
    steps: list[tuple[str, str, dict[str, int], Callable[[Any], Any]]] = [
        ("enqueue_one", "enqueue_one", {"jobs": args.jobs}, float),
        ("enqueue_bulk", "enqueue_bulk", {"jobs": args.bulk_jobs}, float),
        ("drain_1", "drain", {"jobs": args.jobs, "concurrency": 1}, tuple),
        ("drain_4", "drain", {"jobs": args.jobs, "concurrency": 4}, tuple),
        ("latency", "latency", {"jobs": args.samples}, list),
        ("rss", "rss", {"jobs": args.rss_jobs}, tuple),
    ]
    for key, metric, options, convert in steps:
        if system in ONLY_METRICS and metric not in ONLY_METRICS[system]:
            continue
        if args.metrics and metric not in args.metrics:
            continue
        if round_ > 0 and metric not in ("enqueue_one", "enqueue_bulk", "drain"):
            continue
        if key in row.failed:
            continue
        run.loads.append(loadavg())
        print(f"  {system} {key} {options} (load {run.loads[-1]:.2f})", file=sys.stderr)
        try:
            result = convert(_child_twice(row, key, system, metric, args, options))
        except LookupError:
            row.failed.add(key)
            continue
        except Exception as exc:
            row.notes.append(f"{key}: {exc}")
            row.failed.add(key)
            print(f"    failed: {exc}", file=sys.stderr)
            continue
        row.samples.setdefault(key, []).append(result)
        row.values[key] = _median(row.samples[key])


def _child_twice(
    row: Row, key: str, system: str, metric: str, args: argparse.Namespace, options: dict[str, int]
) -> Any:
    """A measurement, tried once more if it failed (other processes share this server and
    sometimes restart it); a second failure is reported."""
    try:
        return child(system, metric, batch=args.batch_size, **options)
    except LookupError:
        raise
    except Exception as exc:
        row.notes.append(f"{key}: failed once, measured again ({exc})")
        print(f"    failed once, again: {exc}", file=sys.stderr)
        return child(system, metric, batch=args.batch_size, **options)


def _median(results: list[Any]) -> Any:
    """The run with the median rate (or the median of plain numbers)."""
    if isinstance(results[0], tuple):
        return sorted(results, key=lambda r: r[0])[len(results) // 2]
    if isinstance(results[0], float):
        return statistics.median(results)
    return results[0]


# -- the report ---------------------------------------------------------------------------------


def _rate(value: Any) -> str:
    if value is None:
        return "—"
    number = value[0] if isinstance(value, tuple | list) else value
    return f"{number:,.0f}"


def _cpu(value: Any) -> str:
    return "—" if value is None else f"{value[1]:,.0f}"


def _latency(samples: list[float] | None) -> str:
    if not samples:
        return "—"
    p50, p95, p99 = _percentiles(samples)
    return f"{p50:.2f} / {p95:.2f} / {p99:.2f}"


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def _rss(value: Any) -> str:
    if value is None:
        return "—"
    first, last = value
    return f"{first:.0f} → {last:.0f} ({(last - first) / first:+.1%})"


def table(run: Run, systems: Sequence[str]) -> list[str]:
    args = run.args
    tenth = max(args.rss_jobs // 10, 1)
    lines = [
        "| system | enqueue 1-by-1 (jobs/s) | bulk enqueue (jobs/s) | drain, 1 thread "
        "(jobs/s) | drain, 4 threads (jobs/s) | CPU per job at 4 (µs) | pickup latency "
        f"p50 / p95 / p99 (ms) | worker RSS after {tenth:,} → {args.rss_jobs:,} jobs (MiB) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    versions = _versions()
    for system in systems:
        row = run.rows.get(system)
        if row is None:
            continue
        label = LABELS[system].format(batch=args.batch_size, **versions)
        v = row.values
        lines.append(
            f"| {label} | {_rate(v.get('enqueue_one'))} | {_rate(v.get('enqueue_bulk'))} | "
            f"{_rate(v.get('drain_1'))} | {_rate(v.get('drain_4'))} | {_cpu(v.get('drain_4'))} | "
            f"{_latency(v.get('latency'))} | {_rss(v.get('rss'))} |"
        )
    return lines


def _get(run: Run, system: str, key: str) -> Any:
    row = run.rows.get(system)
    return None if row is None else row.values.get(key)


def _ratio(mine: Any, theirs: Any) -> float | None:
    if mine is None or theirs is None:
        return None
    a = mine[0] if isinstance(mine, tuple | list) else mine
    b = theirs[0] if isinstance(theirs, tuple | list) else theirs
    return a / b if b else None


def _verdict(ratio: float | None, goal: float) -> str:
    if ratio is None:
        return "not measured"
    if ratio >= goal:
        return f"**met** ({ratio:.3f}x, goal {goal:.2f}x)"
    return f"**missed** by {(goal - ratio) / goal:.1%} ({ratio:.3f}x, goal {goal:.2f}x)"


def targets(run: Run) -> list[str]:
    lines = ["| target | result |", "|---|---|"]
    strict4 = _ratio(_get(run, "proletarian", "drain_4"), _get(run, "floor", "drain_4"))
    lines.append(f"| strict drain at 4 threads ≥ 0.85 x floor | {_verdict(strict4, 0.85)} |")
    one = _ratio(_get(run, "proletarian", "enqueue_one"), _get(run, "floor", "enqueue_one"))
    lines.append(f"| one-by-one enqueue ≥ 0.90 x floor | {_verdict(one, 0.90)} |")
    for key, name in (("drain_1", "1"), ("drain_4", "4")):
        batch = _ratio(_get(run, "proletarian-batch", key), _get(run, "pgqueuer", key))
        lines.append(f"| batch drain ≥ 2 x pgqueuer at {name} worker(s) | {_verdict(batch, 2.0)} |")
    bulk = _ratio(_get(run, "proletarian", "enqueue_bulk"), _get(run, "pgqueuer", "enqueue_bulk"))
    lines.append(f"| bulk enqueue ≥ 1.3 x pgqueuer | {_verdict(bulk, 1.3)} |")
    latency = _latency_verdict(run)
    lines.append(f"| pickup latency p50 < 3 ms, p99 < 6 ms, ≤ best peer | {latency} |")
    lines.append(f"| idle worker ≤ 1 query per polling interval | {_idle_verdict(run)} |")
    lines.append(f"| worker RSS flat within 10% | {_rss_verdict(run)} |")
    return lines


def _latency_verdict(run: Run) -> str:
    mine = _get(run, "proletarian", "latency")
    if not mine:
        return "not measured"
    p50, _, p99 = _percentiles(mine)
    peers = [
        _percentiles(samples)
        for system in ("procrastinate", "pgqueuer")
        if (samples := _get(run, system, "latency"))
    ]
    best50 = min((p[0] for p in peers), default=float("inf"))
    best99 = min((p[2] for p in peers), default=float("inf"))
    checks = [
        (p50 < 3.0, f"p50 {p50:.2f} ms < 3"),
        (p99 < 6.0, f"p99 {p99:.2f} ms < 6"),
        (p50 <= best50, f"p50 ≤ best peer's {best50:.2f}"),
        (p99 <= best99, f"p99 ≤ best peer's {best99:.2f}"),
    ]
    missed = [text for ok, text in checks if not ok]
    if not missed:
        return "**met** (" + "; ".join(text for _, text in checks) + ")"
    return "**missed**: not " + "; not ".join(missed)


def _idle_verdict(run: Run) -> str:
    idle = run.idle
    if idle is None:
        return "not measured"
    per_interval = idle["steady_claims"] / idle["seconds"]
    text = (
        f"{idle['steady_claims']} claim queries in {idle['seconds']:.0f} s at "
        f"{idle['threads']} threads, polling every 1 s: {per_interval:.2f} per interval; "
        f"server: {idle['server_transactions']} transactions over the worker's "
        f"{idle['lifetime']:.1f} s life, its {idle['claims']} claims and connection "
        "start-ups included"
    )
    return ("**met**: " if per_interval <= 1.0 + 1e-9 else "**missed**: ") + text


def _rss_verdict(run: Run) -> str:
    value = _get(run, "proletarian", "rss")
    if value is None:
        return "not measured"
    first, last = value
    growth = (last - first) / first
    jobs = run.args.rss_jobs
    scope = f"{max(jobs // 10, 1):,} → {jobs:,} jobs: {growth:+.1%}"
    if jobs < 100_000:
        scope += " (a short run: pass --rss-jobs 100000 for the target's 10,000 → 100,000)"
    return ("**met**: " if abs(growth) <= 0.10 else "**missed**: ") + scope


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES + PEER_PACKAGES:
        try:
            found[name.lower().replace("-", "_")] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name.lower().replace("-", "_")] = "not installed"
    return found


def _server(command: list[str], prefix: str = "") -> str:
    """The last output line of `command` (the first starting with `prefix`, less it)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if prefix:
        lines = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)][:1]
    return lines[-1] if lines else "unknown"


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc"]
    pg = _server([*psql, "SHOW server_version"])
    pg_settings = _server(
        [
            *psql,
            "SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings "
            "WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')",
        ]
    )
    maria = _server(["mysql", "-h", "127.0.0.1", "-u", "root", "-N", "-e", "SELECT VERSION()"])
    redis_version = _server(["redis-cli", "-h", "127.0.0.1", "INFO", "server"], "redis_version:")
    versions = ", ".join(f"{name} {version}" for name, version in _versions().items())
    return [
        f"- Machine: {os.cpu_count()} CPUs ({cpu}), {int(memory) / 1024 / 1024:.1f} GiB memory, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; PostgreSQL {pg} ({pg_settings}); "
        f"MariaDB {maria}; Redis {redis_version.strip()}",
        f"- Packages: {versions}",
    ]


def report(run: Run) -> str:
    args = run.args
    loads = run.loads or [loadavg()]
    lines = [
        BEGIN,
        f"Run of {run.started} UTC, {run.seconds / 60:.1f} minutes: `python bench/run.py "
        f"{' '.join(sys.argv[1:])}`.",
        "",
        *machine(),
        f"- Load average (1 min) before each measurement: min {min(loads):.2f}, median "
        f"{statistics.median(loads):.2f}, max {max(loads):.2f}; at the end {loadavg():.2f}. "
        "The machine is shared: above ~1.0, other processes were competing for its 2 cores.",
        f"- Sizes: {args.jobs:,} jobs for one-by-one enqueue and for each drain; "
        f"{args.bulk_jobs:,} for bulk enqueue, in calls of 1,000; {args.samples} latency "
        f"samples after 10 thrown away; {args.rss_jobs:,} jobs for RSS (4 threads or "
        f"workers). Throughputs are the median of {args.repeat} run(s), made in rounds over all "
        "systems in turn.",
        "",
        "### PostgreSQL: proletarian, its peers and the floor, one server, one schema each",
        "",
        *table(run, POSTGRES_SYSTEMS),
        "",
        "### proletarian's other stores",
        "",
        *table(run, OTHER_STORES),
        "",
        "### Performance targets",
        "",
        *targets(run),
    ]
    notes = [f"- {row.system}: {note}" for row in run.rows.values() for note in row.notes]
    if notes:
        lines += ["", "Measurements that failed (once, or for good):", "", *notes]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write(path: Path, section: str) -> None:
    """Put `section` between the markers of `path`, keeping everything around them."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + section.rstrip("\n") + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    path.write_text("# Benchmarks\n\n" + section, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=4000, help="jobs per drain and enqueue run")
    parser.add_argument("--bulk-jobs", type=int, default=None, help="default: 10 x --jobs")
    parser.add_argument("--samples", type=int, default=200, help="pickup latency samples")
    parser.add_argument("--rss-jobs", type=int, default=10_000, help="jobs of the RSS run")
    parser.add_argument("--batch-size", type=int, default=100, help="K of the batch-mode row")
    parser.add_argument("--repeat", type=int, default=1, help="runs per throughput (median)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated systems (default all): "
        + ", ".join(POSTGRES_SYSTEMS + OTHER_STORES)
        + ", idle",
    )
    parser.add_argument(
        "--metrics",
        default="",
        help="comma-separated metrics (default all): enqueue_one, enqueue_bulk, drain, "
        "latency, rss",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    args.metrics = {name.strip() for name in args.metrics.split(",") if name.strip()}
    if args.bulk_jobs is None:
        args.bulk_jobs = args.jobs * 10
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    run = Run(args, started=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"))
    began = time.monotonic()
    for round_ in range(args.repeat):
        for system in MEASURED:
            if not wanted or system in wanted:
                print(f"{system} (round {round_ + 1} of {args.repeat}):", file=sys.stderr)
                measure(run, system, round_)
    if not wanted or "idle" in wanted:
        run.loads.append(loadavg())
        try:
            run.idle = child("proletarian", "idle", jobs=5, concurrency=4)
        except Exception as exc:
            print(f"  idle failed: {exc}", file=sys.stderr)
    run.seconds = time.monotonic() - began
    section = report(run)
    print(section)
    write(args.out, section)


if __name__ == "__main__":
    main()
