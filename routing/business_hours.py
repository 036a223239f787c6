"""SLA clocks that only run inside a queue's business hours.

A queue may store a business-hours config (JSON) such as::

    {"timezone": "Europe/Berlin", "days": [0, 1, 2, 3, 4],
     "start": "09:00", "end": "17:00", "holidays": ["2026-12-25"]}

Working time is defined per *local* calendar date: on a working weekday that is not a
holiday, the clock runs from the instant the local wall clock first reads ``start`` until
the instant it first reads ``end``. Doing the arithmetic per local day and converting each
day's edges with :mod:`zoneinfo` is what makes DST changes come out right: a 09:00-17:00
day is always 8 real hours, while a 01:00-04:00 day is only 2 real hours on the night the
clocks spring forward and 4 on the night they fall back.

Two DST corner cases follow from "the instant the wall clock first reads":

* a ``start``/``end`` inside a spring-forward gap (e.g. 02:30 in Berlin on the last Sunday
  of March) maps to the transition instant itself (03:00 CEST), the first moment the wall
  clock shows a time at or after it;
* a ``start``/``end`` inside the repeated fall-back hour maps to its first occurrence.

Everything here is pure standard library: no database and no Django.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CONFIG_KEYS = ("timezone", "days", "start", "end", "holidays")
REQUIRED_KEYS = ("timezone", "days", "start", "end")

# How many consecutive calendar days without any working time add_working_minutes scans
# before concluding that the schedule never opens (e.g. holidays covering every working day).
# Three years comfortably exceeds any real closure, and it bounds the loop.
MAX_IDLE_DAYS = 3 * 366

# Strict shapes: date.fromisoformat and time.fromisoformat accept far more than the
# documented "YYYY-MM-DD" and "HH:MM" since Python 3.11 (e.g. "20261225", "0900").
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class BusinessHours:
    """A weekly working schedule in one time zone, with optional holidays.

    ``start`` and ``end`` are naive local wall times on whole minutes, with ``end`` after
    ``start`` on the same day (shifts over midnight are not supported). ``days`` uses
    Monday=0 .. Sunday=6. ``holidays`` are local dates without any working time.
    """

    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Validate direct construction too, so every instance has a well-defined clock
        # and can be written back with to_config().
        if not self.days:
            raise ValueError("BusinessHours needs at least one working day.")
        if any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in self.days):
            raise ValueError(f"days must be weekday numbers 0..6, got {sorted(self.days)!r}.")
        for name, value in (("start", self.start), ("end", self.end)):
            if value.tzinfo is not None:
                raise ValueError(f"{name} must be a naive local time; the zone is tz.")
            if value.second or value.microsecond:
                raise ValueError(f"{name} must be on a whole minute, got {value.isoformat()}.")
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M}); "
                "shifts over midnight are not supported."
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> BusinessHours | None:
        """Build from the JSON config stored on a queue.

        ``None`` or ``{}`` mean "no business hours": the SLA clock always runs, so this
        returns ``None``. An invalid config raises ``ValueError`` with every message from
        :func:`business_hours_errors` joined by "; ".
        """
        if not config:
            return None
        errors = business_hours_errors(config)
        if errors:
            raise ValueError("; ".join(errors))
        return cls(
            tz=ZoneInfo(config["timezone"]),
            days=frozenset(config["days"]),
            # Already checked to be strict "HH:MM", which fromisoformat reads as intended.
            start=time.fromisoformat(config["start"]),
            end=time.fromisoformat(config["end"]),
            holidays=frozenset(date.fromisoformat(d) for d in config.get("holidays", ())),
        )

    def to_config(self) -> dict[str, Any]:
        """The JSON config shape accepted by :meth:`from_config` (canonical ordering).

        ``holidays`` is left out when there are none, so a config written without it
        round-trips unchanged.
        """
        config: dict[str, Any] = {
            "timezone": self.tz.key,
            "days": sorted(self.days),
            "start": f"{self.start:%H:%M}",
            "end": f"{self.end:%H:%M}",
        }
        if self.holidays:
            config["holidays"] = sorted(d.isoformat() for d in self.holidays)
        return config

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval ``[open, close)`` of a local date, as UTC datetimes.

        ``None`` on non-working weekdays and holidays. ``open <= close`` always holds;
        the interval can be empty when the whole shift falls into a DST gap.
        """
        if day.weekday() not in self.days or day in self.holidays:
            return None
        return (
            _first_instant_at(day, self.start, self.tz),
            _first_instant_at(day, self.end, self.tz),
        )


