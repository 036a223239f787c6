"""SLA clocks that only run inside business hours: exact examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.business_hours import (
    MAX_IDLE_DAYS,
    BusinessHours,
    add_working_minutes,
    business_hours_errors,
    working_seconds_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = frozenset(range(5))
OFFICE = BusinessHours(tz=BERLIN, days=WEEKDAYS, start=time(9), end=time(17))
# Every day 01:00-04:00 local: these shifts straddle the Berlin DST changes at 02:00/03:00.
NIGHTS = BusinessHours(tz=BERLIN, days=frozenset(range(7)), start=time(1), end=time(4))


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "days": [0, 1, 2, 3, 4],
        "start": "09:00",
        "end": "17:00",
    }
    base.update(overrides)
    return base


# --- add_working_minutes: exact examples (2026-05-08 is a Friday) ---------------------------


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param(berlin(2026, 5, 8, 16, 30), 60, berlin(2026, 5, 11, 9, 30), id="fri-to-mon"),
        pytest.param(berlin(2026, 5, 9, 12, 0), 30, berlin(2026, 5, 11, 9, 30), id="saturday"),
        pytest.param(berlin(2026, 5, 10, 23, 59), 1, berlin(2026, 5, 11, 9, 1), id="sunday-late"),
        pytest.param(berlin(2026, 5, 12, 7, 0), 90, berlin(2026, 5, 12, 10, 30), id="pre-opening"),
        pytest.param(berlin(2026, 5, 8, 17, 0), 30, berlin(2026, 5, 11, 9, 30), id="at-closing"),
        pytest.param(berlin(2026, 5, 8, 16, 0), 60, berlin(2026, 5, 8, 17, 0), id="fills-to-close"),
        pytest.param(berlin(2026, 5, 12, 9, 0), 480, berlin(2026, 5, 12, 17, 0), id="whole-day"),
        pytest.param(berlin(2026, 5, 12, 9, 0), 481, berlin(2026, 5, 13, 9, 1), id="day-and-1"),
        pytest.param(berlin(2026, 5, 12, 12, 0), 0.5, berlin(2026, 5, 12, 12, 0, 30), id="float"),
    ],
)
def test_add_working_minutes_examples(start: datetime, minutes: float, expected: datetime) -> None:
    result = add_working_minutes(start, minutes, OFFICE)
    assert result == expected
    assert result.tzinfo is BERLIN


def test_zero_minutes_returns_start_even_outside_working_time() -> None:
    saturday = berlin(2026, 5, 9, 12, 0)
    assert add_working_minutes(saturday, 0, OFFICE) is saturday


def test_result_is_in_the_time_zone_of_start() -> None:
    result = add_working_minutes(utc(2026, 5, 8, 14, 30), 60, OFFICE)  # 16:30 in Berlin
    assert result.tzinfo is UTC
    assert result == utc(2026, 5, 11, 7, 30)
    kolkata = ZoneInfo("Asia/Kolkata")
    result = add_working_minutes(datetime(2026, 5, 8, 20, 0, tzinfo=kolkata), 60, OFFICE)
    assert result.tzinfo is kolkata
    assert result.astimezone(UTC) == utc(2026, 5, 11, 7, 30)


def test_holiday_is_skipped() -> None:
    hours = BusinessHours(BERLIN, WEEKDAYS, time(9), time(17), frozenset({date(2026, 12, 25)}))
    # Thursday 24 Dec 16:30; Friday 25 Dec is a holiday, then the weekend.
    assert add_working_minutes(berlin(2026, 12, 24, 16, 30), 60, hours) == berlin(
        2026, 12, 28, 9, 30
    )
    assert working_seconds_between(berlin(2026, 12, 24), berlin(2026, 12, 29), hours) == 16 * 3600


def test_office_day_across_the_march_dst_change() -> None:
    # Friday 27 Mar 16:00 CET (+01:00) -> Monday 30 Mar 10:00 CEST (+02:00).
    result = add_working_minutes(berlin(2026, 3, 27, 16, 0), 120, OFFICE)
    assert result.astimezone(UTC) == utc(2026, 3, 30, 8, 0)
    assert result == berlin(2026, 3, 30, 10, 0)


def test_office_day_across_the_october_dst_change() -> None:
    # Friday 23 Oct 16:00 CEST (+02:00) -> Monday 26 Oct 10:00 CET (+01:00).
    result = add_working_minutes(berlin(2026, 10, 23, 16, 0), 120, OFFICE)
    assert result.astimezone(UTC) == utc(2026, 10, 26, 9, 0)


def test_night_shift_is_an_hour_shorter_when_clocks_spring_forward() -> None:
    # 29 Mar: 01:00 CET = 00:00Z until 04:00 CEST = 02:00Z, only two real hours.
    assert working_seconds_between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), NIGHTS) == 7200
    result = add_working_minutes(berlin(2026, 3, 29, 1, 0), 150, NIGHTS)
    # 120 minutes on the short night, the other 30 from 30 Mar 01:00 CEST = 29 Mar 23:00Z.
    assert result.astimezone(UTC) == utc(2026, 3, 29, 23, 30)


def test_dst_change_inside_a_shift_counts_real_time_for_local_datetimes() -> None:
    # Both ends share the Berlin tzinfo, for which Python's own `b - a` is wall-clock based
    # (two hours here); the real time from 01:30 CET to 03:30 CEST is one hour.
    a, b = berlin(2026, 3, 29, 1, 30), berlin(2026, 3, 29, 3, 30)
    assert working_seconds_between(a, b, NIGHTS) == 3600
    assert add_working_minutes(a, 60, NIGHTS) == b
    a, b = berlin(2026, 10, 25, 1, 30), berlin(2026, 10, 25, 3, 30)  # 01:30 CEST, 03:30 CET
    assert working_seconds_between(a, b, NIGHTS) == 3 * 3600
    assert add_working_minutes(a, 180, NIGHTS) == b


def test_night_shift_is_an_hour_longer_when_clocks_fall_back() -> None:
    # 25 Oct: 01:00 CEST = 24 Oct 23:00Z until 04:00 CET = 03:00Z, four real hours.
    assert working_seconds_between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), NIGHTS) == 14400
    result = add_working_minutes(berlin(2026, 10, 25, 1, 0), 210, NIGHTS)
    assert result.astimezone(UTC) == utc(2026, 10, 25, 2, 30)


def test_opening_inside_the_spring_forward_gap_starts_at_the_transition() -> None:
    # 02:30 does not exist on 29 Mar in Berlin; the clock jumps from 02:00 CET to 03:00 CEST.
    hours = BusinessHours(BERLIN, frozenset(range(7)), time(2, 30), time(4))
    assert hours.window(date(2026, 3, 29)) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    assert hours.window(date(2026, 3, 30)) == (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 2))
    assert add_working_minutes(utc(2026, 3, 29, 0), 1, hours) == utc(2026, 3, 29, 1, 1)


def test_shift_inside_the_repeated_hour_uses_its_first_occurrence() -> None:
    hours = BusinessHours(BERLIN, frozenset(range(7)), time(2, 15), time(2, 45))
    assert hours.window(date(2026, 10, 25)) == (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45))


def test_five_working_days_of_minutes_is_exactly_one_calendar_week() -> None:
    monday = berlin(2026, 6, 1, 10, 0)
    assert add_working_minutes(monday, 5 * 8 * 60, OFFICE) == monday + timedelta(days=7)


def test_large_minute_counts_skip_whole_days() -> None:
    # 100,000 min = 208 days of 8 h + 160 min = 41 weeks + 3 days + 2:40, over the October
    # DST change (wall-clock times are unaffected by it for a 09:00-17:00 day).
    monday = berlin(2026, 6, 1, 10, 0)
    result = add_working_minutes(monday, 100_000, OFFICE)
    assert result == berlin(2027, 3, 18, 12, 40)
    assert working_seconds_between(monday, result, OFFICE) == 100_000 * 60


def test_without_business_hours_the_clock_always_runs_in_real_time() -> None:
    start = berlin(2026, 5, 9, 12, 0)
    assert add_working_minutes(start, 90, None) == start + timedelta(minutes=90)
    # 01:30 CET + 60 real minutes is 03:30 CEST: wall-clock `start + timedelta` would give
    # the non-existent 02:30.
    result = add_working_minutes(berlin(2026, 3, 29, 1, 30), 60, None)
    assert result.astimezone(UTC) == utc(2026, 3, 29, 1, 30)
    assert (result.hour, result.minute, result.tzinfo) == (3, 30, BERLIN)
    assert working_seconds_between(berlin(2026, 3, 29, 1, 30), result, None) == 3600


def test_working_seconds_between() -> None:
    friday = berlin(2026, 5, 8, 16, 30)
    assert working_seconds_between(friday, berlin(2026, 5, 11, 9, 30), OFFICE) == 3600
    assert working_seconds_between(friday, berlin(2026, 5, 9, 23, 0), OFFICE) == 1800
    assert working_seconds_between(berlin(2026, 5, 9), berlin(2026, 5, 11), OFFICE) == 0
    assert working_seconds_between(berlin(2026, 5, 11, 10), friday, OFFICE) == 0.0
    assert working_seconds_between(friday, friday, OFFICE) == 0.0


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 5, 8, 16, 30)  # noqa: DTZ001 - deliberately naive
    with pytest.raises(ValueError, match="aware"):
        add_working_minutes(naive, 60, OFFICE)
    with pytest.raises(ValueError, match="aware"):
        add_working_minutes(naive, 60, None)
    with pytest.raises(ValueError, match="aware"):
        working_seconds_between(naive, berlin(2026, 5, 9), OFFICE)
    with pytest.raises(ValueError, match="aware"):
        working_seconds_between(berlin(2026, 5, 9), naive, None)


@pytest.mark.parametrize("minutes", [-1, -0.001, float("nan"), float("inf")])
def test_negative_or_non_finite_minutes_are_rejected(minutes: float) -> None:
    with pytest.raises(ValueError, match="minutes"):
        add_working_minutes(berlin(2026, 5, 8, 12), minutes, OFFICE)


def test_schedule_without_any_working_time_bails_out() -> None:
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=w) for w in range(5 * 53))
    hours = BusinessHours(BERLIN, frozenset({0}), time(9), time(17), mondays)
    with pytest.raises(ValueError, match=f"no working time for more than {MAX_IDLE_DAYS} days"):
        add_working_minutes(berlin(2026, 1, 1), 1, hours)
    # Zero minutes need no working time at all, and the other direction just counts nothing.
    assert add_working_minutes(berlin(2026, 1, 1), 0, hours) == berlin(2026, 1, 1)
    assert working_seconds_between(berlin(2026, 1, 1), berlin(2030, 1, 1), hours) == 0


# --- BusinessHours construction and config ---------------------------------------------------


def test_from_config_round_trips() -> None:
    raw = config(holidays=["2026-12-25", "2026-12-26"])
    hours = BusinessHours.from_config(raw)
    assert hours == BusinessHours(
        tz=BERLIN,
        days=WEEKDAYS,
        start=time(9),
        end=time(17),
        holidays=frozenset({date(2026, 12, 25), date(2026, 12, 26)}),
    )
    assert hours is not None
    assert hours.to_config() == raw
    assert BusinessHours.from_config(hours.to_config()) == hours


def test_from_config_without_holidays_round_trips_unchanged() -> None:
    raw = config(timezone="America/New_York", days=[5, 6], start="00:00", end="23:59")
    hours = BusinessHours.from_config(raw)
    assert hours is not None
    assert hours.to_config() == raw
    assert hours.holidays == frozenset()


def test_to_config_is_canonical() -> None:
    hours = BusinessHours.from_config(config(days=[4, 0, 2], holidays=["2027-01-01", "2026-12-25"]))
    assert hours is not None
    assert hours.to_config()["days"] == [0, 2, 4]
    assert hours.to_config()["holidays"] == ["2026-12-25", "2027-01-01"]


@pytest.mark.parametrize("empty", [None, {}])
def test_no_config_means_the_clock_always_runs(empty: dict[str, Any] | None) -> None:
    assert BusinessHours.from_config(empty) is None
    assert business_hours_errors(empty) == []


def test_from_config_rejects_invalid_config_with_all_messages() -> None:
    with pytest.raises(ValueError, match=r"Unknown time zone 'Mars/Olympus'.*end \(08:00\)"):
        BusinessHours.from_config(config(timezone="Mars/Olympus", end="08:00"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": frozenset()}, "at least one working day"),
        ({"days": frozenset({7})}, "weekday numbers 0..6"),
        ({"end": time(9)}, "must be after start"),
        ({"end": time(8)}, "must be after start"),
        ({"start": time(9, 0, 30)}, "whole minute"),
        ({"start": time(9, tzinfo=UTC)}, "naive local time"),
    ],
)
def test_invalid_construction_is_rejected(kwargs: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"tz": BERLIN, "days": WEEKDAYS, "start": time(9), "end": time(17)}
    with pytest.raises(ValueError, match=message):
        BusinessHours(**{**fields, **kwargs})


def test_valid_config_has_no_errors() -> None:
    assert business_hours_errors(config()) == []
    assert business_hours_errors(config(holidays=[], days=(6,), timezone="UTC")) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            ["09:00", "17:00"],
            [
                'Business hours must be an object like {"timezone": "Europe/Berlin", '
                '"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}.'
            ],
        ),
        (
            config(weekends=True, tz="UTC"),
            ["Unknown keys ['tz', 'weekends']; use timezone, days, start, end, holidays."],
        ),
        ({"timezone": "UTC", "end": "17:00"}, ["Missing days, start."]),
        (
            config(timezone="Mars/Olympus"),
            ["Unknown time zone 'Mars/Olympus'; use an IANA name such as \"Europe/Berlin\"."],
        ),
        (
            config(timezone="Europe"),  # a directory in the tz database, not a zone
            ["Unknown time zone 'Europe'; use an IANA name such as \"Europe/Berlin\"."],
        ),
        (
            config(timezone="../../etc/passwd"),
            ["Unknown time zone '../../etc/passwd'; use an IANA name such as \"Europe/Berlin\"."],
        ),
        (
            config(timezone=1),
            ['timezone must be an IANA time zone name such as "Europe/Berlin", got 1.'],
        ),
        (
            config(days=[]),
            ["days must be a non-empty list of weekday numbers, Monday=0 .. Sunday=6."],
        ),
        (
            config(days="0-4"),
            ["days must be a non-empty list of weekday numbers, Monday=0 .. Sunday=6."],
        ),
        (
            config(days=[0, 7, "1", True, -1]),
            [
                "days: 7 is not a weekday number, Monday=0 .. Sunday=6.",
                "days: '1' is not a weekday number, Monday=0 .. Sunday=6.",
                "days: True is not a weekday number, Monday=0 .. Sunday=6.",
                "days: -1 is not a weekday number, Monday=0 .. Sunday=6.",
            ],
        ),
        (config(days=[0, 1, 1, 0, 2]), ["days: [0, 1] listed more than once."]),
        (
            config(start="9:00"),
            ['start must be a time "HH:MM" such as "09:00", got \'9:00\'.'],
        ),
        (
            config(end="24:00"),
            ['end must be a time "HH:MM" such as "09:00", got \'24:00\'.'],
        ),
        (
            config(start="09:00:00", end=1700),
            [
                'start must be a time "HH:MM" such as "09:00", got \'09:00:00\'.',
                'end must be a time "HH:MM" such as "09:00", got 1700.',
            ],
        ),
        (
            config(end="09:00"),
            ["end (09:00) must be after start (09:00); shifts over midnight are not supported."],
        ),
        (
            config(start="22:00", end="06:00"),
            ["end (06:00) must be after start (22:00); shifts over midnight are not supported."],
        ),
        (config(holidays="2026-12-25"), ['holidays must be a list of dates "YYYY-MM-DD".']),
        (
            config(holidays=["2026-12-25", "20261226", "2026-02-30", None]),
            [
                "holidays: '20261226' is not a date \"YYYY-MM-DD\".",
                "holidays: '2026-02-30' is not a date \"YYYY-MM-DD\".",
                'holidays: None is not a date "YYYY-MM-DD".',
            ],
        ),
    ],
)
def test_business_hours_errors(value: Any, expected: list[str]) -> None:
    assert business_hours_errors(value) == expected
    with pytest.raises(ValueError):
        BusinessHours.from_config(value)


def test_business_hours_errors_reports_every_problem() -> None:
    errors = business_hours_errors({"timezone": "Nowhere", "days": [9], "start": "x", "extra": 1})
    assert errors == [
        "Unknown keys ['extra']; use timezone, days, start, end, holidays.",
        "Missing end.",
        "Unknown time zone 'Nowhere'; use an IANA name such as \"Europe/Berlin\".",
        "days: 9 is not a weekday number, Monday=0 .. Sunday=6.",
        'start must be a time "HH:MM" such as "09:00", got \'x\'.',
    ]


# --- properties ------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]


@st.composite
def schedules(draw: st.DrawFn) -> BusinessHours:
    """Random schedules on whole minutes, some of them opening or closing in DST gaps."""
    start = draw(st.integers(0, 23 * 60 + 58))
    end = draw(st.integers(start + 1, 23 * 60 + 59))
    return BusinessHours(
        tz=ZoneInfo(draw(st.sampled_from(ZONES))),
        days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        start=time(*divmod(start, 60)),
        end=time(*divmod(end, 60)),
        holidays=draw(st.frozensets(st.dates(date(2024, 1, 1), date(2029, 12, 31)), max_size=20)),
    )


starts = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - bounds are naive; timezones= makes aware
    max_value=datetime(2028, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


def minute_counts(hours: BusinessHours) -> st.SearchStrategy[float]:
    """Up to about two years of the schedule's working time (and at most 30,000 minutes).

    The cost of add_working_minutes grows with the calendar days covered, so a schedule
    with one short shift a week must not be asked for tens of thousands of minutes here.
    """
    shift = (hours.end.hour * 60 + hours.end.minute) - (hours.start.hour * 60 + hours.start.minute)
    most = min(30_000, shift * len(hours.days) * 104)
    return st.one_of(
        st.integers(0, most), st.floats(0, most, allow_nan=False, allow_infinity=False)
    )


@settings(deadline=None, max_examples=150)
@given(start=starts, hours=schedules(), local=st.booleans(), data=st.data())
def test_working_time_until_the_result_is_the_requested_minutes(
    start: datetime, hours: BusinessHours, local: bool, data: st.DataObject
) -> None:
    minutes = data.draw(minute_counts(hours), label="minutes")
    if local:  # the same instant in the schedule's zone: a shared tzinfo must not matter
        start = start.astimezone(hours.tz)
    result = add_working_minutes(start, minutes, hours)
    assert result.tzinfo is start.tzinfo
    assert result.astimezone(UTC) >= start.astimezone(UTC)
    assert abs(working_seconds_between(start, result, hours) - minutes * 60) <= 1e-6


@settings(deadline=None, max_examples=150)
@given(start=starts, hours=schedules(), data=st.data())
def test_add_working_minutes_is_monotonic(
    start: datetime, hours: BusinessHours, data: st.DataObject
) -> None:
    a = data.draw(minute_counts(hours), label="a")
    b = data.draw(minute_counts(hours), label="b")
    low, high = sorted((a, b))
    assert add_working_minutes(start, low, hours) <= add_working_minutes(start, high, hours)


def _brute_force_seconds(a: datetime, b: datetime, hours: BusinessHours) -> float:
    """Count minutes whose local wall time lies within a working day's [start, end)."""
    seconds = 0
    instant = a
    while instant < b:
        wall = instant.astimezone(hours.tz)
        workday = wall.weekday() in hours.days and wall.date() not in hours.holidays
        if workday and hours.start <= wall.time() < hours.end:
            seconds += 60
        instant += timedelta(minutes=1)
    return seconds


