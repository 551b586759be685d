"""Recurring jobs: when a schedule's ticks fall, and which of them are due.

Cron expressions are read by cronsim (the parser of healthchecks.io): small, typed, with no
dependencies of its own, and with the DST rules of Debian's cron, which users already know. A
tick in a local time that a spring-forward day skips runs at the first minute after the gap
(02:30 on a day that jumps from 02:00 to 03:00 runs at 03:00); a tick in the hour a fall-back
day repeats runs once, at its first occurrence, unless the expression names every hour (`*`
in the hour field), which runs in both. Ticks are compared and stored in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from cronsim import CronSim, CronSimError

from proletarian.core import names
from proletarian.core.errors import ConfigurationError
from proletarian.core.job import Priority, check_meta

CatchUp = Literal["skip", "latest"] | int
"""What a schedule enqueues for ticks it missed (the scheduler was down or late):
"skip" only a tick at most SKIP_GRACE late, "latest" the latest missed tick once, and an int N
the latest N missed ticks, oldest first."""

# How late a tick may be and still run under catch_up="skip": a scheduler that wakes a little
# after its tick (a busy host, a slow store) is on time, not catching up.
SKIP_GRACE = timedelta(minutes=1)
# How long a tick's unique key outlives the next tick: a scheduler on a clock this far behind
# the others still finds the tick taken, and the latest tick stays known for catch-up.
KEY_MARGIN = timedelta(days=1)
KEY_PREFIX = "schedule:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _check_cron(instance: Schedule, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(f"cron must be a string, got {type(value).__name__}")
    try:
        CronSim(value, _EPOCH)
    except CronSimError as exc:
        raise ConfigurationError(f"cron {value!r} is not a cron expression: {exc}") from None


def _check_every(
    instance: Schedule, attribute: attrs.Attribute[Any], value: timedelta | None
) -> None:
    if value is None:
        if instance.cron is None:
            raise ConfigurationError("a Schedule needs cron= or every=")
        return
    if instance.cron is not None:
        raise ConfigurationError("give a Schedule cron= or every=, not both")
    if not isinstance(value, timedelta) or value < timedelta(seconds=1):
        raise ConfigurationError(f"every must be a timedelta of at least 1 second, got {value!r}")
    if value % timedelta(seconds=1):
        raise ConfigurationError(f"every must be a whole number of seconds, got {value}")


def _zone(value: str) -> ZoneInfo:
    if not isinstance(value, str):
        raise ConfigurationError(f"timezone must be an IANA name, got {type(value).__name__}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"timezone {value!r} is not an IANA time zone name") from None


def _check_timezone(instance: Schedule, attribute: attrs.Attribute[Any], value: str) -> None:
    _zone(value)


def _check_catch_up(instance: Schedule, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value in ("skip", "latest"):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f'catch_up must be "skip", "latest" or a number of ticks (1 or more), got {value!r}'
        )


def _check_name(instance: Schedule, attribute: attrs.Attribute[Any], value: str) -> None:
    if value != "":  # "" asks for the default, set after the checks
        names.label(value, what="name")


def _check_priority(instance: Schedule, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Priority):
        raise ConfigurationError(f"priority must be a proletarian.Priority, got {value!r}")


def _check_label(instance: Schedule, attribute: attrs.Attribute[Any], value: Any) -> None:
    names.label(value, what=attribute.name)


@attrs.frozen(kw_only=True)
class Schedule:
    """A job enqueued at every tick of a cron expression or a fixed interval.

    Give the same schedules to every worker (or schedule-only process) that should run them:
    each tick is enqueued once in all, by whichever scheduler comes first, through the tick's
    unique key in the store.

    Args:
        job_type: The job to enqueue at each tick.
        payload: Its payload (the same at every tick; the tick's time is in `job.meta`).
        cron: A five-field cron expression, e.g. "0 7 * * MON-FRI", read in `timezone`.
        every: A fixed interval instead of `cron` (whole seconds); its ticks are the multiples
            of it since 1970-01-01 UTC, so every process agrees on them.
        timezone: The IANA zone `cron` is read in (default UTC).
        queue: The queue the jobs go to.
        priority: Their priority.
        meta: Meta given to every job (the scheduler adds `schedule` and `tick`).
        catch_up: What to enqueue for ticks missed while no scheduler ran: "skip", "latest"
            (the default) or a number of the latest missed ticks.
        name: What the schedule is known by (in its ticks' unique keys, `proletarian
            schedules` and the jobs' meta). Default: the job type and the cron expression or
            interval. Renaming a schedule forgets its last tick.
    """

    job_type: str = attrs.field(validator=_check_label)
    payload: Any = None
    cron: str | None = attrs.field(default=None, validator=_check_cron)
    every: timedelta | None = attrs.field(default=None, validator=_check_every)
    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    queue: str = attrs.field(default="default", validator=_check_label)
    priority: Priority = attrs.field(default=Priority.NORMAL, validator=_check_priority)
    meta: Mapping[str, str] = attrs.field(factory=dict, converter=check_meta)
    catch_up: CatchUp = attrs.field(default="latest", validator=_check_catch_up)
    name: str = attrs.field(default="", validator=_check_name)

    def __attrs_post_init__(self) -> None:
        if not self.name:
            when = self.cron if self.cron is not None else f"every {self.every}"
            # Frozen: the derived default is set the way attrs sets fields.
            object.__setattr__(self, "name", names.label(f"{self.job_type} {when}", what="name"))

    def ticks_after(self, after: datetime) -> Iterator[datetime]:
        """The ticks later than `after`, earliest first, in UTC."""
        if self.every is not None:
            step = self.every
            tick = _EPOCH + (after - _EPOCH) // step * step
            while True:
                tick += step
                yield tick
        assert self.cron is not None
        for tick in CronSim(self.cron, after.astimezone(_zone(self.timezone))):
            yield tick.astimezone(UTC)

    def ticks_until(self, until: datetime) -> Iterator[datetime]:
        """The ticks at or before `until`, latest first, in UTC."""
        if self.every is not None:
            step = self.every
            tick = _EPOCH + (until - _EPOCH) // step * step
            while True:
                yield tick
                tick -= step
        assert self.cron is not None
        # cronsim counts back from strictly before its start, to the second.
        start = until.replace(microsecond=0) + timedelta(seconds=1)
        for tick in CronSim(self.cron, start.astimezone(_zone(self.timezone)), reverse=True):
            yield tick.astimezone(UTC)

    def due(self, last: datetime, now: datetime) -> list[datetime]:
        """The ticks to enqueue now, oldest first: those later than `last` (the latest tick
        enqueued, or when the schedule was first seen) and at or before `now`, as `catch_up`
        allows."""
        limit = self.catch_up if isinstance(self.catch_up, int) else 1
        ticks: list[datetime] = []
        for tick in self.ticks_until(now):
            if tick <= last or len(ticks) == limit:
                break
            ticks.append(tick)
        if self.catch_up == "skip":
            ticks = [tick for tick in ticks if now - tick <= SKIP_GRACE]
        return ticks[::-1]

    def key(self, tick: datetime) -> str:
        """The unique key of the job enqueued for `tick`: keys of one schedule sort as their
        ticks do."""
        return f"{self.key_prefix}{tick.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"

    @property
    def key_prefix(self) -> str:
        """What every tick key of this schedule begins with."""
        return f"{KEY_PREFIX}{self.name}:"

    def tick_of(self, key: str) -> datetime | None:
        """The tick a key of this schedule names; None for any other text."""
        if not key.startswith(self.key_prefix):
            return None
        try:
            tick = datetime.strptime(key[len(self.key_prefix) :], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return None
        return tick.replace(tzinfo=UTC)

    def held_for(self, tick: datetime) -> timedelta:
        """How long after its job finished the tick's key stays taken: until a margin past the
        next tick, so no scheduler enqueues the tick twice and the latest tick stays known."""
        following = next(self.ticks_after(tick))
        return following - tick + KEY_MARGIN
