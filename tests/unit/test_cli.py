"""The command line's short commands, run through main(argv) against MemoryStore and SQLite."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

import proletarian
from proletarian import JobError, JobStatus, NewJob, Priority
from proletarian.adapters.memory import MemoryStore
from proletarian.cli import main, session
from proletarian.core.urls import SCHEMES
from proletarian.ports.store import QueueStore
from proletarian.stores import open_store
from proletarian.testing import ManualClock

NEVER_ENQUEUED = "0190d2a0-0000-7000-8000-000000000000"


@attrs.frozen
class Result:
    code: int
    out: str
    err: str


@attrs.define
class Cli:
    """Runs `proletarian ...` in-process against one store, which the test can also use."""

    url: str
    store: QueueStore
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str, url: bool = True) -> Result:
        self.capsys.readouterr()
        code = main([*argv, "--url", self.url] if url else list(argv))
        out, err = self.capsys.readouterr()
        return Result(code, out, err)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return Result(code, out, err)


def one_line_error(result: Result, code: int, *fragments: str) -> None:
    """The failure is exactly one line on stderr, with no traceback and nothing on stdout."""
    assert result.code == code, result
    assert result.out == ""
    assert result.err.startswith("proletarian")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err


@pytest.fixture(params=["memory", "sqlite"])
def cli(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Cli]:
    monkeypatch.delenv(session.URL_VARIABLE, raising=False)
    if request.param == "memory":
        # Each memory:// URL opens a new, empty store; share one so commands see each other.
        shared = MemoryStore(clock=ManualClock())
        real = open_store

        def open_shared(url: str, **options: Any) -> QueueStore:
            return shared if url == "memory://" else real(url, **options)

        monkeypatch.setattr(session, "open_store", open_shared)
        yield Cli("memory://", shared, capsys)
        return
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = open_store(url)
    store.install_schema()  # the commands other than worker refuse to create the file
    try:
        yield Cli(url, store, capsys)
    finally:
        store.close()


def claimed(store: QueueStore, job_type: str = "t") -> Any:
    store.enqueue(NewJob(job_type=job_type, payload={}))
    claim = store.claim(["default"], worker_id="test")
    assert claim is not None
    return claim


# -- enqueue ------------------------------------------------------------------------------------


def test_enqueue_prints_the_id_of_a_stored_job(cli: Cli) -> None:
    """enqueue writes the job with its type, payload, queue and priority and prints its id."""
    result = cli(
        "enqueue", "send-email", '{"to": "a@b.c"}', "--queue", "emails", "--priority", "high"
    )
    assert result.code == 0, result
    job = cli.store.get_job(result.out.strip())
    assert job is not None
    assert (job.job_type, job.payload, job.queue) == ("send-email", {"to": "a@b.c"}, "emails")
    assert (job.priority, job.status) == (Priority.HIGH, JobStatus.READY)


def test_enqueue_in_seconds_schedules_the_job(cli: Cli) -> None:
    """enqueue --in delays the job by that many seconds."""
    result = cli("enqueue", "report", "[1, 2]", "--in", "3600")
    job = cli.store.get_job(result.out.strip())
    assert job is not None
    assert job.status is JobStatus.SCHEDULED
    assert timedelta(minutes=59) < job.process_at - job.enqueued_at <= timedelta(hours=1)


def test_enqueue_with_bad_json_is_a_usage_error(cli: Cli) -> None:
    """A payload that is not JSON is one line naming the mistake, exit 2, nothing written."""
    one_line_error(cli("enqueue", "t", "{to: 1}"), 2, "not valid JSON", "line 1 column 2")
    assert cli.store.stats() == {}


def test_enqueue_with_unknown_priority_is_a_usage_error(cli: Cli) -> None:
    """An unknown --priority is refused by the parser in one line, exit 2."""
    one_line_error(cli("enqueue", "t", "{}", "--priority", "urgent"), 2, "invalid choice")


def test_enqueue_with_negative_delay_is_a_usage_error(cli: Cli) -> None:
    """--in must be a non-negative number of seconds."""
    one_line_error(cli("enqueue", "t", "{}", "--in", "-5"), 2, "--in")


def test_enqueue_with_a_bad_queue_name_is_a_usage_error(cli: Cli) -> None:
    """A queue name the core refuses is a one-line usage error."""
    one_line_error(cli("enqueue", "t", "{}", "--queue", " padded"), 2, "queue")


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["t", "1", "--in", "1e12"], ["process_in", "later than the year 9999"]),
        (["t", "1", "--in", "1e300"], ["--in", "'1e300' is too many seconds"]),
        (["t", "1", "--in", "inf"], ["--in"]),
        (["t", DEEP], ["JSON_PAYLOAD can't be read: it is nested too deep"]),
        (["t", "[" * 150 + "]" * 150], ["payload is nested more than 100 deep"]),
        (["t", "1" * 5000], ["JSON_PAYLOAD can't be read", "4300"]),
        (["t", '"\\ud800"'], ["payload contains a lone surrogate"]),
        (["t", '{"k": "\\udcff"}'], ["payload['k'] contains a lone surrogate"]),
        (["t\udcff", "1"], ["argument 2 is not UTF-8: b't\\xff'"]),
        (["t", "1", "--queue", "q\udcff"], ["argument 5 is not UTF-8: b'q\\xff'"]),
    ],
    ids=[
        "in-past-9999",
        "in-past-timedelta",
        "in-infinite",
        "json-5000-deep",
        "payload-150-deep",
        "json-huge-int",
        "payload-surrogate",
        "payload-key-surrogate",
        "job-type-not-utf8",
        "queue-not-utf8",
    ],
)
def test_enqueue_of_values_no_store_takes_is_one_usage_line(
    cli: Cli, argv: list[str], fragments: list[str]
) -> None:
    """A delay past year 9999 or past what a timedelta holds, JSON too deep or with an int too
    long to read, a payload the serializer refuses and an argument that is not UTF-8 (the OS
    hands bytes; Python escapes them as lone surrogates) are each one line naming what is
    wrong, exit 2, nothing written."""
    one_line_error(cli("enqueue", *argv), 2, *fragments)
    assert cli.store.stats() == {}


# -- status -------------------------------------------------------------------------------------


def test_status_of_an_empty_store(cli: Cli) -> None:
    """status says so when the store holds no jobs."""
    result = cli("status")
    assert result.code == 0
    assert result.out.startswith("no jobs in ")


def test_status_shows_a_row_per_queue(cli: Cli) -> None:
    """status prints ready, scheduled, running, succeeded and failed counts per queue."""
    claimed(cli.store).succeed()
    claimed(cli.store).fail(JobError(type="E", message="boom"))
    claimed(cli.store)
    cli.store.enqueue(NewJob(job_type="t", payload={}))
    cli.store.enqueue(NewJob(job_type="t", payload={}, process_in=timedelta(hours=1)))
    cli.store.enqueue(NewJob(job_type="t", payload={}, queue="emails"))
    result = cli("status")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "queue", "ready", "scheduled", "running", "succeeded", "failed", "oldest", "ready",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:6] for line in lines[2:]}
    assert rows == {"default": ["1", "1", "1", "1", "1"], "emails": ["1", "0", "0", "0", "0"]}


def test_status_shows_the_age_of_the_oldest_ready_job(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last column is how long the oldest due job has waited."""
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    monkeypatch.setattr(session, "open_store", lambda url: store)
    store.enqueue(NewJob(job_type="t", payload={}))
    clock.advance(timedelta(minutes=4, seconds=3))
    result = run(capsys, "status", "--url", "memory://")
    assert result.out.splitlines()[2].endswith("4m 03s")


