"""The scripts in examples/ run as documented and end in the state they print."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 20  # seconds; each example takes about one


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_basic(tmp_path: Path) -> None:
    """basic.py runs the committed jobs by priority and none from the rolled-back sign-up."""
    result = run("basic.py", str(tmp_path / "jobs.db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sign-up of Mallory rolled back (payment declined): no user, no job",
        "hello, Grace",
        "2 + 3 = 5",
        "hello, Ada",
        "succeeded 3, failed 0, waiting 0",
    ]


def test_retries(tmp_path: Path) -> None:
    """retries.py ends with the flaky job succeeded on attempt 3 and the broken one failed."""
    result = run("retries.py", str(tmp_path / "jobs.db"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-2:] == [
        "fetch-page: succeeded after 3 attempts",
        "parse-invoice: failed after 3 attempts, "
        "last error ValueError: invoice 2024-017 has no total",
    ]
    assert sum("retrying" in line for line in lines) == 4
    assert sum(line.startswith("on_failed: ") for line in lines) == 1


def test_shutdown_hands_over_and_resumes(tmp_path: Path) -> None:
    """shutdown.py stops on SIGTERM with the rest of its job queued, and a second run ends it."""
    path = str(tmp_path / "jobs.db")
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, str(EXAMPLES / "shutdown.py"), path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        # If the script hangs, the kill closes its pipe and the read below ends.
        watchdog = threading.Timer(TIMEOUT, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("exported 10/"):
                    proc.send_signal(signal.SIGTERM)
            returncode = proc.wait()
        finally:
            watchdog.cancel()
    assert returncode == 0, lines
    assert "SIGTERM: finishing the running job" in lines
    assert any(line.startswith("stopping: rows ") for line in lines)
    assert lines[-1] == "done: succeeded 1, waiting 1"

    second = run("shutdown.py", path)
    assert second.returncode == 0, second.stderr
    lines = second.stdout.splitlines()
    assert "export finished" in lines
    assert lines[-1] == "done: succeeded 2, waiting 0"
