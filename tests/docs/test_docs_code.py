"""Every code block of README.md and docs/ runs as written, page by page, so the docs can't
drift from the code.

A page runs top to bottom in a temporary directory, as a reader would follow it:

- Python blocks run in a process of the page's own (tests/docs/runner.py), each in a copy of
  the page's namespace: its `PAGES` prelude (the store, the URL or the table a page's prose
  says you have) and the stand-ins of tests/docs/stubs.py (`mailer`, `metrics`, ...). A block
  whose first line is `# name.py` is that file: it is written, for the commands and imports
  after it (a file nothing refers to is run on its own). A block starting with `# fragment:`
  is not run; the reader sees that it is a fragment.
- Shell blocks run their `proletarian`, `python` and `psql` commands (an `export` sets the
  page's environment; pip, git, docker and the like are left to the reader).
  `proletarian worker` starts in the background, is waited for until it logs
  `worker_started`, and is stopped with SIGTERM when the next worker starts or the page ends:
  it must exit 0 and log no error. Other commands must exit 0, or fail where a console block
  shows them printing `proletarian: error: ...`.
- A block marked `<!-- test: output -->` is compared with what the command before it
  printed (`...` matches anything); the command is run again until it matches, for a worker
  to catch up.

Each page gets databases of its own (PostgreSQL and MariaDB) and a Redis prefix of its own,
dropped at its end. The hosts, passwords and file paths the pages use as examples are pointed
at those by `REPLACE`, listed literally: a replacement no longer found fails, so this list
can't drift either.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import attrs
import psycopg
import pymysql
import pytest
import redis
from psycopg import sql

from tests.docs.markdown import ROOT, SHELLS, Block, blocks, pages
from tests.fixtures.servers import MYSQL_URL, POSTGRES_URL, REDIS_URL, require

APP = Path(__file__).resolve().parent / "app"
DEADLINE = 60.0  # seconds for one block or command; each takes well under one
RUN = ("proletarian", "python", "psql")  # the commands of shell blocks that are run
# Python and shell blocks are run; SQL, plain and text blocks (output, DDL) are read.
LANGUAGES = frozenset({"python", *SHELLS, "sql", "text", ""})
_numbers = itertools.count()


@attrs.frozen(kw_only=True)
class Page:
    """How a page is set up. `prelude` is Python run first in the page's namespace;
    `replace` adds literal replacements to `REPLACE`, `env` variables to the commands'
    environment. All three may name the page's resources: {pg}, {mysql}, {mysql_db},
    {redis}, {redis_prefix} and {dir} (the page's directory)."""

    servers: tuple[str, ...] = ()  # postgres, mysql, redis
    prelude: str = ""
    replace: Mapping[str, str] = attrs.field(factory=dict)
    env: Mapping[str, str] = attrs.field(factory=dict)


# What every page's namespace starts with: the names its blocks take as imported.
COMMON = """
import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import proletarian
from proletarian import *
from proletarian.adapters.memory import MemoryStore
from proletarian.adapters.null import NullStore
from proletarian.adapters.sqlite import SQLiteStore
from proletarian.testing import CapturingLog, ManualClock
from tests.docs import stubs

globals().update(stubs.app())
"""

POSTGRES = """
import psycopg
from proletarian.adapters.postgres import PostgresStore

url = DSN = URL = "{pg}"
store = PostgresStore.connect(url)
store.install_schema()
"""

ACCOUNT_PG = """
with psycopg.connect(url, autocommit=True) as admin:
    admin.execute(
        "CREATE TABLE account (id serial, email text, balance int, welcomed boolean)"
    )
"""

# The example URLs and values of the pages, and what the tests use in their place.
REPLACE = {
    "postgresql://127.0.0.1/test": "{pg}",
    "postgresql://127.0.0.1/app": "{pg}",
    "postgresql://postgres:secret@127.0.0.1:5432/postgres": "{pg}",
    "postgresql://app:secret@db.internal:5432/app": "{pg}",
    "postgresql://app@db.internal:5432/app": "{pg}",
    "mysql://app:secret@db.internal:3306/app": "{mysql}",
    'host="db.internal", user="app", password="...", database="app"': (
        'host="127.0.0.1", user="root", password="", database="{mysql_db}"'
    ),
    "redis://127.0.0.1:6379/0": "{redis}",
    'prefix="myapp"': 'prefix="{redis_prefix}"',
    "prefix=myapp": "prefix={redis_prefix}",
    "sqlite:////var/lib/app/jobs.db": "sqlite:///{dir}/var-lib-app-jobs.db",
}

PAGES: dict[str, Page] = {
    "README.md": Page(servers=("postgres",)),
    "docs/getting-started.md": Page(servers=("postgres",)),
    "docs/concepts.md": Page(servers=("postgres",), prelude=POSTGRES + ACCOUNT_PG),
    "docs/handlers.md": Page(prelude="store = MemoryStore()"),
    "docs/unique-jobs.md": Page(servers=("postgres",), prelude=POSTGRES),
    "docs/operations.md": Page(servers=("postgres",), prelude=POSTGRES, env={"URL": "{pg}"}),
    "docs/testing.md": Page(
        prelude="""
from myapp.jobs import mailer

class DuplicateEmail(Exception):
    pass

def checkout(store, order_id):
    proletarian.enqueue(store, "send-receipt", {"order_id": order_id})
"""
    ),
    "docs/cli.md": Page(
        servers=("postgres",),
        prelude=POSTGRES + "import os\nos.mkdir('migrations')\n",
        env={"DATABASE_URL": "{pg}"},
        # Where the page shows the error for a server that can't be reached.
        replace={
            "proletarian status --url postgresql://app:secret@db.internal:5432/app": (
                "proletarian status --url postgresql://app:secret@127.0.0.1:1/app"
            ),
            "PostgreSQL at postgresql://app:***@db.internal:5432/app": (
                "PostgreSQL at postgresql://app:***@127.0.0.1:1/app"
            ),
        },
    ),
    "docs/stores/postgresql.md": Page(servers=("postgres",), prelude=POSTGRES + ACCOUNT_PG),
    "docs/stores/mysql.md": Page(
        servers=("mysql",),
        prelude="""
import pymysql
from proletarian.adapters.mysql import MySQLStore

url = "{mysql}"
store = MySQLStore.connect(url)
store.install_schema()
admin = pymysql.connect(host="127.0.0.1", user="root", database="{mysql_db}")
with admin.cursor() as cursor:
    cursor.execute("CREATE TABLE account (email varchar(255), welcomed int)")
admin.close()
""",
    ),
    "docs/stores/sqlite.md": Page(
        prelude="""
import sqlite3

with sqlite3.connect("app.db") as admin:
    admin.execute("CREATE TABLE account (email text, welcomed int)")
admin.close()
store = SQLiteStore("app.db")
"""
    ),
    "docs/stores/redis.md": Page(servers=("redis",)),
    "docs/reference/stores/postgresql.md": Page(servers=("postgres",)),
    "docs/reference/stores/mysql.md": Page(servers=("mysql",)),
    "docs/reference/stores/redis.md": Page(servers=("redis",)),
    "docs/integrations/django.md": Page(servers=("postgres",), prelude=POSTGRES),
    "docs/integrations/fastapi.md": Page(servers=("postgres",), prelude=POSTGRES + ACCOUNT_PG),
    "docs/integrations/sqlalchemy.md": Page(
        servers=("postgres",),
        prelude=POSTGRES
        + """
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

class Base(DeclarativeBase):
    pass

class Account(Base):
    __tablename__ = "account"
    email: Mapped[str] = mapped_column(primary_key=True)

sa_url = url.replace("postgresql://", "postgresql+psycopg://")
engine = create_engine(sa_url, poolclass=NullPool)
Base.metadata.create_all(engine)
""",
    ),
    "docs/integrations/tenants.md": Page(
        servers=("postgres",),
        prelude=POSTGRES
        + """
from proletarian.integrations.tenants import TenantMiddleware

schemas = {"acme": "tenant_acme", "globex": "tenant_globex"}
""",
    ),
}


# -- running a page -------------------------------------------------------------------------------


@attrs.define
class Background:
    command: str
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    seen: list[str] = attrs.field(factory=list)
    ended: bool = False

    def next_line(self, timeout: float) -> str | None:
        """The next line of stderr, or None at its end; raises queue.Empty after `timeout`."""
        if self.ended:
            return None
        line = self.lines.get(timeout=timeout)
        if line is None:
            self.ended = True
        else:
            self.seen.append(line)
        return line


class PageRun:
    """One page's run: its directory, environment, Python process and background workers."""

    def __init__(self, page: str, setup: Page, directory: Path, values: dict[str, str]) -> None:
        self.page = page
        self.setup = setup
        self.directory = directory
        self.values = {**values, "dir": str(directory)}
        # The page's own first: they are the longer, more particular ones.
        replace = {**setup.replace, **{k: v for k, v in REPLACE.items() if k not in setup.replace}}
        self.replacements = {
            old: _fill(new, self.values)
            for old, new in replace.items()
            if _resources_of(new) <= self.values.keys()
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROLETARIAN_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(APP)])
        env["PYTHONUNBUFFERED"] = "1"
        env.update({name: _fill(value, self.values) for name, value in setup.env.items()})
        self.env = env
        self.python: subprocess.Popen[str] | None = None
        self.python_err: list[str] = []
        self.replies: queue.Queue[str | None] = queue.Queue()
        self.workers: list[Background] = []
        self.last_command: str | None = None
        self.collector: threading.Thread | None = None
        (directory / "examples").symlink_to(ROOT / "examples")

    def __enter__(self) -> PageRun:
        if self.setup.prelude:
            self.start_python()  # the page's set-up comes before its first block
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_workers(check=exc[0] is None)
        finally:
            if self.python is not None:
                assert self.python.stdin is not None
                self.python.stdin.close()
                self.python.wait(timeout=DEADLINE)
                if self.collector is not None:
                    self.collector.join(DEADLINE)
                while self.replies.get(timeout=DEADLINE) is not None:
                    pass  # the reader closes the pipe at its end

    # -- blocks

    def block(self, block: Block) -> None:
        text = self.replace(block.text)
        if block.lang == "python" and not block.fragment:
            if block.file is not None:
                self.write_file(block, text)
            else:
                self.run_python(block, text)
        elif block.lang in SHELLS and block.directive != "skip":
            self.run_shell(block, text)
        elif block.directive == "output":
            self.expect_output(block, text)

    def replace(self, text: str) -> str:
        for old, new in self.replacements.items():
            text = text.replace(old, new)
        missing = _resources_of(text) - self.values.keys()
        assert not missing, f"{self.page} needs servers for {missing}: add them to PAGES"
        return _fill(text, self.values)

    def write_file(self, block: Block, text: str) -> None:
        assert block.file is not None
        path = self.directory / block.file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        module = block.file.removesuffix(".py").replace("/", ".")
        rest = [later.text for later in blocks(self.page) if later.line > block.line]
        used = any(
            block.file in later or f"{module}:" in later or f"from {module} import" in later
            for later in rest
        )
        if not used:  # nothing on the page runs it: run it alone, as a module
            self.python_request(block, op="run", code=text, alone=True, module=module)

    def run_python(self, block: Block, text: str) -> None:
        setup = self.replace(block.argument) if block.directive == "setup" else ""
        self.python_request(
            block, op="run", code=text, setup=setup, check=self.replace(block.check)
        )

    def python_request(self, block: Block, **request: Any) -> None:
        if self.python is None:
            self.start_python()
        assert self.python is not None
        assert self.python.stdin is not None
        request.update(path=block.path, line=block.line + 1)
        self.python.stdin.write(json.dumps(request) + "\n")
        self.python.stdin.flush()
        error = self.reply(block.where)
        assert error is None, f"{block.where} failed:\n{error}\nstderr:\n{self.stderr_tail()}"

    def start_python(self) -> None:
        self.python = subprocess.Popen(
            [sys.executable, "-m", "tests.docs.runner"],
            cwd=self.directory,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        requests, replies, errors = self.python.stdin, self.python.stdout, self.python.stderr
        assert requests is not None
        assert replies is not None
        assert errors is not None
        _pump(replies, self.replies)
        self.collector = threading.Thread(target=self._collect, args=(errors,), daemon=True)
        self.collector.start()
        prelude = COMMON + _fill(self.setup.prelude, self.values)
        requests.write(json.dumps({"op": "prelude", "code": prelude}) + "\n")
        requests.flush()
        error = self.reply(f"{self.page} (prelude)")
        assert error is None, f"{self.page}: the prelude failed:\n{error}"

    def _collect(self, errors: IO[str]) -> None:
        with errors:
            for line in errors:
                self.python_err.append(line)

    def stderr_tail(self) -> str:
        return "".join(self.python_err[-40:])

    def reply(self, where: str) -> str | None:
        try:
            line = self.replies.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"{where}: no end after {DEADLINE}s") from None
        assert line is not None, f"{where}: the runner died:\n{self.stderr_tail()}"
        error: str | None = json.loads(line)["error"]
        return error

    # -- shell

    def run_shell(self, block: Block, text: str) -> None:
        commands = _commands(attrs.evolve(block, text=text))
        if any(_is_worker(command) for command, _ in commands):
            self.stop_workers(check=True)
        for command, shown in commands:
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                self.env[name] = shlex.split(value)[0] if value else ""
            elif _is_worker(command):
                self.start_worker(block, command)
            else:
                self.last_command = command
                result = self.shell(command)
                output = result.stdout + result.stderr
                failing = shown is not None and shown.startswith("proletarian: error:")
                if failing:
                    assert result.returncode != 0, f"{block.where}: `{command}` did not fail"
                else:
                    assert result.returncode == 0, f"{block.where}: `{command}` failed:\n{output}"
                if shown is not None and block.directive == "output":
                    assert _matches(shown, output), (
                        f"{block.where}: `{command}` printed\n{output}\nnot\n{shown}"
                    )

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )

    def expect_output(self, block: Block, text: str) -> None:
        """Run the last command until it prints `text` (a worker may still be catching up)."""
        assert self.last_command is not None, f"{block.where}: output of no command"
        deadline = time.monotonic() + DEADLINE
        while True:
            result = self.shell(self.last_command)
            if _matches(text, result.stdout + result.stderr):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{block.where}: `{self.last_command}` printed\n{result.stdout}"
                    f"{result.stderr}\nnot\n{text}\nworkers:\n{self.worker_lines()}"
                )
            time.sleep(0.1)

    def start_worker(self, block: Block, command: str) -> None:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        lines: queue.Queue[str | None] = queue.Queue()
        _pump(process.stderr, lines)
        worker = Background(command=command, process=process, lines=lines)
        self.workers.append(worker)
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                line = worker.next_line(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{block.where}: `{command}` did not start") from None
            assert line is not None, f"{block.where}: `{command}` exited:\n{worker.seen}"
            if "event=worker_started" in line:
                return

    def stop_workers(self, *, check: bool) -> None:
        workers, self.workers = self.workers, []
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                code = worker.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                code = worker.process.wait()
            while worker.next_line(timeout=DEADLINE) is not None:
                pass
            if check:
                log = "".join(worker.seen)
                assert code == 0, f"`{worker.command}` exited {code}:\n{log}"
                errors = [line for line in worker.seen if " level=error " in line]
                assert errors == [], f"`{worker.command}` logged errors:\n{log}"

    def worker_lines(self) -> str:
        return "".join(line for worker in self.workers for line in worker.seen)


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Move the lines of `stream` into `lines`, then None at its end, and close it."""

    def read() -> None:
        with stream:
            for line in stream:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()


def _commands(block: Block) -> list[tuple[str, str | None]]:
    """The commands of a shell block that are run, each with the output shown after it (in a
    console block). Lines ending in a backslash continue on the next."""
    text = block.text.replace("\\\n", " ")
    found: list[tuple[str, str | None]] = []
    if block.lang == "console":
        command: str | None = None
        shown: list[str] = []
        for line in [*text.splitlines(), "$ "]:
            if line.startswith("$ "):
                if command is not None and _is_run(command):
                    found.append((command, "\n".join(shown) + "\n" if shown else None))
                command, shown = line[2:], []
            else:
                shown.append(line)
        return found
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export ") or _is_run(line):
            found.append((line, None))
    return found


def _is_run(command: str) -> bool:
    """Whether a command is one the tests run: its first word, after VAR=value settings."""
    words = [word for word in command.split() if not re.fullmatch(r"[A-Z_]+=\S*", word)]
    return bool(words) and words[0] in RUN


def _is_worker(command: str) -> bool:
    return re.match(r"(?:[A-Z_]+=\S* )*proletarian worker ", command) is not None


def _matches(expected: str, output: str) -> bool:
    """`output` is `expected`, line ends aside, with `...` matching any text."""
    strip = "\n".join(line.rstrip() for line in output.strip("\n").splitlines())
    wanted = "\n".join(line.rstrip() for line in expected.strip("\n").splitlines())
    pattern = ".*".join(re.escape(part) for part in wanted.split("..."))
    return re.fullmatch(pattern, strip, re.DOTALL) is not None


_RESOURCE = re.compile(r"\{(pg|mysql|mysql_db|redis|redis_prefix|dir)\}")


def _resources_of(text: str) -> set[str]:
    return set(_RESOURCE.findall(text))


def _fill(text: str, values: Mapping[str, str]) -> str:
    """`text` with {pg}, {dir}, ... replaced by the page's values (other braces kept)."""
    return _RESOURCE.sub(lambda found: values[found.group(1)], text)


# -- per-page servers -----------------------------------------------------------------------------


@contextmanager
def servers_for(servers: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """A PostgreSQL database, a MariaDB database and a Redis prefix of the page's own, for the
    servers it names, dropped at the end; yields their {pg}, {mysql}, ... values."""
    name = f"proletarian_docs_{os.getpid()}_{next(_numbers)}"
    values: dict[str, str] = {}
    try:
        if "postgres" in servers:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(_drop_pg(name))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            values["pg"] = _with_path(POSTGRES_URL, name)
        if "mysql" in servers:
            with _mysql() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute(f"CREATE DATABASE `{name}`")
            values.update(mysql=_with_path(MYSQL_URL, name), mysql_db=name)
        if "redis" in servers:
            values.update(redis=REDIS_URL, redis_prefix=name)
        yield values
    finally:
        if "pg" in values:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(_drop_pg(name))
        if "mysql" in values:
            with _mysql() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if "redis" in values:
            client = redis.Redis.from_url(REDIS_URL)
            try:
                for key in client.scan_iter(match=f"{name}*", count=1000):
                    client.delete(key)
            finally:
                client.close()


def _drop_pg(name: str) -> sql.Composed:
    return sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))