# -- retry and cancel ---------------------------------------------------------------------------


def test_retry_puts_a_failed_job_back(cli: Cli) -> None:
    """retry JOB_ID requeues an archived failed job, due now."""
    claim = claimed(cli.store)
    claim.fail(JobError(type="E", message="boom"))
    result = cli("retry", claim.job.id)
    assert result.code == 0, result
    assert "queued again" in result.out
    job = cli.store.get_job(claim.job.id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.READY, 0)


def test_retry_of_an_unknown_job_fails(cli: Cli) -> None:
    """retry of an id the store never saw is a one-line error, exit 1."""
    one_line_error(cli("retry", NEVER_ENQUEUED), 1, "no job with id", NEVER_ENQUEUED)


def test_retry_of_a_succeeded_job_fails(cli: Cli) -> None:
    """Only failed jobs can be retried; the message says what the job is."""
    claim = claimed(cli.store)
    claim.succeed()
    one_line_error(cli("retry", claim.job.id), 1, "is succeeded", "only failed jobs")


def test_cancel_removes_a_waiting_job(cli: Cli) -> None:
    """cancel JOB_ID deletes a job that has not started."""
    job_id = cli.store.enqueue(NewJob(job_type="t", payload={}))
    result = cli("cancel", job_id)
    assert result.code == 0, result
    assert cli.store.get_job(job_id) is None


