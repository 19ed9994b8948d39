"""The soak's schedule (tests/soak/schedule.py): a seed replays exactly, every kind of event
is drawn, and each night's expected exit code follows from its events alone."""

from __future__ import annotations

import datetime as dt

import pytest

from quantmini.sessions import sessions_between

from .soak import schedule
from .soak.harness import broken, corrected, vendor_events, with_phantom, _gz

# the soak's default window (May and June 2024: the sandbox's splits and ticker change)
SESSIONS = [d.isoformat() for d in sessions_between(dt.date(2024, 5, 1), dt.date(2024, 6, 28))]
SPLITS, RENAMES = vendor_events(40, 3, SESSIONS)


def test_the_window_holds_the_vendors_splits_and_ticker_change():
    assert SPLITS == (("NVDA", "2024-06-10"), ("QMFS", "2024-06-12"), ("QMRS", "2024-06-17"))
    assert RENAMES == (("QMOLD", "QMNEW", "2024-06-20"),)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_seed_replays_the_same_events_and_draws_every_kind(seed):
    first = schedule.build(seed, SESSIONS, splits=SPLITS, renames=RENAMES)
    again = schedule.build(seed, SESSIONS, splits=SPLITS, renames=RENAMES)
    assert [e.line() for e in first.events] == [e.line() for e in again.events]
    assert {e.kind for e in first.events} == set(schedule.ORDER)
    # the late listings, one each, come from streams of their own: without them (a window
    # with no split or ticker change), the other events are as they were
    late = [e for e in first.events if e.kind in schedule.LATE_ACTIONS]
    assert sorted(e.kind for e in late) == sorted(schedule.LATE_ACTIONS)
    for e in late:
        assert e.night - e.get("back") >= 3 and e.night <= len(SESSIONS) - 3, e.line()
    split, change = (next(e for e in late if e.kind == k) for k in ("late_split", "ticker_change"))
    assert (split.get("ticker"), split.session) in SPLITS and split.night == SESSIONS.index(split.session) + split.get("back")
    assert (change.get("ticker"), change.session) == ("QMNEW", "2024-06-20")
    bare = schedule.build(seed, SESSIONS)
    assert [e for e in first.events if e.kind not in ("late_split", "ticker_change")] == bare.events
    assert [e.line() for e in schedule.build(seed + 100, SESSIONS).events] != [e.line() for e in bare.events]
    # one machine event a night at most, and never on a night the machine was off
    machine = [e.night for e in first.events if e.kind in schedule.MACHINE]
    assert len(machine) == len(set(machine))
    for e in first.events:
        if e.kind in schedule.MACHINE and e.kind != "clock_forward":
            assert not first.skipped(e.night), e.line()


def test_expected_exit_codes_follow_from_the_events():
    s = schedule.Schedule(1, SESSIONS)
    i = SESSIONS.index("2024-05-13")  # a Monday
    s.events = [schedule.Event(i, "missing_days", "stocks_daily", SESSIONS[i], (("nights", 3),)),
                schedule.Event(i + 5, "sigkill", detail=(("after_s", 3.0),)),
                schedule.Event(i + 6, "concurrent_runs"),
                schedule.Event(i + 7, "bad_then_good", "options_daily", SESSIONS[i + 7]),
                schedule.Event(i + 9, "clock_forward", detail=(("nights", 2),))]
    # Monday's file: due Tuesday 11:00; Tuesday's run (12:30) and Wednesday's see it waiting
    # (1.5 h, 25.5 h overdue); Thursday's run sees it 49.5 h overdue: its job fails loudly
    assert [s.expected(n) for n in (i, i + 1, i + 2, i + 3)] == [[0], [0], [1], [0]]
    assert s.withheld(i + 2) == {("stocks_daily", SESSIONS[i])} and s.withheld(i + 3) == set()
    assert s.expected(i + 5) == [schedule.KILLED]
    assert s.expected(i + 6) == [0, 75]
    assert s.expected(i + 7) == [1]
    assert s.expected(i + 9) == [] and s.expected(i + 10) == [] and s.expected(i + 11) == [0]


def test_the_vendors_files_change_as_described():
    import gzip

    body = _gz("ticker,volume,open,close,high,low,window_start,transactions\nAAA,1000,1,2,3,0.5,1,10\n"
               "BBB,2000,1,2,3,0.5,1,10\n")
    fixed = gzip.decompress(corrected(body, 1)).decode().splitlines()
    assert fixed[2] == "BBB,2100,1,2,3,0.5,1,10" and fixed[1] == "AAA,1000,1,2,3,0.5,1,10"
    assert corrected(body, 1) == corrected(body, 1)  # gzip without a timestamp: the same bytes
    assert gzip.decompress(with_phantom(body)).decode().splitlines()[-1].startswith("ZZPHANTOMQ,1000,")
    assert gzip.decompress(broken(body, "header_only")).decode() == "ticker,volume,open,close,high,low,window_start,transactions\n"
    assert ",-1.5," in gzip.decompress(broken(body, "negative_price")).decode()
    with pytest.raises(EOFError):
        gzip.decompress(broken(body, "truncated_gzip"))


def test_the_oracle_compares_rest_pulls_only_where_both_lakes_hold_them():
    from tests.soak.harness import lake_differences

    soak = {"silver/corporate_actions/event_type=dividend/data.parquet": "a",
            "bronze/dividends/pull_date=2024-05-02/window=2024-04-02_2024-07-31/part.parquet": "p1",
            "bronze/dividends/pull_date=2024-06-01/window=2024-05-02_2024-08-30/part.parquet": "p2",
            "bronze/stocks_daily/year=2024/month=5/day=31/part.parquet": "b"}
    clean = {"silver/corporate_actions/event_type=dividend/data.parquet": "a",
             "bronze/dividends/pull_date=2024-06-01/window=2024-05-02_2024-08-30/part.parquet": "p2",
             "bronze/dividends/pull_date=2024-06-01/window=2022-05-02_2024-06-01/part.parquet": "p3",
             "bronze/stocks_daily/year=2024/month=5/day=31/part.parquet": "b"}
    assert lake_differences(soak, clean) == []
    assert lake_differences({**soak, "silver/corporate_actions/event_type=dividend/data.parquet": "x"}, clean) == [
        "silver/corporate_actions/event_type=dividend/data.parquet"]
    changed = {**clean, "bronze/dividends/pull_date=2024-06-01/window=2024-05-02_2024-08-30/part.parquet": "q"}
    assert lake_differences(soak, changed) == [
        "bronze/dividends/pull_date=2024-06-01/window=2024-05-02_2024-08-30/part.parquet"]
    assert lake_differences(soak, {k: v for k, v in clean.items() if not k.startswith("bronze/stocks_daily")}) == [
        "bronze/stocks_daily/year=2024/month=5/day=31/part.parquet"]
