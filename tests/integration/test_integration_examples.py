"""The integration examples in examples/ run as their docs pages say and print the end state:
committed sign-ups get their job, rolled-back ones get neither row nor job."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.integrations import PG_SCHEMA, pg_reset
from tests.fixtures.servers import POSTGRES_URL, require

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 60  # seconds; each takes one or two
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