def test_cancel_of_a_running_job_fails(cli: Cli) -> None:
    """A running job can't be cancelled: one line, exit 1, the job is untouched."""
    claim = claimed(cli.store)
    one_line_error(cli("cancel", claim.job.id), 1, "is running")
    job = cli.store.get_job(claim.job.id)
    assert job is not None
    assert job.status is JobStatus.RUNNING


def test_cancel_of_a_finished_job_fails(cli: Cli) -> None:
    """An archived job can't be cancelled; the message gives its outcome."""
    claim = claimed(cli.store)
    claim.succeed()
    one_line_error(cli("cancel", claim.job.id), 1, "already finished (succeeded)")


def test_cancel_of_an_unknown_job_fails(cli: Cli) -> None:
    """cancel of an id the store never saw is a one-line error, exit 1."""
    one_line_error(cli("cancel", NEVER_ENQUEUED), 1, "no job with id")


# -- prune --------------------------------------------------------------------------------------


def test_prune_deletes_archived_jobs_older_than_the_age(cli: Cli) -> None:
    """prune --older-than 0s deletes every archived job and leaves queued ones."""
    claimed(cli.store).succeed()
    claimed(cli.store).fail(JobError(type="E", message="boom"))
    queued = cli.store.enqueue(NewJob(job_type="t", payload={}))
    if isinstance(cli.store.clock, ManualClock):
        cli.store.clock.advance(1)
    result = cli("prune", "--older-than", "0s")
    assert result.code == 0, result
    assert result.out.strip() == "deleted 2 archived jobs finished more than 0s ago"
    assert cli.store.get_job(queued) is not None
    stats = cli.store.stats()["default"]
    assert (stats.succeeded, stats.failed) == (0, 0)


def test_prune_keeps_recent_archived_jobs(cli: Cli) -> None:
    """Archived jobs younger than the age stay."""
    claimed(cli.store).succeed()
    result = cli("prune", "--older-than", "1d12h")
    assert result.out.strip() == "deleted 0 archived jobs finished more than 1d 12h ago"
    assert cli.store.stats()["default"].succeeded == 1


def test_prune_in_batches_reports_progress(cli: Cli) -> None:
    """prune --batch N deletes in steps of N, reports progress on stderr, and totals on stdout."""
    for _ in range(5):
        claimed(cli.store).succeed()
    if isinstance(cli.store.clock, ManualClock):
        cli.store.clock.advance(1)
    result = cli("prune", "--older-than", "0s", "--batch", "2")
    assert result.code == 0, result
    assert result.out.strip() == "deleted 5 archived jobs finished more than 0s ago"
    assert result.err.splitlines() == ["deleted 2 so far...", "deleted 4 so far..."]
    assert cli.store.stats() == {}


@pytest.mark.parametrize("age", ["7", "7x", "d", "-1d", ""])
def test_prune_needs_an_age_with_a_unit(cli: Cli, age: str) -> None:
    """An age without a unit (s, m, h, d) is refused rather than guessed."""
    one_line_error(cli("prune", "--older-than", age), 2, "--older-than")


