"""XNYS trading sessions.

Every date the lake knows about is an XNYS session from ``exchange_calendars``: flat files
exist only for sessions, and the Qlib calendar must equal the session list exactly.

Building the calendar costs ~0.7 s (exchange_calendars and pandas imports, then the
holiday rules), and every Snakemake start, summary, report, minute and options job, and
``quantmini`` command needs it. So the sessions and their regular-session open and close
are read from exchange_calendars once a day and kept in a small JSON table in the user's
cache (``QUANTMINI_CACHE_DIR``, else ``$XDG_CACHE_HOME/quantmini`` or
``~/.cache/quantmini``), named by the library's version and the day it was built (the
calendar runs to a year after that day): a new library version or a new day builds a new
table, and everything here answers from the table. Only ``why_not_session`` (a holiday's
name, on the error path) opens the calendar itself.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


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
CALENDAR_START = "2000-01-01"
_EPOCH = dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=1)
def xnys():
    """The XNYS calendar, built once per process (construction takes ~0.5 s)."""
    return xcals.get_calendar("XNYS", start=CALENDAR_START)


@dataclass(frozen=True)
class SessionTable:
    """Every XNYS session the calendar knows, ascending: the date (proleptic ordinal) and
    the regular session's open and close (UTC, seconds since the epoch; early closes
    included)."""

    days: tuple[int, ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]

    @classmethod
    def from_calendar(cls, cal) -> "SessionTable":
        import numpy as np

        days = cal.sessions.values.astype("datetime64[D]").astype(np.int64) + _EPOCH
        seconds = [s.values.astype("datetime64[s]").astype(np.int64) for s in (cal.opens, cal.closes)]
        return cls(tuple(days.tolist()), tuple(seconds[0].tolist()), tuple(seconds[1].tolist()))

    def to_json(self) -> str:
        return json.dumps({"days": self.days, "opens": self.opens, "closes": self.closes}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "SessionTable":
        """The table a cache file holds; ValueError if it is not a whole, ordered table."""
        raw = json.loads(text)
        table = cls(*(tuple(int(v) for v in raw[k]) for k in ("days", "opens", "closes")))
        n = len(table.days)
        ordered = all(a < b for a, b in zip(table.days, table.days[1:]))
        if not n or len(table.opens) != n or len(table.closes) != n or not ordered:
            raise ValueError("not a whole session table")
        return table

    def index_on_or_before(self, day: dt.date) -> int:
        """Position of the last session on or before ``day`` (-1 when there is none)."""
        return bisect.bisect_right(self.days, day.toordinal()) - 1

    def index_of(self, day: dt.date) -> int:
        """Position of session ``day``; ValueError naming the day when it is no session."""
        i = self.index_on_or_before(day)
        if i < 0 or self.days[i] != day.toordinal():
            raise ValueError(f"{day} is not an XNYS session")
        return i


def cache_dir() -> Path:
    explicit = os.environ.get("QUANTMINI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quantmini"


def _cache_file(today: dt.date) -> Path:
    from importlib.metadata import version

    return cache_dir() / f"xnys-{version('exchange_calendars')}-{CALENDAR_START}-{today:%Y%m%d}.json"


@lru_cache(maxsize=1)
def session_table() -> SessionTable:
    """The session table: from today's cache file, else built from the calendar and cached
    (written atomically; older tables removed). A cache that cannot be read is rebuilt, one
    that cannot be written is skipped: the cache only ever saves time."""
    from . import atomic

    path = _cache_file(dt.date.today())
    try:
        return SessionTable.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        pass
    table = SessionTable.from_calendar(xnys())
    try:
        atomic.write_text(path, table.to_json())
        for old in path.parent.glob("xnys-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return table


def calendar_bounds() -> tuple[dt.date, dt.date]:
    """The first and last dates the XNYS calendar knows (it ends about a year ahead)."""
    days = session_table().days
    return dt.date.fromordinal(days[0]), dt.date.fromordinal(days[-1])


def is_session(day: dt.date) -> bool:
    table = session_table()
    i = table.index_on_or_before(day)
    return i >= 0 and table.days[i] == day.toordinal()


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """All XNYS sessions with start <= session <= end (inclusive), as dates."""
    if end < start:
        return []
    days = session_table().days
    lo, hi = bisect.bisect_left(days, start.toordinal()), bisect.bisect_right(days, end.toordinal())
    return [dt.date.fromordinal(o) for o in days[lo:hi]]


def sessions_ending(end: dt.date, count: int) -> list[dt.date]:
    """The ``count`` sessions ending at ``end`` (``end`` itself must be a session)."""
    table = session_table()
    j = table.index_of(end)
    if count > j + 1:
        raise ValueError(f"{count} sessions ending {end} start before the calendar's first session")
    return [dt.date.fromordinal(o) for o in table.days[j + 1 - count : j + 1]]


def session_ordinals() -> tuple[int, ...]:
    """Every XNYS session the calendar knows, as proleptic ordinals (ascending): look-back
    windows for thousands of targets are slices of this, not calendar queries."""
    return session_table().days


def sessions_back(end: dt.date, count: int) -> list[dt.date]:
    """The up to ``count`` sessions ending at ``end`` (a session), oldest first."""
    ords = session_ordinals()
    j = bisect.bisect_right(ords, end.toordinal())
    return [dt.date.fromordinal(o) for o in ords[max(0, j - count) : j]]


def regular_session_bounds(day: dt.date) -> tuple[int, int]:
    """[open, close) of session ``day``'s regular hours in UTC nanoseconds (16:00 New York,
    13:00 on early-close days)."""
    table = session_table()
    i = table.index_of(day)
    return table.opens[i] * 1_000_000_000, table.closes[i] * 1_000_000_000


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
    """The session on or before ``day``."""
    table = session_table()
    i = table.index_on_or_before(day)
    if i < 0:
        raise ValueError(f"no XNYS session on or before {day}")
    return dt.date.fromordinal(table.days[i])


def last_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The latest session whose close is at or before ``now`` (default: the current time)."""
    now = now if now is not None else now_utc()
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    minute = int(now.timestamp()) // 60 * 60
    table = session_table()
    i = bisect.bisect_right(table.closes, minute) - 1
    if i < 0:
        raise ValueError(f"no XNYS session closed by {now.isoformat()}")
    return dt.date.fromordinal(table.days[i])


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