# Days with DST changes in the zones above, so the oracle sees them often.
ANCHORS = [
    datetime(2026, 3, 28, 12, tzinfo=UTC),  # Berlin spring forward on the 29th
    datetime(2026, 10, 24, 12, tzinfo=UTC),  # Berlin fall back on the 25th
    datetime(2026, 3, 7, 12, tzinfo=UTC),  # New York spring forward on the 8th
    datetime(2026, 10, 31, 12, tzinfo=UTC),  # New York fall back on 1 Nov
    datetime(2026, 4, 4, 6, tzinfo=UTC),  # Sydney fall back on 5 Apr
    datetime(2026, 10, 3, 6, tzinfo=UTC),  # Sydney spring forward on the 4th
]
# Whole-minute shift edges outside 01:00-04:00, where the repeated fall-back hour makes
# "wall time within [start, end)" and "first instant the clock reads start/end" differ.
EDGES = [m for m in range(0, 24 * 60, 15) if not 60 <= m <= 240]


@settings(deadline=None, max_examples=60)
@given(
    anchor=st.sampled_from(ANCHORS),
    offset=st.integers(-24 * 60, 24 * 60),
    span=st.integers(0, 3 * 24 * 60),
    zone=st.sampled_from(ZONES),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    edges=st.lists(st.sampled_from(EDGES), min_size=2, max_size=2, unique=True),
)
def test_working_seconds_between_agrees_with_a_minute_by_minute_count(
    anchor: datetime, offset: int, span: int, zone: str, days: frozenset[int], edges: list[int]
) -> None:
    start, end = sorted(edges)
    hours = BusinessHours(ZoneInfo(zone), days, time(*divmod(start, 60)), time(*divmod(end, 60)))
    a = anchor + timedelta(minutes=offset)
    b = a + timedelta(minutes=span)
    assert working_seconds_between(a, b, hours) == _brute_force_seconds(a, b, hours)