@pytest.mark.parametrize(
    ("age", "fragments"),
    [
        ("99999999999d", ["--older-than", "'99999999999d' is too long"]),
        ("1" * 400 + "d", ["--older-than", "is too long"]),
        ("9999999d", ["older_than 9999999 days, 0:00:00 reaches before the year 1"]),
    ],
    ids=["past-timedelta", "infinite", "before-year-1"],
)
def test_prune_with_an_age_too_long_is_one_usage_line(
    cli: Cli, age: str, fragments: list[str]
) -> None:
    """An age longer than a timedelta holds, or reaching back before year 1, is one line,
    exit 2, and the archive is kept."""
    job_id = proletarian.enqueue(cli.store, "t", None)
    claim = cli.store.claim(["default"], worker_id="w")
    assert claim is not None
    claim.succeed()
    one_line_error(cli("prune", "--older-than", age), 2, *fragments)
    assert cli.store.get_job(job_id) is not None


def test_retry_of_an_id_that_is_not_utf8_is_one_usage_line(cli: Cli) -> None:
    """A job id that is not UTF-8 is refused before it reaches a driver that can't encode it."""
    one_line_error(cli("retry", "\udcff"), 2, "argument 2 is not UTF-8: b'\\xff'")


def test_a_url_variable_that_is_not_utf8_is_one_usage_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PROLETARIAN_URL holding bytes that are not UTF-8 is one line, exit 2."""
    monkeypatch.setenv(session.URL_VARIABLE, "sqlite:////tmp/\udcff.db")
    one_line_error(run(capsys, "status"), 2, f"{session.URL_VARIABLE} is not UTF-8")


def test_a_real_argument_that_is_not_utf8_is_one_usage_line() -> None:
    """Run as a program, with the byte 0xff in an argument: one line on stderr, exit 2."""
    done = subprocess.run(
        [sys.executable, "-m", "proletarian", "enqueue", b"t\xff", "1", "--url", "memory://"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr == b"proletarian: error: argument 2 is not UTF-8: b't\\xff'\n"


# -- schema -------------------------------------------------------------------------------------


def test_schema_print_for_sqlite_prints_the_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    """schema print shows the packaged DDL of the URL's kind, without connecting."""
    result = run(capsys, "schema", "print", "--url", "sqlite:////nonexistent/dir/jobs.db")
    assert result.code == 0, result
    assert 'CREATE TABLE IF NOT EXISTS "job"' in result.out
    assert 'CREATE TABLE IF NOT EXISTS "archived_job"' in result.out


@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:1/0"])
def test_schema_print_for_stores_without_a_schema(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """memory and redis stores have no DDL, and schema print says so."""
    result = run(capsys, "schema", "print", "--url", url)
    assert result.code == 0
    assert "have no schema" in result.out


def test_schema_apply_creates_the_sqlite_tables(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """schema apply creates the tables, and running it again changes nothing."""
    path = tmp_path / "fresh.db"
    for _ in range(2):
        result = run(capsys, "schema", "apply", "--url", f"sqlite:///{path}")
        assert result.code == 0, result
        assert result.out.startswith("schema installed on sqlite:///")
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"job", "archived_job"} <= tables


def test_schema_apply_on_memory_says_there_is_nothing_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """schema apply on a store without tables succeeds and says so."""
    result = run(capsys, "schema", "apply", "--url", "memory://")
    assert result.code == 0
    assert "no schema" in result.out


# -- URLs and reachability ----------------------------------------------------------------------


def test_url_defaults_to_the_environment_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url the store comes from PROLETARIAN_URL."""
    monkeypatch.setenv("PROLETARIAN_URL", "memory://")
    result = run(capsys, "status")
    assert (result.code, result.out.strip()) == (0, "no jobs in memory://")


def test_no_url_at_all_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With neither --url nor PROLETARIAN_URL, the command says how to give one."""
    monkeypatch.delenv("PROLETARIAN_URL", raising=False)
    one_line_error(run(capsys, "status"), 2, "--url", "PROLETARIAN_URL")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://example.com/x", "scheme 'ftp' is not supported"),
        ("jobs.db", "no scheme"),
        ("sqlite:///:memory:", "needs a database file"),
    ],
)
def test_a_bad_url_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], url: str, fragment: str
) -> None:
    """A URL of no known kind is a one-line usage error."""
    one_line_error(run(capsys, "status", "--url", url), 2, fragment)


