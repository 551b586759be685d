"""How the command line fails: one line on stderr and an exit status.

Exit statuses (docs/cli.md lists them for users):

* 0: the command did what was asked (for `worker`: stopped cleanly on SIGTERM or SIGINT);
* 1: a runtime failure: the store is unreachable or refused the operation, an unknown job id,
  jobs still running when the worker's shutdown timeout ran out;
* 2: a usage error: bad arguments (or not UTF-8), bad URL, bad JSON, a value proletarian
  refuses (ConfigurationError, SerializationError), a handler path that does not resolve;
* 128 + N (130 for SIGINT, 143 for SIGTERM): `worker` forced to exit by a second signal N.
"""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


class CliError(Exception):
    """A failure the user can act on, shown as one line without a traceback."""

    code = FAILURE


class UsageError(CliError):
    """The command line itself is wrong: arguments, URL, payload or handler path."""

    code = USAGE
