"""The integration examples in examples/ run as their docs pages say and print the end state:
committed sign-ups get their job, rolled-back ones get neither row nor job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proletarian import QueueStats
from proletarian.adapters.postgres import PostgresStore
from tests.fixtures.integrations import PG_SCHEMA, pg_reset
from tests.fixtures.servers import POSTGRES_URL, require

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 60  # seconds; each takes one or two
PROLETARIAN = Path(sys.executable).parent / "proletarian"  # the installed command
SCHEMA = f"{PG_SCHEMA}_ex"


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROLETARIAN_URL": POSTGRES_URL, "PROLETARIAN_EXAMPLE_SCHEMA": SCHEMA}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def postgres() -> Iterator[None]:
    """The examples drop their schemas themselves; this cleans up after one that failed."""
    require("postgres")
    yield
    pg_reset(SCHEMA, f"{SCHEMA}_acme", f"{SCHEMA}_globex")


def test_meta_logging(tmp_path: Path) -> None:
    """meta_logging.py logs each job under the request id it was enqueued with."""
    result = run("meta_logging.py", str(tmp_path / "jobs.db"))
    assert result.stdout.splitlines() == [
        "[req-1] signing up ada@example.com",
        "[req-2] signing up grace@example.com",
        "[req-1] sending welcome-email to ada@example.com",
        "[req-2] sending welcome-email to grace@example.com",
        "[-] sending welcome-email to nobody@example.com",
        "[-] done",
    ]


@pytest.mark.usefixtures("postgres")
def test_fastapi_app() -> None:
    """fastapi_app.py: the blocked sign-up answers 422 and leaves no job; the others are
    worked off."""
    assert run("fastapi_app.py").stdout.splitlines() == [
        "POST /accounts ada@example.com: 201",
        "POST /accounts mallory@blocked.example: 422",
        "POST /accounts grace@example.com: 201",
        "worker: welcome email sent to ada@example.com",
        "worker: welcome email sent to grace@example.com",
        "succeeded 2, waiting 0",
    ]


@pytest.mark.usefixtures("postgres")
def test_fastapi_app_with_the_worker_command_its_page_gives() -> None:
    """fastapi_app.py's jobs are worked off by the `proletarian worker` command its page and
    docstring give (-o schema=... naming the example's schema), and `proletarian status` with
    the same option shows them: before -o, the documented worker sat idle."""
    requests = run("fastapi_app.py", "requests")
    assert (
        requests.stdout.splitlines()[-1]
        == f"jobs queued on 'emails' in schema {SCHEMA}: start the worker"
    )
    env = {**os.environ, "PROLETARIAN_URL": POSTGRES_URL}
    option = ["-o", f"schema={SCHEMA}"]
    worker = subprocess.Popen(
        [PROLETARIAN, "worker", "examples.fastapi_app:handle_job", "--queue", "emails", *option],
        cwd=EXAMPLES.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = PostgresStore.connect(POSTGRES_URL, schema=SCHEMA)
    try:
        deadline = time.monotonic() + TIMEOUT
        while store.stats().get("emails", QueueStats()).succeeded < 2:
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < deadline, "the worker did not work the example's jobs off"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=TIMEOUT)
        assert worker.returncode == 0, err
    finally:
        store.close()
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert sorted(out.splitlines()) == [
        "worker: welcome email sent to ada@example.com",
        "worker: welcome email sent to grace@example.com",
    ]
    status = subprocess.run(
        [PROLETARIAN, "status", *option], env=env, capture_output=True, text=True, check=True
    )
    assert status.stdout.splitlines()[2].split()[:6] == ["emails", "0", "0", "0", "2", "0"]


@pytest.mark.usefixtures("postgres")
def test_django_outbox() -> None:
    """django_outbox.py: the declined sign-up rolls back its account and its job."""
    assert run("django_outbox.py").stdout.splitlines() == [
        "signed up ada@example.com",
        "sign-up of mallory@example.com rolled back: no account, no email",
        "signed up grace@example.com",
        "worker: welcome email sent to ada@example.com",
        "worker: welcome email sent to grace@example.com",
        "accounts: ada@example.com, grace@example.com",
    ]


@pytest.mark.usefixtures("postgres")
def test_sqlalchemy_outbox() -> None:
    """sqlalchemy_outbox.py: sync and asyncio sessions keep committed jobs, drop rolled back."""
    assert run("sqlalchemy_outbox.py").stdout.splitlines() == [
        "signed up ada@example.com",
        "sign-up of mallory@example.com rolled back: no account, no email",
        "signed up linus@example.com (asyncio)",
        "worker: welcome email sent to ada@example.com",
        "worker: welcome email sent to linus@example.com",
        "accounts: ada@example.com, linus@example.com",
    ]


@pytest.mark.usefixtures("postgres")
def test_tenants() -> None:
    """tenants.py: invoices land in their tenant's schema; the unknown tenant's job fails."""
    assert run("tenants.py").stdout.splitlines() == [
        "acme: A-1, A-2",
        "globex: G-1",
        "initech: failed with UnknownTenant: tenant 'initech' has no schema; the job was not run",
    ]