def business_hours_errors(value: Any) -> list[str]:
    """Readable messages for an invalid business-hours config; ``[]`` when it is valid.

    ``None`` and ``{}`` are valid and mean "no business hours" (the clock always runs).
    """
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [
            'Business hours must be an object like {"timezone": "Europe/Berlin", '
            '"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}.'
        ]
    if not value:
        return []
    errors: list[str] = []
    if unknown := set(value) - set(CONFIG_KEYS):
        errors.append(f"Unknown keys {sorted(map(str, unknown))}; use {', '.join(CONFIG_KEYS)}.")
    if missing := [key for key in REQUIRED_KEYS if key not in value]:
        errors.append(f"Missing {', '.join(missing)}.")
    if "timezone" in value:
        errors += _timezone_errors(value["timezone"])
    if "days" in value:
        errors += _days_errors(value["days"])
    times: dict[str, time] = {}
    for key in ("start", "end"):
        if key not in value:
            continue
        parsed = _parse_hhmm(value[key])
        if parsed is None:
            errors.append(f'{key} must be a time "HH:MM" such as "09:00", got {value[key]!r}.')
        else:
            times[key] = parsed
    if "start" in times and "end" in times and times["end"] <= times["start"]:
        errors.append(
            f"end ({value['end']}) must be after start ({value['start']}); "
            "shifts over midnight are not supported."
        )
    if "holidays" in value:
        errors += _holidays_errors(value["holidays"])
    return errors


def add_working_minutes(
    start: datetime, minutes: int | float, hours: BusinessHours | None
) -> datetime:
    """The earliest instant at which ``minutes`` of working time have elapsed after ``start``.

    The result is an aware datetime in the same time zone as ``start`` (its ``tzinfo``).
    ``hours=None`` means the clock always runs: ``start`` plus ``minutes`` of real time
    (computed in UTC, so adding 60 minutes across a DST change is one real hour).

    If ``start`` is outside working time, the clock starts at the next opening; a
    positive amount that exactly fills a working day ends at its closing instant (not
    at the next opening). ``minutes == 0`` returns ``start`` unchanged, since no working
    time needs to elapse.

    Whole days are skipped at a time, so the cost grows with the number of calendar days
    covered, not with ``minutes``.

    Raises ``ValueError`` for a naive ``start``, for negative or non-finite ``minutes``,
    and when the schedule has no working time for :data:`MAX_IDLE_DAYS` consecutive days.
    """
    _require_aware(start, "start")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {minutes!r}.")
    # timedelta keeps whole microseconds as integers, so the bookkeeping below is exact and
    # working_seconds_between() of the result gives back exactly this amount.
    remaining = timedelta(minutes=minutes)
    origin = start.astimezone(UTC)
    if hours is None:
        return (origin + remaining).astimezone(start.tzinfo)
    if not remaining:
        return start

    # Begin one local day early: a window belongs to the local date it starts on, and
    # around DST changes that date can differ from the date `origin` shows locally.
    day = origin.astimezone(hours.tz).date() - _ONE_DAY
    idle_days = 0
    while True:
        window = hours.window(day)
        if window is not None:
            opens, closes = window
            begin = max(opens, origin)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
                idle_days = 0
                day += _ONE_DAY
                continue
        idle_days += 1
        if idle_days > MAX_IDLE_DAYS:
            raise ValueError(
                f"The business hours have no working time for more than {MAX_IDLE_DAYS} days "
                f"after {day - timedelta(days=MAX_IDLE_DAYS)}; check the days and holidays."
            )
        day += _ONE_DAY