def test_an_unopenable_sqlite_path_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A SQLite file in a directory that does not exist can't be created: one line, exit 1."""
    one_line_error(
        run(capsys, "schema", "apply", "--url", "sqlite:////nonexistent/dir/jobs.db"),
        1,
        "store unavailable",
        "/nonexistent/dir/jobs.db",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["enqueue", "t", "{}"],
        ["retry", NEVER_ENQUEUED],
        ["cancel", NEVER_ENQUEUED],
        ["prune", "--older-than", "7d"],
    ],
    ids=lambda argv: argv[0],
)
def test_commands_other_than_worker_refuse_a_sqlite_file_that_is_not_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    """A mistyped SQLite path is one line naming the path and the command that creates the
    database, exit 2, and no file is created (status used to create it and print no jobs)."""
    path = tmp_path / "typo.db"
    result = run(capsys, *argv, "--url", f"sqlite:///{path}")
    one_line_error(
        result,
        2,
        f"no SQLite database at {path}",
        f"proletarian schema apply --url sqlite:///{path}",
    )
    assert not path.exists()


def test_an_unreachable_server_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server that refuses connections is one line, exit 1, and the password is hidden."""
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/test?connect_timeout=2"
    result = run(capsys, "status", "--url", url)
    one_line_error(result, 1, "store unavailable", "app:***@127.0.0.1:1")
    assert "s3cret-pw" not in result.err


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
@pytest.mark.parametrize("command", [["status"], ["worker", "json:loads"]])
def test_an_unparseable_url_is_shown_without_its_password(
    capsys: pytest.CaptureFixture[str], scheme: str, command: list[str]
) -> None:
    """`--url <scheme>://app:secret@[::1/db` (no parser accepts it) is a one-line usage error
    showing the URL with *** for the password; memory://, which reads nothing after the scheme,
    runs the command. The password is printed nowhere."""
    url = f"{scheme}://app:secret@[::1/db"
    if SCHEMES[scheme] == "memory":
        if command[0] == "worker":
            return  # would run until stopped; status covers memory://
        result = run(capsys, *command, "--url", url)
        assert result.code == 0, result
    else:
        result = run(capsys, *command, "--url", url)
        one_line_error(result, 2, f"{scheme}://app:***@[::1/db")
    assert "secret" not in result.out + result.err


# -- store options ------------------------------------------------------------------------------


def test_store_options_reach_the_store_for_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """-o KEY=VALUE gives the store an option for schema apply, enqueue, status and cancel alike:
    jobs go to the tables it names, and commands without it look at the default ones."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    tables = ["-o", "job_table=jobs", "--store-option", "archived_job_table=done"]
    assert run(capsys, "schema", "apply", "--url", url, *tables).code == 0
    job_id = run(capsys, "enqueue", "t", "{}", "--url", url, *tables).out.strip()
    status = run(capsys, "status", "--url", url, *tables)
    assert status.out.splitlines()[2].split()[:2] == ["default", "1"]
    assert run(capsys, "status", "--url", url).out.startswith("no jobs in ")
    assert run(capsys, "cancel", job_id, "--url", url, *tables).code == 0
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        tables_made = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "done", "job", "archived_job"} <= tables_made


