"""Measure two checkouts of proletarian side by side, to see what a change costs: the same
measurement (`python -m bench.child SYSTEM METRIC`) run in each checkout's directory, the two
alternating round after round so a burst of load elsewhere hits both alike.

    python -m bench.versions BEFORE_DIR AFTER_DIR [--systems proletarian,mysql]
        [--metric drain] [--concurrency 1,4] [--jobs 4000] [--rounds 5]

Each directory is a checkout with its own bench/ (make one with
`git worktree add /tmp/before <commit>`); the child imports the proletarian package of the
directory it runs in. Prints a Markdown table: the median jobs/s of each checkout, every
round's value, and the change of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from bench.run import child


def measure(root: Path, system: str, metric: str, jobs: int, concurrency: int) -> float:
    value = child(system, metric, jobs=jobs, concurrency=concurrency, root=root)
    # drain reports (jobs/s, CPU µs per job); the enqueue metrics a rate.
    return float(value[0] if isinstance(value, list) else value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--systems", default="proletarian,mysql")
    parser.add_argument("--metric", default="drain")
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--jobs", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = [
        (system.strip(), int(concurrency))
        for system in args.systems.split(",")
        for concurrency in args.concurrency.split(",")
    ]
    values: dict[tuple[str, int, str], list[float]] = {}
    for round_ in range(args.rounds):
        for system, concurrency in cases:
            # The order alternates too: neither checkout always runs first.
            order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
            for name in order:
                root = args.before if name == "before" else args.after
                rate = measure(root, system, args.metric, args.jobs, concurrency)
                values.setdefault((system, concurrency, name), []).append(rate)
                print(
                    f"round {round_ + 1} {system} x{concurrency} {name}: {rate:.0f}",
                    file=sys.stderr,
                )
    header = ("system", "threads", "before (jobs/s)", "after (jobs/s)", "change", "rounds before")
    print("| " + " | ".join((*header, "rounds after")) + " |")
    print("|---|--:|--:|--:|--:|---|---|")
    for system, concurrency in cases:
        before = values[(system, concurrency, "before")]
        after = values[(system, concurrency, "after")]
        change = statistics.median(after) / statistics.median(before) - 1
        print(
            f"| {system} | {concurrency} | {statistics.median(before):.0f} | "
            f"{statistics.median(after):.0f} | {change:+.1%} | "
            f"{', '.join(f'{v:.0f}' for v in before)} | {', '.join(f'{v:.0f}' for v in after)} |"
        )


if __name__ == "__main__":
    main()
