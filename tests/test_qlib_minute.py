"""The Qlib minute store read by Qlib itself (``freq="1min"``): every stored minute's
``$close / $factor`` and ``$volume * $factor`` are bronze's raw bar; the minute calendar is
XNYS's regular-session minutes (early closes included); across NVDA's 10-for-1 split the
adjusted series has no jump and a minute's ``$factor`` is the daily store's; appends,
late splits and a crash mid-append all converge to the bytes of a full build."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.gold import universes
from quantmini.gold.qlib_minute import FIELDS, Membership, MinuteStore
from quantmini.gold.qlib_store import QlibStore
from quantmini.gold.symbols import qlib_symbol
from quantmini.paths import Lake
from quantmini.sandbox.fixtures import fixtures_dir, real_stock_day_rows
from quantmini.sandbox.market import Market
from quantmini.sessions import sessions_between

from .test_qlib_store import store_files

qlib = pytest.importorskip("qlib")

DAILY = [d.isoformat() for d in sessions_between(dt.date(2024, 5, 1), dt.date(2024, 7, 5))]
MINUTE = ["2024-06-06", "2024-06-07", "2024-06-10", "2024-06-11", "2024-07-02", "2024-07-03", "2024-07-05"]
RULE = universes.Rule(sizes=(40,), lookback=20, min_sessions=5)
EXTRA = ["NVDA", "AAPL"]


def _write(path: str, frame: pd.DataFrame) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _split_file(path, market: Market, upto: str) -> str:
    s = market.splits()
    s = s[s["execution_date"].astype(str) <= upto]
    pq.write_table(pa.table({"ticker": s["ticker"], "event_date": pa.array(s["execution_date"], pa.date32()),
                             "event_id": [f"s{i}" for i in range(len(s))],
                             "split_ratio": s["split_to"] / s["split_from"]}), path)
    return str(path)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("minute")
    market = Market(n_tickers=300, real_rows=real_stock_day_rows(str(fixtures_dir())) if fixtures_dir() else None)
    lk = Lake(str(tmp / "lake"))
    daily = {d: _write(lk.bronze("stocks_daily", d), market.published_day_bars(dt.date.fromisoformat(d))
                       [["ticker", "open", "high", "low", "close", "volume"]]) for d in DAILY}
    minute = {}
    for d in MINUTE:
        m = market.stocks_minute(dt.date.fromisoformat(d))
        m["window_start"] = pd.to_datetime(m["window_start"], utc=True)
        minute[d] = _write(lk.bronze("stocks_minute", d), m.sort_values(["ticker", "window_start"]))
    return {"tmp": tmp, "market": market, "daily": daily, "minute": minute}


def _build(root, lake, minute_days, split_upto="2024-12-31") -> MinuteStore:
    QlibStore(root).update(sorted(lake["daily"].values()), [], _split_file(root.parent / f"{root.name}-splits.parquet",
                                                                          lake["market"], split_upto), None)
    universes.build(root, lake["daily"], RULE)
    store = MinuteStore(root)
    store.update({d: lake["minute"][d] for d in minute_days}, Membership.read(root, "liquid40", EXTRA))
    return store


@pytest.fixture(scope="module")
def full(lake):
    root = lake["tmp"] / "full"
    _build(root, lake, MINUTE)
    qlib.init(provider_uri=str(root), region="us", kernels=1, logging_level="WARNING")
    return root


def test_the_minute_calendar_is_xnys_regular_minutes(full):
    from qlib.data import D

    got = [str(t) for t in D.calendar(freq="1min")]
    xnys = xcals.get_calendar("XNYS")
    expected = []
    for d in MINUTE:
        minutes = xnys.session_minutes(d).tz_convert("America/New_York")
        expected += [str(m.tz_localize(None)) for m in minutes]
    assert got == expected
    assert sum(m.startswith("2024-07-03") for m in got) == 210  # early close at 13:00
    assert len(got) == 6 * 390 + 210


def test_every_minute_bar_reads_back_raw_and_adjusted_by_the_daily_factor(full, lake):
    from qlib.data import D

    members = Membership.read(full, "liquid40", EXTRA)
    symbols = sorted(set().union(*(members.on(d) for d in MINUTE)))
    fields = ["$close / $factor", "$open / $factor", "$volume * $factor", "$factor"]
    got = D.features(symbols, fields, start_time=f"{MINUTE[0]} 09:30:00", end_time=f"{MINUTE[-1]} 15:59:00",
                     freq="1min").dropna(subset=["$close / $factor"])
    store = QlibStore(full)
    cal = store.calendar()
    checked = 0
    for d in MINUTE:
        frame = pd.read_parquet(lake["minute"][d])
        frame["sym"] = [qlib_symbol(t) for t in frame["ticker"]]
        ny = frame["window_start"].dt.tz_convert("America/New_York")
        frame["minute"] = ny.dt.tz_localize(None)
        frame = frame[(ny.dt.time >= dt.time(9, 30)) & (ny.dt.time < (dt.time(13) if d == "2024-07-03" else dt.time(16)))]
        frame = frame[frame["sym"].isin(members.on(d))].set_index(["sym", "minute"]).sort_index()
        mine = got[got.index.get_level_values("datetime").normalize() == pd.Timestamp(d)]
        assert len(mine) == len(frame), d  # every regular-session bar of every member, nothing else
        joined = mine.join(frame.rename_axis(["instrument", "datetime"]), how="inner")
        assert len(joined) == len(frame)
        np.testing.assert_allclose(joined["$close / $factor"], joined["close"], rtol=2e-6)
        np.testing.assert_allclose(joined["$open / $factor"], joined["open"], rtol=2e-6)
        np.testing.assert_allclose(joined["$volume * $factor"], joined["volume"], rtol=2e-6)
        i = cal.index(d)
        for sym, factor in joined["$factor"].groupby(level="instrument").first().items():
            start, daily = store.read_feature(sym, "factor")
            assert factor == daily[i - start], (sym, d)  # the daily store's float32, exactly
        checked += len(joined)
    assert checked > 20000


@pytest.mark.skipif(fixtures_dir() is None, reason="../shared/fixtures/polygon absent: the real NVDA bars of June 2024")
def test_nvda_split_day_has_no_jump_in_the_adjusted_minutes(full):
    from qlib.data import D

    got = D.features(["NVDA"], ["$close", "$close / $factor", "$factor"], start_time="2024-06-07 09:30:00",
                     end_time="2024-06-10 15:59:00", freq="1min").droplevel("instrument").dropna()
    last_before = got.loc[got.index < "2024-06-08"].iloc[-1]
    first_after = got.loc[got.index >= "2024-06-10"].iloc[0]
    raw_move = first_after["$close / $factor"] / last_before["$close / $factor"]
    assert 0.09 < raw_move < 0.11  # the raw price falls tenfold
    assert abs(first_after["$close"] / last_before["$close"] - 1) < 0.05  # the adjusted one does not
    assert last_before["$factor"] == pytest.approx(first_after["$factor"] / 10, rel=1e-6)


def test_appends_a_late_split_and_a_crash_converge_to_the_full_build(full, lake, tmp_path):
    target = store_files(full)
    inc = tmp_path / "inc"
    store = _build(inc, lake, MINUTE[:3], split_upto="2024-06-09")  # NVDA's split not announced yet
    res = store.update(lake["minute"], Membership.read(inc, "liquid40", EXTRA))
    assert res.mode == "append" and res.days_applied == MINUTE[3:]
    # the split arrives late: the daily store rewrites NVDA; the minute store rewrites only it
    QlibStore(inc).update(sorted(lake["daily"].values()), [], _split_file(tmp_path / "s.parquet", lake["market"], "2024-12-31"), None)
    res = store.update(lake["minute"], Membership.read(inc, "liquid40", EXTRA))
    assert res.mode == "append" and res.symbols_rewritten == ["NVDA"] and res.days_applied == []
    assert store_files(inc) == target
    again = store.update(lake["minute"], Membership.read(inc, "liquid40", EXTRA))
    assert again.symbols_rewritten == [] and again.bars_written == 0

    # SIGKILL in the middle of an append: the rerun cuts it back and converges
    crashed = tmp_path / "crashed"
    _build(crashed, lake, MINUTE[:2])
    code = ("import sys, json; from quantmini.gold.qlib_minute import MinuteStore, Membership;"
            "root, days = sys.argv[1], json.loads(sys.argv[2]);"
            "MinuteStore(root).update(days, Membership.read(root, 'liquid40', ['NVDA', 'AAPL']))")
    import json

    proc = subprocess.run([sys.executable, "-c", code, str(crashed), json.dumps(lake["minute"])],
                          env={**os.environ, "QUANTMINI_CRASH_AT": "qlib_minute.mid_update"}, start_new_session=True)
    assert proc.returncode == -9
    assert (crashed / ".quantmini" / "minute" / "journal.json").exists()
    MinuteStore(crashed).update(lake["minute"], Membership.read(crashed, "liquid40", EXTRA))
    assert store_files(crashed) == target


def test_a_store_without_the_universe_file_is_refused_naming_it(full):
    from quantmini.gold.qlib_minute import MinuteStoreError

    with pytest.raises(MinuteStoreError, match="qlib_minute_universe.*liquid77"):
        Membership.read(full, "liquid77")
    with pytest.raises(MinuteStoreError, match="qlib_minute_symbols"):
        Membership.read(full, None, ["../etc"])
    assert set(FIELDS) == {"open", "high", "low", "close", "volume", "factor"}