def test_a_store_option_replaces_the_urls_own_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """-o wins over the same option in the URL's query, and the URL shown says so."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}?job_table=a"
    assert run(capsys, "schema", "apply", "--url", url, "-o", "job_table=b").code == 0
    result = run(capsys, "status", "--url", url, "-o", "job_table=b")
    assert result.out.strip().endswith("jobs.db?job_table=b")
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        tables_made = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "b" in tables_made
    assert "a" not in tables_made


def test_store_options_apply_to_the_url_variable_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """-o adds to PROLETARIAN_URL as it does to --url."""
    monkeypatch.setenv(session.URL_VARIABLE, "memory://")
    result = run(capsys, "status", "-o", "lease=5")
    assert (result.code, result.out.strip()) == (0, "no jobs in memory://?lease=5")


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        (
            "redis://127.0.0.1:1/7?prefx=myapp",
            ["Redis URL option 'prefx' is not supported", "archive_retention, lease, prefix"],
        ),
        (
            "postgresql://app:s3cret@127.0.0.1:1/app?prefix=myapp",
            ["PostgreSQL URL option 'prefix' is not supported", "job_table", "schema"],
        ),
        (
            "mysql://app:s3cret@127.0.0.1:1/app?schema=app",
            ["MySQL URL option 'schema' is not supported", "job_table", "pool_size"],
        ),
        ("sqlite:///jobs.db?schema=app", ["SQLite URL option 'schema' is not supported"]),
        ("memory://?prefix=myapp", ["memory URL option 'prefix' is not supported; expected"]),
    ],
    ids=["redis", "postgres", "mysql", "sqlite", "memory"],
)
@pytest.mark.parametrize("command", [["status"], ["schema", "apply"], ["worker", "json:loads"]])
def test_an_option_the_store_does_not_take_is_one_usage_line(
    capsys: pytest.CaptureFixture[str], url: str, fragments: list[str], command: list[str]
) -> None:
    """An unknown URL option is one line naming it and listing the store's options, exit 2,
    before any server is contacted; the password is never shown."""
    result = run(capsys, *command, "--url", url)
    one_line_error(result, 2, *fragments)
    assert "s3cret" not in result.err


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("lease=soon", "SQLite URL option lease='soon' is not valid: expected a number of seconds"),
        ("lease=0", "lease must be a positive timedelta"),
        ("busy_timeout=-1", "busy_timeout='-1'"),
        ("job_table=a;b", "job_table 'a;b' is not a valid identifier"),
        ("synchronous=sometimes", "synchronous must be one of NORMAL, FULL, EXTRA"),
    ],
)
def test_a_bad_store_option_value_is_one_usage_line_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, fragment: str
) -> None:
    """A value the store can't read or refuses is one line naming the option, exit 2."""
    result = run(capsys, "schema", "apply", "--url", f"sqlite:///{tmp_path / 'j.db'}", "-o", option)
    one_line_error(result, 2, fragment)


def test_a_password_given_as_a_store_option_is_never_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """-o password=... joins the URL, and the URL's password is hidden in every message."""
    result = run(
        capsys, "status", "--url", "postgresql://app@127.0.0.1:1/app?connect_timeout=2",
        "-o", "password=s3cret-pw",
    )  # fmt: skip
    one_line_error(result, 1, "store unavailable", "password=***")
    assert "s3cret-pw" not in result.err


