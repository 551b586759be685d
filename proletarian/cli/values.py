"""Parsing the values users type: durations, seconds, counts and JSON payloads."""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import timedelta
from typing import Any

from proletarian.cli.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = r"(\d+(?:\.\d+)?)([smhd])"


def duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `90s`, or combined like `1d12h`. A unit is required: a bare `7`
    could mean seconds or days, and guessing wrong for `prune` deletes the archive."""
    if not re.fullmatch(f"(?:{_PART})+", text.strip()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use a number with a unit s, m, h or d, like 7d or 1h30m"
        )
    seconds = sum(float(n) * _UNITS[unit] for n, unit in re.findall(_PART, text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too long; a duration is at most 999999999d"
        ) from None


def seconds(text: str) -> float:
    """A finite, non-negative number of seconds that a timedelta can hold."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds >= 0")
    # Every seconds option becomes a timedelta later; refused here, where argparse names the
    # option, rather than there as an OverflowError (which argparse would not catch either).
    try:
        timedelta(seconds=value)
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is too many seconds; a timedelta holds at most 999999999 days"
        ) from None
    return value


def positive_seconds(text: str) -> float:
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def store_option(text: str) -> tuple[str, str]:
    """KEY=VALUE, split at the first `=`; which keys and values a store takes, it decides."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE; give a store option like schema=app or prefix=myapp"
        )
    return key.strip(), value


def json_payload(text: str) -> Any:
    """Decoded JSON; UsageError naming the position of the first mistake, or the limit of
    Python's json it passes (an int over sys.get_int_max_str_digits(), nesting past the
    recursion limit). What the serializer then refuses is a SerializationError, also exit 2."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"JSON_PAYLOAD is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f'(got {text[:60]!r}); quote it for the shell, e.g. \'{{"email": "a@b.c"}}\''
        ) from None
    except ValueError as exc:
        raise UsageError(f"JSON_PAYLOAD can't be read: {exc}") from None
    except RecursionError:
        raise UsageError("JSON_PAYLOAD can't be read: it is nested too deep") from None


def utf8(text: str, *, what: str) -> str:
    """`text` if it is UTF-8. The OS hands arguments and environment variables over as bytes,
    which Python decodes with escapes (lone surrogates) where they are not UTF-8; no store can
    hold those, and drivers fail to encode them."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not UTF-8: {_bytes(text)!r}") from None
    return text


def _bytes(text: str) -> bytes:
    """The bytes the OS gave, or, for a string made in Python, escapes for what can't be."""
    try:
        return text.encode(errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode(errors="backslashreplace")
