"""XNYS trading sessions.

Every date the lake knows about is an XNYS session from ``exchange_calendars``: flat files
exist only for sessions, and the Qlib calendar must equal the session list exactly.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache


class _Lazy:
    """Imports a module on first attribute access: exchange_calendars pulls in pandas
    (~0.7 s), which the flat-file jobs (one process each) never need."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


xcals = _Lazy("exchange_calendars")
pd = _Lazy("pandas")

NEW_YORK = "America/New_York"


@lru_cache(maxsize=1)
def xnys():
    """The XNYS calendar, built once per process (construction takes ~0.5 s)."""
    return xcals.get_calendar("XNYS", start="2000-01-01")


def calendar_bounds() -> tuple[dt.date, dt.date]:
    """The first and last dates the XNYS calendar knows (it ends about a year ahead)."""
    cal = xnys()
    return cal.first_session.date(), cal.last_session.date()


def is_session(day: dt.date) -> bool:
    return bool(xnys().is_session(pd.Timestamp(day)))


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """All XNYS sessions with start <= session <= end (inclusive), as dates."""
    if end < start:
        return []
    cal = xnys()
    labels = cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [ts.date() for ts in labels]


def sessions_ending(end: dt.date, count: int) -> list[dt.date]:
    """The ``count`` sessions ending at ``end`` (``end`` itself must be a session)."""
    cal = xnys()
    labels = cal.sessions_window(pd.Timestamp(end), -count)
    return [ts.date() for ts in labels]


@lru_cache(maxsize=1)
def session_ordinals() -> tuple[int, ...]:
    """Every XNYS session the calendar knows, as proleptic ordinals (ascending): look-back
    windows for thousands of targets are slices of this, not calendar queries."""
    import numpy as np

    days = xnys().sessions.values.astype("datetime64[D]").astype(np.int64)
    return tuple((days + dt.date(1970, 1, 1).toordinal()).tolist())


def sessions_back(end: dt.date, count: int) -> list[dt.date]:
    """The up to ``count`` sessions ending at ``end`` (a session), oldest first."""
    import bisect

    ords = session_ordinals()
    j = bisect.bisect_right(ords, end.toordinal())
    return [dt.date.fromordinal(o) for o in ords[max(0, j - count) : j]]


class ClockError(ValueError):
    """``QUANTMINI_NOW`` is set to something that is not a time."""


def now_utc() -> dt.datetime:
    """The current time, or ``QUANTMINI_NOW`` (ISO 8601) when set: what "today", "the latest
    published session" and "late" mean is then reproducible (tests, replays of a past night)."""
    import os

    fixed = os.environ.get("QUANTMINI_NOW")
    if fixed:
        try:
            when = dt.datetime.fromisoformat(fixed)
        except ValueError:
            raise ClockError(f"QUANTMINI_NOW {fixed!r} is not an ISO 8601 time (e.g. 2024-06-28T16:00:00+00:00)") from None
        return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def previous_session(day: dt.date) -> dt.date:
    cal = xnys()
    return cal.date_to_session(pd.Timestamp(day), direction="previous").date()


def last_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The latest session whose close is at or before ``now`` (default: the current time)."""
    cal = xnys()
    now_ts = pd.Timestamp(now if now is not None else now_utc())
    if now_ts.tzinfo is None:
        now_ts = now_ts.tz_localize("UTC")
    return cal.minute_to_past_session(now_ts.floor("min"), count=1).date()


def publication_due(session: dt.date, publish_time: str = "11:00") -> dt.datetime:
    """When the vendor's flat files of ``session`` are due: the next calendar day at
    ``publish_time`` New York time (the files appear around 11:00), as an aware datetime."""
    from zoneinfo import ZoneInfo

    hour, minute = (int(x) for x in publish_time.split(":"))
    day = session + dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(NEW_YORK))


def hours_overdue(session: dt.date, now: dt.datetime, publish_time: str = "11:00") -> float:
    """Hours since ``session``'s flat files were due (negative before): the DAG leaves a file
    out while it is not late, and the quality check alerts once it is."""
    return (now - publication_due(session, publish_time)).total_seconds() / 3600.0


def last_published_session(now: dt.datetime | None = None, publish_time: str = "11:00") -> dt.date:
    """The latest session whose flat files are due by ``now``. Monday's files are due on
    Tuesday at 11:00 New York: a run at 02:00 that Tuesday targets the Friday before, a run
    at 12:00 targets Monday. Nightly runs use this, so they never ask for a file that the
    vendor has not yet had time to publish."""
    now = now or now_utc()
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    day = last_completed_session(now)
    while publication_due(day, publish_time) > now:
        day = previous_session(day - dt.timedelta(days=1))  # the session on or before
    return day


def why_not_session(day: dt.date) -> str:
    """A short human reason for a non-session date: weekend, or the holiday's name."""
    if day.weekday() >= 5:
        return f"weekend: {day:%A}"
    cal = xnys()
    holidays = cal.regular_holidays.holidays(start=pd.Timestamp(day), end=pd.Timestamp(day), return_name=True)
    if len(holidays):
        return f"exchange holiday: {holidays.iloc[0]}"
    for ts in cal.adhoc_holidays:
        if pd.Timestamp(ts).date() == day:
            return "unscheduled exchange closure"
    return "not a trading session"