def working_seconds_between(a: datetime, b: datetime, hours: BusinessHours | None) -> float:
    """Seconds of working time elapsed from ``a`` to ``b``; ``0.0`` when ``b <= a``.

    ``hours=None`` means the clock always runs: the real time between the two instants
    (compared in UTC, so a DST change inside the span is counted correctly).
    Raises ``ValueError`` for naive datetimes.
    """
    _require_aware(a, "a")
    _require_aware(b, "b")
    # Convert first: Python compares and subtracts datetimes that share a tzinfo by their
    # wall clocks, which is wrong across DST changes.
    a_utc, b_utc = a.astimezone(UTC), b.astimezone(UTC)
    if b_utc <= a_utc:
        return 0.0
    if hours is None:
        return (b_utc - a_utc).total_seconds()
    total = timedelta(0)
    for day in _dates(
        a_utc.astimezone(hours.tz).date() - _ONE_DAY,
        b_utc.astimezone(hours.tz).date() + _ONE_DAY,
    ):
        window = hours.window(day)
        if window is None:
            continue
        begin, end = max(window[0], a_utc), min(window[1], b_utc)
        if begin < end:
            total += end - begin
    return total.total_seconds()


def _dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value!r}.")


def _first_instant_at(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in ``tz`` reads ``wall`` or later on ``day``.

    Ambiguous times (fall-back) resolve to their first occurrence. Times that do not exist
    (spring-forward gap) resolve to the transition instant, where the clock jumps past them.
    """
    local = datetime.combine(day, wall)
    # fold=0 picks the first occurrence of an ambiguous time, and for a time in a gap it
    # applies the offset from before the transition, which lands *after* the transition.
    after = local.replace(tzinfo=tz).astimezone(UTC)
    if after.astimezone(tz).replace(tzinfo=None) == local:
        return after
    # In a gap: fold=1 applies the offset from after the transition, which lands *before*
    # it. zoneinfo has no public API for transition instants, so bisect between the two
    # (about 32 steps for a one-hour gap, and only on the rare days this happens).
    before = local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    while after - before > _ONE_MICROSECOND:
        middle = before + (after - before) // 2
        if middle.astimezone(tz).replace(tzinfo=None) >= local:
            after = middle
        else:
            before = middle
    return after


def _parse_hhmm(value: Any) -> time | None:
    if not isinstance(value, str):
        return None
    match = _HHMM.fullmatch(value)
    if match is None:
        return None
    return time(int(match[1]), int(match[2]))


def _timezone_errors(value: Any) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f'timezone must be an IANA time zone name such as "Europe/Berlin", got {value!r}.']
    try:
        ZoneInfo(value)
    # Unknown names raise ZoneInfoNotFoundError (a KeyError), malformed or path-like
    # names ValueError, and directory names such as "Europe" an OSError.
    except (KeyError, ValueError, OSError):
        return [f'Unknown time zone {value!r}; use an IANA name such as "Europe/Berlin".']
    return []


def _days_errors(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        return ["days must be a non-empty list of weekday numbers, Monday=0 .. Sunday=6."]
    errors: list[str] = []
    seen: set[int] = set()
    duplicated: set[int] = set()
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            errors.append(f"days: {day!r} is not a weekday number, Monday=0 .. Sunday=6.")
        elif day in seen:
            duplicated.add(day)
        else:
            seen.add(day)
    if duplicated:
        errors.append(f"days: {sorted(duplicated)} listed more than once.")
    return errors


def _holidays_errors(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return ['holidays must be a list of dates "YYYY-MM-DD".']
    errors: list[str] = []
    for holiday in value:
        valid = isinstance(holiday, str) and _ISO_DATE.fullmatch(holiday) is not None
        if valid:
            try:
                date.fromisoformat(holiday)
            except ValueError:  # well-shaped but impossible, e.g. "2026-02-30"
                valid = False
        if not valid:
            errors.append(f'holidays: {holiday!r} is not a date "YYYY-MM-DD".')
    return errors
