"""Schedules: their ticks, in local time across DST changes, and which ticks are due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from proletarian import ConfigurationError
from proletarian.core.schedule import SKIP_GRACE, Schedule

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def local(schedule: Schedule, after: datetime, count: int) -> list[str]:
    zone = ZoneInfo(schedule.timezone)
    return [
        f"{t.astimezone(zone):%m-%d %H:%M %z}" for t in islice(schedule.ticks_after(after), count)
    ]


def test_cron_ticks_fall_in_the_schedules_time_zone() -> None:
    """ "0 7 * * MON-FRI" in Paris is 06:00 UTC in winter, and skips the weekend."""
    schedule = Schedule(job_type="report", cron="0 7 * * MON-FRI", timezone="Europe/Paris")
    ticks = list(islice(schedule.ticks_after(utc(2026, 12, 4, 12, 0)), 3))
    assert ticks == [utc(2026, 12, 7, 6, 0), utc(2026, 12, 8, 6, 0), utc(2026, 12, 9, 6, 0)]


def test_a_tick_in_the_hour_spring_forward_skips_runs_just_after_it() -> None:
    """Paris jumps from 02:00 to 03:00 on 2026-03-29: the 02:30 tick runs at 03:00, once."""
    schedule = Schedule(job_type="t", cron="30 2 * * *", timezone="Europe/Paris")
    after = datetime(2026, 3, 27, 12, 0, tzinfo=PARIS)
    assert local(schedule, after, 3) == [
        "03-28 02:30 +0100",
        "03-29 03:00 +0200",
        "03-30 02:30 +0200",
    ]


def test_a_tick_in_the_hour_fall_back_repeats_runs_once() -> None:
    """New York goes from 02:00 back to 01:00 on 2026-11-01: the 01:30 tick runs at its first
    occurrence only."""
    schedule = Schedule(job_type="t", cron="30 1 * * *", timezone="America/New_York")
    after = datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)
    assert local(schedule, after, 2) == ["11-01 01:30 -0400", "11-02 01:30 -0500"]


def test_an_every_hour_expression_runs_in_both_repeated_hours() -> None:
    """An expression that names every hour keeps its spacing in real time through fall-back:
    the repeated hour has its ticks twice."""
    schedule = Schedule(job_type="t", cron="*/30 * * * *", timezone="America/New_York")
    after = datetime(2026, 11, 1, 0, 50, tzinfo=NEW_YORK)
    assert local(schedule, after, 5) == [
        "11-01 01:00 -0400",
        "11-01 01:30 -0400",
        "11-01 01:00 -0500",
        "11-01 01:30 -0500",
        "11-01 02:00 -0500",
    ]


def test_interval_ticks_are_multiples_since_the_epoch() -> None:
    """Every process agrees on an interval's ticks, whenever it started."""
    schedule = Schedule(job_type="t", every=timedelta(minutes=15))
    assert list(islice(schedule.ticks_after(utc(2026, 1, 1, 10, 7)), 2)) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
    ]
    assert next(schedule.ticks_after(utc(2026, 1, 1, 10, 15))) == utc(2026, 1, 1, 10, 30)
    assert next(schedule.ticks_until(utc(2026, 1, 1, 10, 15))) == utc(2026, 1, 1, 10, 15)


@pytest.mark.parametrize("schedule_kind", ["cron", "every"])
def test_a_tick_at_now_is_due_and_one_after_it_is_not(schedule_kind: str) -> None:
    options: dict[str, Any] = (
        {"cron": "0 * * * *"} if schedule_kind == "cron" else {"every": timedelta(hours=1)}
    )
    schedule = Schedule(job_type="t", **options)
    last = utc(2026, 1, 1, 9, 0)
    assert schedule.due(last, utc(2026, 1, 1, 9, 59, 59)) == []
    assert schedule.due(last, utc(2026, 1, 1, 10, 0)) == [utc(2026, 1, 1, 10, 0)]
    assert schedule.due(last, utc(2026, 1, 1, 10, 0, 0, 999_999)) == [utc(2026, 1, 1, 10, 0)]
    assert schedule.due(utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 10, 30)) == []


def test_catch_up_decides_what_missed_ticks_run() -> None:
    """Down from 09:00 to 12:10 with an hourly schedule: ticks 10, 11 and 12 were missed."""
    last, now = utc(2026, 1, 1, 9, 0), utc(2026, 1, 1, 12, 10)
    hourly: dict[str, Any] = {"job_type": "t", "cron": "0 * * * *"}
    assert Schedule(**hourly, catch_up="latest").due(last, now) == [utc(2026, 1, 1, 12, 0)]
    assert Schedule(**hourly, catch_up=2).due(last, now) == [
        utc(2026, 1, 1, 11, 0),
        utc(2026, 1, 1, 12, 0),
    ]
    assert len(Schedule(**hourly, catch_up=10).due(last, now)) == 3
    assert Schedule(**hourly, catch_up="skip").due(last, now) == []
    on_time = utc(2026, 1, 1, 12, 0) + SKIP_GRACE
    assert Schedule(**hourly, catch_up="skip").due(last, on_time) == [utc(2026, 1, 1, 12, 0)]


def test_tick_keys_sort_as_ticks_and_read_back() -> None:
    schedule = Schedule(job_type="t", every=timedelta(minutes=1), name="pulse")
    early, late = utc(2026, 1, 1, 9, 59), utc(2026, 1, 1, 10, 0)
    assert schedule.key(late) == "schedule:pulse:2026-01-01T10:00:00Z"
    assert schedule.key(early) < schedule.key(late)
    assert schedule.tick_of(schedule.key(late)) == late
    assert schedule.tick_of("schedule:other:2026-01-01T10:00:00Z") is None
    assert schedule.held_for(late) == timedelta(minutes=1, days=1)


def test_the_default_name_says_what_and_when() -> None:
    assert Schedule(job_type="report", cron="0 7 * * *").name == "report 0 7 * * *"
    assert Schedule(job_type="ping", every=timedelta(minutes=5)).name == "ping every 0:05:00"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs cron= or every="),
        ({"cron": "0 7 * * *", "every": timedelta(hours=1)}, "not both"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"every": timedelta(0)}, "at least 1 second"),
        ({"every": timedelta(seconds=1.5)}, "whole number of seconds"),
        ({"cron": "0 7 * * *", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"cron": "0 7 * * *", "catch_up": 0}, "catch_up must be"),
        ({"cron": "0 7 * * *", "catch_up": "all"}, "catch_up must be"),
        ({"cron": "0 7 * * *", "name": "\x00"}, "name"),
    ],
)
def test_a_bad_schedule_is_refused_naming_what_is_wrong(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Schedule(job_type="t", **options)
