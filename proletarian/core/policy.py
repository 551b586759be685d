"""Retry policies: how many attempts a job gets and how long to wait between them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs

from proletarian.core.errors import ConfigurationError

# The longest wait a policy may ask for, ten years: any longer is surely a unit mistake, and a
# due time must stay a datetime (whose years end at 9999) however late the retry is computed.
MAX_DELAY = 10 * 365 * 24 * 3600.0


def _to_delays(value: Sequence[float]) -> tuple[float, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigurationError(f"delays must be a sequence of seconds, got {value!r}")
    delays = tuple(value)
    for delay in delays:
        if (
            isinstance(delay, bool)
            or not isinstance(delay, int | float)
            or not math.isfinite(delay)
        ):
            raise ConfigurationError(f"delays must be finite numbers of seconds, got {delay!r}")
        if not 0 <= delay <= MAX_DELAY:
            raise ConfigurationError(
                f"delays must be between 0 and {MAX_DELAY:.0f} seconds (ten years), got {delay!r}"
            )
    return delays


def _non_negative_int(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{attribute.name} must be an int >= 0, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{attribute.name} must be a finite number, got {value!r}")
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must not be negative, got {value!r}")


def _delay(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _non_negative(instance, attribute, value)
    if value > MAX_DELAY:
        raise ConfigurationError(
            f"{attribute.name} must be at most {MAX_DELAY:.0f} seconds (ten years), got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff: retry k waits `min(cap, base * factor**(k-1))` seconds, spread by
    ±`jitter` (a fraction of it) and never over `cap`. Usually built by
    `RetryPolicy.exponential`.

    Args:
        base: The first retry's delay, in seconds (0 to ten years).
        factor: What each delay is multiplied by for the next; at least 1.
        cap: The longest delay, in seconds (0 to ten years).
        jitter: The spread, from 0 (none) to 1: 0.1 makes each delay anything from 90% to
            110% of its value, so jobs that failed together don't all retry at once.
    """

    base: float = attrs.field(default=1.0, validator=_delay)
    factor: float = attrs.field(default=2.0, validator=_non_negative)
    cap: float = attrs.field(default=60.0, validator=_delay)
    jitter: float = attrs.field(default=0.1, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.factor < 1:
            raise ConfigurationError(f"factor must be >= 1, got {self.factor!r}")
        if self.jitter > 1:
            raise ConfigurationError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def raw_delay(self, retry: int) -> float:
        """The delay before jitter; `retry` is 1 for the first retry."""
        # Clamp the exponent so a large retry count never overflows the float.
        exponent = min(retry - 1, 1024)
        try:
            return min(self.cap, self.base * self.factor**exponent)
        except OverflowError:
            return self.cap


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many times a failed job is retried, and how long each retry waits. The default
    policy, `RetryPolicy()`, never retries. ConfigurationError for a bad value.

    Args:
        retries: How many retries after the first attempt: `retries=n` allows n + 1 attempts.
        delays: Seconds to wait before each retry (any sequence, kept as a tuple): retry k
            waits `delays[k-1]`, the last one repeating. Empty (and no `backoff`) means retry
            at once. Each from 0 to ten years.
        backoff: Exponential delays instead of `delays` (give one or the other); see
            `RetryPolicy.exponential`.
    """

    retries: int = attrs.field(default=0, validator=_non_negative_int)
    delays: tuple[float, ...] = attrs.field(default=(), converter=_to_delays)
    backoff: Backoff | None = None

    def __attrs_post_init__(self) -> None:
        if self.backoff is not None and self.delays:
            raise ConfigurationError("give delays or backoff, not both")

    @classmethod
    def exponential(
        cls,
        retries: int,
        *,
        base: float = 1.0,
        factor: float = 2.0,
        cap: float = 60.0,
        jitter: float = 0.1,
    ) -> RetryPolicy:
        """A policy of `retries` retries with exponential backoff: retry k waits
        `min(cap, base * factor**(k-1))` seconds, spread by ±`jitter`.

        Args:
            retries: How many retries after the first attempt.
            base: The first retry's delay, in seconds.
            factor: What each delay is multiplied by for the next; at least 1.
            cap: The longest delay, in seconds.
            jitter: The spread, a fraction from 0 to 1 of each delay.
        """
        return cls(
            retries=retries, backoff=Backoff(base=base, factor=factor, cap=cap, jitter=jitter)
        )

    @property
    def max_attempts(self) -> int:
        """`retries + 1`: the first attempt and every retry."""
        return self.retries + 1

    def delay(self, retry: int, jitter_draw: float) -> float:
        """Seconds to wait before retry number `retry` (1-based); `jitter_draw` is in [0, 1)."""
        if retry < 1:
            raise ConfigurationError(f"retry numbers start at 1, got {retry}")
        if self.backoff is not None:
            raw = self.backoff.raw_delay(retry)
            spread = raw * (1 + self.backoff.jitter * (2 * jitter_draw - 1))
            return max(0.0, min(self.backoff.cap, spread))
        if not self.delays:
            return 0.0
        return float(self.delays[min(retry, len(self.delays)) - 1])


NO_RETRY = RetryPolicy()