@pytest.mark.parametrize("option", ["schema", "=app", "", " =x"])
def test_a_store_option_must_be_key_equals_value(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    """-o without KEY=VALUE is refused by the parser in one line, exit 2."""
    one_line_error(run(capsys, "status", "--url", "memory://", "-o", option), 2, "KEY=VALUE")


def test_schema_print_uses_the_store_options(capsys: pytest.CaptureFixture[str]) -> None:
    """schema print shows the DDL with the schema, tables and id kind the options name, still
    without connecting."""
    result = run(
        capsys, "schema", "print", "--url", "postgresql://127.0.0.1:1/app",
        "-o", "schema=app", "-o", "job_ids=database",
    )  # fmt: skip
    assert result.code == 0, result
    assert 'CREATE TABLE IF NOT EXISTS "app"."job" (' in result.out
    assert "GENERATED BY DEFAULT AS IDENTITY" in result.out
    sqlite = run(capsys, "schema", "print", "--url", "sqlite:///x.db?job_table=jobs")
    assert 'CREATE TABLE IF NOT EXISTS "jobs"' in sqlite.out


# -- the parser ---------------------------------------------------------------------------------


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """proletarian with no command names what is missing in one line, exit 2."""
    one_line_error(run(capsys), 2, "COMMAND")


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command is one line, exit 2."""
    one_line_error(run(capsys, "launch"), 2, "invalid choice: 'launch'")


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints the commands and returns 0."""
    result = run(capsys, "--help")
    assert result.code == 0
    for command in ("schema", "worker", "enqueue", "status", "retry", "cancel", "prune", "demo"):
        assert command in result.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the installed version."""
    result = run(capsys, "--version")
    assert result.code == 0
    assert result.out.startswith("proletarian ")


# -- worker start-up errors ---------------------------------------------------------------------

NOT_A_FUNCTION = 42


def advanced_handler(job: proletarian.Job, ctx: proletarian.JobContext) -> None:
    """A handler written for --handler-mode advanced."""


def default_handler(job_type: str, payload: Any) -> None:
    """A handler written for the default mode."""


registry = proletarian.Handlers()


@pytest.mark.parametrize(
    ("handler", "code", "fragment"),
    [
        ("no_colon_here", 2, "must be MODULE:HANDLER"),
        ("tests.unit.no_such_module:handle", 2, "module 'tests.unit.no_such_module' not found"),
        ("tests.unit.test_cli:no_such_handler", 2, "has no attribute 'no_such_handler'"),
        ("tests.unit.test_cli:NOT_A_FUNCTION", 2, "is not callable (got int)"),
    ],
)  # fmt: skip
def test_worker_with_a_bad_handler_path(
    capsys: pytest.CaptureFixture[str], handler: str, code: int, fragment: str
) -> None:
    """A handler path that does not resolve is one line naming it, before any store is opened."""
    one_line_error(run(capsys, "worker", handler, "--url", "memory://"), code, fragment)


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (
            ["tests.unit.test_cli:advanced_handler"],
            [
                "takes (job: proletarian.Job, ctx: proletarian.JobContext), the advanced mode's",
                "run it with --handler-mode advanced",
            ],
        ),
        (
            ["tests.unit.test_cli:default_handler", "--handler-mode", "advanced"],
            [
                "takes (job_type: str, payload: Any), the default mode's arguments",
                "drop --handler-mode advanced",
            ],
        ),
    ],
    ids=["advanced-handler-in-default-mode", "default-handler-in-advanced-mode"],
)
def test_worker_with_a_handler_of_the_other_mode(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragments: list[str]
) -> None:
    """A handler whose parameters belong to the other mode is one line saying which flag to
    change, exit 2, before any store is opened (it used to fail every job with
    "'str' object has no attribute 'payload'")."""
    result = run(capsys, "worker", *argv, "--url", "sqlite:////nonexistent/dir/jobs.db")
    one_line_error(result, 2, *fragments)


@pytest.mark.parametrize(
    "argv",
    [
        ["tests.unit.test_cli:advanced_handler", "--handler-mode", "advanced"],
        ["tests.unit.test_cli:default_handler"],
        ["tests.unit.test_cli:registry"],
        ["tests.unit.test_cli:registry", "--handler-mode", "advanced"],
    ],
)
def test_worker_with_a_handler_of_its_mode_gets_to_the_store(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A handler that fits its mode, and a Handlers registry in either, pass loading: the
    worker goes on to the store (here one that can't be opened)."""
    result = run(capsys, "worker", *argv, "--url", "sqlite:////nonexistent/dir/jobs.db")
    one_line_error(result, 1, "store unavailable")


def test_worker_handler_module_with_a_missing_dependency(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A handler module that imports a missing package is one line naming that package, exit 1."""
    (tmp_path / "cli_app_needing_a_package.py").write_text("import no_such_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_app_needing_a_package", raising=False)
    one_line_error(
        run(capsys, "worker", "cli_app_needing_a_package:handle", "--url", "memory://"),
        1,
        "no_such_package_xyz",
    )


def test_worker_on_an_unreachable_store_fails_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The worker probes the store before starting: an unreachable one exits 1 in one line."""
    result = run(
        capsys,
        "worker",
        "tests.unit.test_cli:claimed",
        "--url",
        "sqlite:////nonexistent/dir/jobs.db",
    )
    one_line_error(result, 1, "store unavailable")


@pytest.mark.parametrize(
    ("lease", "fragment"),
    [("0", "more than 0 seconds"), ("soon", "soon")],
)
def test_worker_lease_must_be_positive_seconds(
    capsys: pytest.CaptureFixture[str], lease: str, fragment: str
) -> None:
    """--lease takes a positive number of seconds."""
    result = run(capsys, "worker", "tests.unit.test_cli:claimed", "--url", "memory://",
                 "--lease", lease)  # fmt: skip
    one_line_error(result, 2, fragment)


def test_worker_lease_on_mysql_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MySQL has no leased claims: --lease there is a usage error, and no server is asked."""
    result = run(capsys, "worker", "tests.unit.test_cli:claimed",
                 "--url", "mysql://root@127.0.0.1:1/none", "--lease", "30")  # fmt: skip
    one_line_error(result, 2, "MySQL claims are transactional")
