"""The `proletarian` command line: the composition root that turns arguments into a store, a
worker or a one-off operation. `main(argv)` never raises for a user mistake: it prints one line
on stderr and returns the exit status (see proletarian.cli.errors)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from proletarian.cli import errors, parser, session, values
from proletarian.cli.session import scrub
from proletarian.core.errors import (
    ConfigurationError,
    ProletarianError,
    SerializationError,
    StoreUnavailable,
)
from proletarian.core.urls import redact

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status."""
    url: str | None = None
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        for number, argument in enumerate(arguments, start=1):
            values.utf8(argument, what=f"argument {number}")
        args = parser.build().parse_args(arguments)
        url = session.given_url(args)
        status: int = args.run(args)
        return status
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else errors.OK
    except errors.CliError as exc:
        return _fail(str(exc), url, exc.code)
    except (ConfigurationError, SerializationError) as exc:
        # A value given on the command line that proletarian refuses: a job field, a payload
        # the serializer can't encode, a URL.
        return _fail(str(exc), url, errors.USAGE)
    except StoreUnavailable as exc:
        # Adapters usually name the (redacted) URL themselves; say it once.
        where = f" at {redact(url)}" if url and redact(url) not in str(exc) else ""
        return _fail(f"store unavailable{where}: {exc}", url, errors.FAILURE)
    except ProletarianError as exc:
        return _fail(str(exc), url, errors.FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", url, errors.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`proletarian schema print | head`): not an error worth a
        # traceback; point stdout at devnull so the interpreter's final flush fails quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return errors.FAILURE


def _fail(message: str, url: str | None, code: int) -> int:
    print(f"proletarian: error: {scrub(message, url)}", file=sys.stderr, flush=True)
    return code
