"""The XNYS session table: the same answers as exchange_calendars, from a daily cache."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys

import pandas as pd
import pytest

from quantmini import sessions as S


@pytest.fixture(scope="module")
def cal():
    return S.xnys()


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """A cache folder of the test's own, and no table held in this process."""
    monkeypatch.setenv("QUANTMINI_CACHE_DIR", str(tmp_path / "cache"))
    S.session_table.cache_clear()
    yield tmp_path / "cache"
    S.session_table.cache_clear()


def test_the_table_holds_every_session_with_its_open_and_close(cal):
    table = S.session_table()
    assert [dt.date.fromordinal(o) for o in table.days] == [ts.date() for ts in cal.sessions]
    assert [o * 10**9 for o in table.opens] == [ts.value for ts in cal.opens]
    assert [c * 10**9 for c in table.closes] == [ts.value for ts in cal.closes]
    assert S.calendar_bounds() == (cal.first_session.date(), cal.last_session.date())


def test_every_question_is_answered_as_the_calendar_answers_it(cal):
    rng = random.Random(7)
    first, last = S.calendar_bounds()
    days = [first + dt.timedelta(days=rng.randrange((last - first).days)) for _ in range(1500)]
    days += [dt.date(2024, 7, 3), dt.date(2024, 11, 29), dt.date(2024, 12, 24), dt.date(2024, 6, 19), dt.date(2024, 7, 4)]
    for day in days:
        ts = pd.Timestamp(day)
        assert S.is_session(day) == cal.is_session(ts), day
        if day > first:
            assert S.previous_session(day) == cal.date_to_session(ts, direction="previous").date(), day
        if S.is_session(day):
            assert S.regular_session_bounds(day) == (cal.session_open(ts).value, cal.session_close(ts).value), day
            if day.year > 2000:
                assert S.sessions_ending(day, 9) == [t.date() for t in cal.sessions_window(ts, -9)], day
    start, end = dt.date(2023, 12, 20), dt.date(2024, 1, 10)
    assert S.sessions_between(start, end) == [t.date() for t in cal.sessions_in_range(start, end)]
    # early close: 13:00 New York on 2024-07-03
    close = pd.Timestamp(S.regular_session_bounds(dt.date(2024, 7, 3))[1]).tz_localize("UTC").tz_convert(S.NEW_YORK)
    assert (close.hour, close.minute) == (13, 0)


def test_last_completed_session_at_the_minutes_around_a_close(cal):
    rng = random.Random(3)
    close = pd.Timestamp("2024-06-28 20:00", tz="UTC")  # 16:00 New York
    minutes = [close + pd.Timedelta(minutes=m) for m in (-61, -1, 0, 1, 59)]
    minutes += [pd.Timestamp("2024-07-03 17:00", tz="UTC"), pd.Timestamp("2024-07-03 16:59", tz="UTC")]  # early close
    minutes += [pd.Timestamp("2001-01-01", tz="UTC") + pd.Timedelta(minutes=rng.randrange(12_000_000))
                for _ in range(500)]
    for m in minutes:
        now = m.to_pydatetime() + dt.timedelta(seconds=rng.randrange(60))
        assert S.last_completed_session(now) == cal.minute_to_past_session(m, count=1).date(), m


def test_errors_name_the_day():
    with pytest.raises(ValueError, match="2024-06-22 is not an XNYS session"):
        S.sessions_ending(dt.date(2024, 6, 22), 3)
    with pytest.raises(ValueError, match="2024-07-04 is not an XNYS session"):
        S.regular_session_bounds(dt.date(2024, 7, 4))
    with pytest.raises(ValueError, match="start before the calendar's first session"):
        S.sessions_ending(dt.date(2000, 1, 5), 10)


def test_the_table_is_cached_once_a_day_and_a_bad_cache_is_rebuilt(own_cache):
    built = S.session_table()
    files = list(own_cache.glob("xnys-*.json"))
    assert len(files) == 1 and dt.date.today().strftime("%Y%m%d") in files[0].name
    S.session_table.cache_clear()
    assert S.session_table() == built  # read back from the file
    files[0].write_text('{"days": [1, 2], "opens": [1]')  # cut short
    S.session_table.cache_clear()
    assert S.session_table() == built
    assert json.loads(files[0].read_text())["days"] == list(built.days)
    # yesterday's table (or another library version's) is replaced, not kept beside
    stale = own_cache / "xnys-0.0-2000-01-01-20000101.json"
    stale.write_text(built.to_json())
    files[0].unlink()
    S.session_table.cache_clear()
    S.session_table()
    assert [p.name for p in own_cache.glob("xnys-*.json")] == [files[0].name]


def test_an_unwritable_cache_only_costs_time(own_cache):
    own_cache.parent.mkdir(parents=True, exist_ok=True)
    own_cache.write_text("a file where the folder should be")
    assert S.calendar_bounds()[0] == dt.date(2000, 1, 3)


def test_a_warm_cache_answers_without_the_calendar(own_cache):
    """What every Snakemake start, summary and report job saves (~0.7 s): with the day's
    table cached, resolving a window imports neither exchange_calendars nor pandas."""
    S.session_table()
    probe = ("import sys; from quantmini import settings; "
             "settings.resolve_window({'date': '2024-06-28', 'days_back': 5}); "
             "from quantmini.sessions import last_completed_session, regular_session_bounds; "
             "import datetime as dt; last_completed_session(); regular_session_bounds(dt.date(2024, 6, 28)); "
             "print(sorted(m for m in ('exchange_calendars', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