def _with_path(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


@contextmanager
def _mysql() -> Iterator[Any]:
    parts = urlsplit(MYSQL_URL)
    conn = pymysql.connect(
        host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
        password=parts.password or "", autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


# -- the tests ------------------------------------------------------------------------------------


def test_every_block_is_run_or_marked() -> None:
    """Every Python block is run or visibly marked as a fragment; every block is of a language
    this test knows; a hidden directive is one it knows, on a block it fits; and every
    replacement is still found on some page."""
    texts: list[str] = []
    for page in pages():
        for block in blocks(page):
            texts.append(block.text)
            assert block.lang in LANGUAGES, (
                f"{block.where}: a ```{block.lang} block: use one of {sorted(LANGUAGES)}, or "
                "teach this test to run it"
            )
            if block.directive == "skip":
                assert block.lang in SHELLS, f"{block.where}: skip is for shell blocks only"
                assert block.argument, f"{block.where}: a skip says why"
            if block.directive == "output":
                assert block.lang in ("", "text", "console"), f"{block.where}: output of what?"
        read = {line for block in blocks(page) for line in block.comments}
        unknown = [
            number
            for number, line in enumerate((ROOT / page).read_text().split("\n"), start=1)
            if "<!-- test" in line and number not in read
        ]
        assert unknown == [], f"{page}: test directives on lines {unknown} fit no block"
    everything = "\n".join(texts)
    unused = [old for old in {**REPLACE, **_page_replacements()} if old not in everything]
    assert unused == [], f"replacements no page uses any more: {unused}"
    assert set(PAGES) <= set(pages())


def _page_replacements() -> dict[str, str]:
    return {old: new for page in PAGES.values() for old, new in page.replace.items()}


def runnable(page: str) -> bool:
    return any(_runs(block) for block in blocks(page))


def _runs(block: Block) -> bool:
    if block.lang == "python":
        return not block.fragment
    if block.lang in SHELLS:
        return block.directive != "skip" and bool(_commands(block))
    return block.directive == "output"


@pytest.mark.parametrize("page", [page for page in pages() if runnable(page)])
def test_page(page: str, tmp_path: Path) -> None:
    """The page's blocks run as written, in order, as a reader would run them."""
    setup = PAGES.get(page, Page())
    for server in setup.servers:
        require(server)
    with servers_for(setup.servers) as values, PageRun(page, setup, tmp_path, values) as run:
        for block in blocks(page):
            run.block(block)
