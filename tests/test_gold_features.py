"""The gold feature datasets against hand computations on small constructed cases: stocks
daily (returns, ranges, volatility, volume, VWAP; a split and a dividend inside the window;
a new listing; a missing day), stocks minute (sessions on a normal day, an early close and
both sides of a DST change; running VWAP), options daily (implied volatility round trips,
put–call parity, greeks, every iv_status reason)."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini import jobs
from quantmini.bronze import OPTIONS_SCHEMA, STOCKS_SCHEMA
from quantmini.gold import blackscholes as bs
from quantmini.gold import options_daily, stocks_minute
from quantmini.gold.actions import ActionIndex
from quantmini.options import parse_one
from quantmini.paths import Lake
from quantmini.sessions import sessions_back

DAY = dt.date(2024, 6, 28)
SESSIONS = sessions_back(DAY, 25)  # 2024-05-23 .. 2024-06-28 (Memorial Day and Juneteenth skipped)
SPLIT_AT = 18  # AAA splits 2:1 with ex-date SESSIONS[18]: inside the last session's 20-bar window
DIV_AT = 20  # DIV pays 1.00 ex SESSIONS[20]


def utc_ns(day: dt.date, hh: int, mm: int, tz: str = "America/New_York") -> int:
    return int(pd.Timestamp(dt.datetime(day.year, day.month, day.day, hh, mm), tz=tz).value)


def bars_for(day_index: int) -> list[dict]:
    """The constructed raw bars of one session."""
    day = SESSIONS[day_index]
    rows = []
    c = 100.0 + day_index + (3.0 if day_index % 2 else 0.0)  # AAA: trend with a zig-zag
    v = 1000.0 + 10 * day_index
    if day_index >= SPLIT_AT:  # after the 2:1 split the raw price halves and volume doubles
        c, v = c / 2, v * 2
    rows.append(dict(ticker="AAA", close=c, open=c * 0.99, high=c * 1.02, low=c * 0.97, volume=v))
    if day_index >= len(SESSIONS) - 3:  # NEW: listed three sessions ago
        rows.append(dict(ticker="NEW", close=20.0 + day_index, open=20.0, high=21.0 + day_index, low=19.0, volume=500.0))
    if day_index != 22:  # GAP: no bar on SESSIONS[22]
        rows.append(dict(ticker="GAP", close=30.0 + (day_index % 3), open=30.0, high=33.0, low=29.0, volume=300.0 + day_index))
    div_close = 50.0 if day_index < DIV_AT else 49.0
    rows.append(dict(ticker="DIV", close=div_close, open=div_close, high=div_close + 0.5, low=div_close - 0.5, volume=700.0))
    for r in rows:
        r.update(date=day, transactions=10, window_start=pd.Timestamp(day, tz="America/New_York").tz_convert("UTC"))
    return rows


def write_bronze(lake: Lake, index: int) -> str:
    path = lake.bronze("stocks_daily", SESSIONS[index].isoformat())
    df = pd.DataFrame(bars_for(index)).sort_values("ticker")
    table = pa.Table.from_pandas(df[STOCKS_SCHEMA.names], schema=STOCKS_SCHEMA, preserve_index=False)
    pa_path = __import__("pathlib").Path(path)
    pa_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    root = tmp_path_factory.mktemp("gold")
    lake = Lake(str(root))
    for i in range(len(SESSIONS)):
        write_bronze(lake, i)
    silver = root / "silver"
    silver.mkdir()
    pq.write_table(pa.table({"ticker": ["AAA"], "event_date": pa.array([SESSIONS[SPLIT_AT]], pa.date32()),
                             "event_id": ["S1"], "split_ratio": [2.0]}), silver / "split.parquet")
    pq.write_table(pa.table({"ticker": ["DIV"], "event_date": pa.array([SESSIONS[DIV_AT]], pa.date32()),
                             "event_id": ["D1"], "div_cash_amount": [1.0], "div_type": ["CD"]}), silver / "dividend.parquet")
    return lake


def hand_adjusted() -> pd.DataFrame:
    """All bars, prices adjusted as of DAY by hand: AAA's pre-split bars halved (volume
    doubled), DIV's pre-ex bars scaled by 1 - 1.00/50.00."""
    df = pd.DataFrame([r for i in range(len(SESSIONS)) for r in bars_for(i)])
    pre_split = (df.ticker == "AAA") & (df.date < SESSIONS[SPLIT_AT])
    for col in ("open", "high", "low", "close"):
        df.loc[pre_split, col] /= 2
    df.loc[pre_split, "volume"] *= 2
    pre_div = (df.ticker == "DIV") & (df.date < SESSIONS[DIV_AT])
    for col in ("open", "high", "low", "close"):
        df.loc[pre_div, col] *= 1 - 1.0 / 50.0
    return df.sort_values(["ticker", "date"]).reset_index(drop=True)


def build_day(lake: Lake, index: int, minute: list[str] | None = None, tmp=None, lookback: int = 30) -> pd.DataFrame:
    day = SESSIONS[index]
    window = [d for d in sessions_back(day, lookback) if d in SESSIONS]
    out = lake.gold("stocks_daily", day.isoformat())
    jobs.gold_stocks_daily(lake.root, day.isoformat(), "total", [lake.bronze("stocks_daily", d.isoformat()) for d in window],
                           minute or [], [f"{lake.root}/silver/split.parquet"], [f"{lake.root}/silver/dividend.parquet"],
                           out, f"{lake.root}/log.txt")
    return pq.read_table(out).to_pandas().set_index("ticker")


def test_stocks_daily_matches_hand_computation(lake):
    got = build_day(lake, len(SESSIONS) - 1)
    adj = hand_adjusted()
    for ticker in ("AAA", "GAP", "DIV"):
        h = adj[adj.ticker == ticker].reset_index(drop=True)
        c, o = h.close, h.open
        last = len(h) - 1
        row = got.loc[ticker]
        raw_last = next(r for r in bars_for(len(SESSIONS) - 1) if r["ticker"] == ticker)
        assert (row.close, row.volume) == (raw_last["close"], raw_last["volume"]), ticker  # the session's bar is raw
        for n in (1, 5, 20):
            assert row[f"ret_{n}d"] == pytest.approx(c[last] / c[last - n] - 1, rel=1e-12), (ticker, n)
            assert row[f"log_ret_{n}d"] == pytest.approx(math.log(c[last] / c[last - n]), rel=1e-12, abs=1e-15), (ticker, n)
        assert row.gap == pytest.approx(o[last] / c[last - 1] - 1, abs=1e-12)
        assert row.intraday_ret == pytest.approx(c[last] / o[last] - 1, abs=1e-12)
        prev_c = c.shift(1)
        tr = np.maximum(h.high, prev_c.fillna(h.high)) - np.minimum(h.low, prev_c.fillna(h.low))
        assert row.true_range == pytest.approx(tr[last])
        assert row.atr_14 == pytest.approx(tr[last - 13 : last + 1].mean(), rel=1e-12)
        logret = np.log(c / prev_c)
        assert row.realized_vol_20 == pytest.approx(logret[last - 19 : last + 1].std(ddof=1) * math.sqrt(252), rel=1e-10)
        assert row.avg_volume_20 == pytest.approx(h.volume[last - 19 : last + 1].mean(), rel=1e-12)
        assert row.rel_volume_20 == pytest.approx(h.volume[last] / h.volume[last - 20 : last].mean(), rel=1e-12)
        raw = pd.DataFrame([r for i in range(len(SESSIONS)) for r in bars_for(i)])
        raw = raw[raw.ticker == ticker].reset_index(drop=True)
        assert row.dollar_volume == pytest.approx(raw.close.iloc[-1] * raw.volume.iloc[-1])
        assert row.avg_dollar_volume_20 == pytest.approx((raw.close * raw.volume)[-20:].mean(), rel=1e-12)
        assert row.history_bars == len(h)
    # the split and the dividend leave no jump in the adjusted series
    aaa = adj[adj.ticker == "AAA"].reset_index(drop=True)
    assert abs(aaa.close[SPLIT_AT] / aaa.close[SPLIT_AT - 1] - 1) < 0.05
    assert got.loc["DIV", "ret_5d"] == pytest.approx(0.0, abs=1e-12)


def test_new_listing_has_values_only_where_it_has_history(lake):
    got = build_day(lake, len(SESSIONS) - 1)
    row = got.loc["NEW"]
    assert row.history_bars == 3
    assert row.ret_1d == pytest.approx((20.0 + 24) / (20.0 + 23) - 1)
    assert not pd.isna(row.true_range) and row.true_range == pytest.approx(max(21.0 + 24, 43.0) - min(19.0, 43.0))
    for col in ("ret_5d", "ret_20d", "atr_14", "realized_vol_20", "avg_volume_20", "rel_volume_20", "vwap"):
        assert pd.isna(row[col]), col


def test_a_missing_session_is_skipped_in_bar_counts(lake):
    got = build_day(lake, len(SESSIONS) - 1)
    raw = pd.DataFrame([r for i in range(len(SESSIONS)) for r in bars_for(i)])
    gap = raw[raw.ticker == "GAP"].reset_index(drop=True)
    assert len(gap) == len(SESSIONS) - 1 == got.loc["GAP", "history_bars"]
    assert got.loc["GAP", "ret_5d"] == pytest.approx(gap.close.iloc[-1] / gap.close.iloc[-6] - 1)


def test_window_values_need_the_lookback_not_the_run(lake):
    """A session's 20-bar values come from the earlier bronze days, read by the job: a run
    that builds only this session gets the same file as a run that built all of them."""
    a = build_day(lake, len(SESSIONS) - 1)
    b = build_day(lake, len(SESSIONS) - 1, lookback=21)
    assert not a.realized_vol_20.isna().all()
    pd.testing.assert_series_equal(a.loc[["AAA", "DIV"], "realized_vol_20"], b.loc[["AAA", "DIV"], "realized_vol_20"])


def test_split_before_the_window_changes_nothing_and_sidecar_counts(lake):
    """As of a session before the ex-date, the split is not applied (its raw prices are
    already comparable); the sidecar counts applied actions and nulls."""
    early = build_day(lake, SPLIT_AT - 1)
    raw = pd.DataFrame([r for i in range(SPLIT_AT) for r in bars_for(i)])
    aaa = raw[raw.ticker == "AAA"].reset_index(drop=True)
    assert early.loc["AAA", "ret_5d"] == pytest.approx(aaa.close.iloc[-1] / aaa.close.iloc[-6] - 1)
    build_day(lake, len(SESSIONS) - 1)
    sidecar = json.loads(open(lake.sidecar("gold", "stocks_daily", SESSIONS[-1].isoformat())).read())
    stats = sidecar["statistics"]
    assert sidecar["status"] == "success" and stats["records"] == 4 and stats["applied_actions"] == 2
    assert stats["nulls"]["vwap"] == 4 and stats["nulls"]["ret_20d"] == 1  # NEW


def minute_table(day: dt.date, rows: list[tuple[str, int, float, float, float, float]]) -> pa.Table:
    """(ticker, window_start ns, high, low, close, volume) rows -> a bronze minute table."""
    df = pd.DataFrame(rows, columns=["ticker", "ws", "high", "low", "close", "volume"])
    df["open"] = df.close
    df["date"] = day
    df["transactions"] = 1
    df["window_start"] = pd.to_datetime(df.ws, utc=True)
    df = df.sort_values(["ticker", "ws"])
    return pa.Table.from_pandas(df[STOCKS_SCHEMA.names], schema=STOCKS_SCHEMA, preserve_index=False)


def test_session_vwap_in_stocks_daily_is_regular_minutes_only(lake, tmp_path):
    day = SESSIONS[-1]
    rows = [
        ("AAA", utc_ns(day, 8, 0), 70.0, 60.0, 65.0, 5000.0),  # pre: left out
        ("AAA", utc_ns(day, 9, 30), 62.0, 61.0, 61.5, 100.0),
        ("AAA", utc_ns(day, 12, 0), 63.0, 62.0, 62.5, 300.0),
        ("AAA", utc_ns(day, 15, 59), 64.0, 62.0, 63.0, 200.0),
        ("AAA", utc_ns(day, 16, 0), 90.0, 80.0, 85.0, 9000.0),  # post: left out
        ("GAP", utc_ns(day, 10, 0), 31.0, 30.0, 30.5, 10.0),
    ]
    path = tmp_path / "minute.parquet"
    pq.write_table(minute_table(day, rows), path)
    got = build_day(lake, len(SESSIONS) - 1, minute=[str(path)])
    reg = [r for r in rows if r[0] == "AAA" and utc_ns(day, 9, 30) <= r[1] < utc_ns(day, 16, 0)]
    pv = sum((h + lo + c) / 3 * v for _, _, h, lo, c, v in reg)
    assert got.loc["AAA", "vwap"] == pytest.approx(pv / sum(r[5] for r in reg), rel=1e-14)
    assert got.loc["GAP", "vwap"] == pytest.approx((31 + 30 + 30.5) / 3)
    assert pd.isna(got.loc["DIV", "vwap"])  # held minute day, but no minutes of DIV


def test_session_vwap_of_some_tickers_is_the_same_bits_as_of_all(tmp_path):
    """The Qlib store's rewrite of a few symbols reads only their row groups; each VWAP must
    equal the whole-file one bit for bit (a rewritten symbol must equal a full rebuild)."""
    from quantmini.gold.vwap import session_vwap

    day = SESSIONS[-1]
    rng = np.random.default_rng(7)
    rows = []
    for i in range(600):  # 600 tickers x 40 minutes, written in row groups of 1,000 rows
        for m in range(40):
            lo = 10 + rng.random() * 90
            rows.append((f"T{i:03d}", utc_ns(day, 9, 30) + m * 60_000_000_000, lo * 1.01, lo, lo * 1.005,
                         float(rng.integers(1, 10_000))))
    path = tmp_path / "minute.parquet"
    pq.write_table(minute_table(day, rows), path, row_group_size=1_000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 24
    whole = session_vwap(path, day)
    some = ["T007", "T250", "T251", "T599", "NOPE"]
    got = session_vwap(path, day, some)
    assert got.column("ticker").to_pylist() == ["T007", "T250", "T251", "T599"]
    want = whole.filter(pa.compute.is_in(whole.column("ticker"), pa.array(some)))
    assert got.column("vwap").to_numpy().tobytes() == want.column("vwap").to_numpy().tobytes()


@pytest.mark.parametrize(
    "day, pre, open_, close, post, label",
    [
        (dt.date(2024, 6, 28), "08:00", "13:30", "20:00", "00:00", "normal day, EDT"),
        (dt.date(2024, 11, 29), "09:00", "14:30", "18:00", "01:00", "day after Thanksgiving: closes 13:00 EST"),
        (dt.date(2024, 3, 8), "09:00", "14:30", "21:00", "01:00", "Friday before the DST change: EST"),
        (dt.date(2024, 3, 11), "08:00", "13:30", "20:00", "00:00", "Monday after the DST change: EDT"),
    ],
)
def test_session_labels(day, pre, open_, close, post, label):
    def at(hhmm: str, next_day: bool = False) -> int:
        d = day + dt.timedelta(days=1 if next_day else 0)
        return int(pd.Timestamp(f"{d.isoformat()} {hhmm}", tz="UTC").value)

    minute = 60_000_000_000
    t = np.array([at(pre) - minute, at(pre), at(open_) - minute, at(open_), at(close) - minute, at(close),
                  at(post, next_day=post == "00:00" or post == "01:00") - minute, at(post, next_day=True)])
    assert stocks_minute.session_codes(t, day).tolist() == [-1, 0, 0, 1, 1, 2, 2, -1], label


def test_stocks_minute_running_values():
    day = DAY
    rows = [
        ("AAA", utc_ns(day, 9, 29), 10.5, 9.5, 10.0, 100.0),   # pre
        ("AAA", utc_ns(day, 9, 30), 11.0, 10.0, 10.5, 200.0),  # regular starts: reset
        ("AAA", utc_ns(day, 9, 31), 12.0, 11.0, 11.5, 0.0),
        ("AAA", utc_ns(day, 9, 32), 12.0, 11.0, 11.0, 300.0),
        ("BBB", utc_ns(day, 9, 31), 5.0, 4.0, 4.5, 0.0),       # new ticker, no volume yet
        ("BBB", utc_ns(day, 9, 32), 6.0, 5.0, 5.5, 50.0),
        ("BBB", utc_ns(day, 20, 0), 6.0, 5.0, 5.5, 50.0),      # outside 04:00-20:00
    ]
    table, stats = stocks_minute.enrich(minute_table(day, rows), day)
    df = table.to_pandas()
    assert table.column("session").to_pylist() == ["pre", "regular", "regular", "regular", "regular", "regular", None]
    assert df.cum_volume.tolist()[:4] == [100.0, 200.0, 200.0, 500.0]
    tp = [(h + lo + c) / 3 for _, _, h, lo, c, _ in rows]
    assert df.vwap[0] == pytest.approx(tp[0])
    assert df.vwap[3] == pytest.approx((tp[1] * 200 + tp[3] * 300) / 500)
    assert math.isnan(df.vwap[4]) and df.vwap[5] == pytest.approx(tp[5])
    assert df.vwap_distance_bps[3] == pytest.approx((11.0 / df.vwap[3] - 1) * 1e4)
    assert math.isnan(df.minute_return[0]) and df.minute_return[1] == pytest.approx(10.5 / 10.0 - 1)
    assert math.isnan(df.minute_return[4]) and df.minute_return[5] == pytest.approx(5.5 / 4.5 - 1)
    assert stats["outside_session_rows"] == 1 and stats["session_rows"] == {"pre": 1, "regular": 5, "post": 0}
    # chunked (as the job writes it) equals whole
    st: dict = {}
    chunked = pa.concat_tables(stocks_minute.enrich_chunks(minute_table(day, rows), day, st))
    assert chunked.equals(table) and st["session_rows"] == stats["session_rows"]


def test_chunks_never_split_a_ticker():
    day = DAY
    rows = [(t, utc_ns(day, 10, m), 2.0, 1.0, 1.5, 1.0) for t in ("A", "B", "C") for m in range(7)]
    bounds = stocks_minute.chunk_bounds(minute_table(day, rows), rows=5)
    assert bounds == [(0, 7), (7, 14), (14, 21)]


# -- options -------------------------------------------------------------------------------

def one(x, dtype=np.float64):
    return np.array([x], dtype=dtype)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 2.0])
@pytest.mark.parametrize("call", [True, False])
def test_implied_vol_round_trips(sigma, call):
    s, k, t, r, q = one(100.0), one(105.0), one(0.5), one(0.04), one(0.01)
    price = bs.price(s, k, t, r, q, one(sigma), one(call, bool))
    iv, status = bs.implied_vol(price, s, k, t, r, q, one(call, bool))
    assert status[0] == 0 and abs(iv[0] - sigma) < 1e-6


def test_implied_vol_round_trips_over_a_grid():
    rng = np.random.default_rng(7)
    n = 20_000
    s = np.full(n, 100.0)
    k = rng.uniform(60, 150, n)
    t = rng.integers(1, 800, n) / 365
    sigma = rng.uniform(0.05, 2.0, n)
    call = rng.random(n) < 0.5
    r, q = np.full(n, 0.04), np.full(n, 0.015)
    price = bs.price(s, k, t, r, q, sigma, call)
    vega = bs.greeks(s, k, t, r, q, sigma, call).vega
    keep = vega > 1e-3  # where the price still tells volatilities apart
    iv, status = bs.implied_vol(price[keep], s[keep], k[keep], t[keep], r[keep], q[keep], call[keep])
    assert (status == 0).all()
    assert np.max(np.abs(iv - sigma[keep])) < 1e-6


def test_put_call_parity_gives_one_volatility():
    s, k, t, r, q = one(100.0), one(90.0), one(0.75), one(0.05), one(0.02)
    c = bs.price(s, k, t, r, q, one(0.3), one(True, bool))
    p = c - s * np.exp(-q * t) + k * np.exp(-r * t)  # parity
    iv_c, _ = bs.implied_vol(c, s, k, t, r, q, one(True, bool))
    iv_p, _ = bs.implied_vol(p, s, k, t, r, q, one(False, bool))
    assert iv_c[0] == pytest.approx(0.3, abs=1e-9) and iv_p[0] == pytest.approx(iv_c[0], abs=1e-9)


def test_greeks_are_the_price_derivatives():
    s, k, t, r, q, sig = one(100.0), one(95.0), one(0.4), one(0.03), one(0.01), one(0.35)
    for call in (True, False):
        cl = one(call, bool)
        g = bs.greeks(s, k, t, r, q, sig, cl)
        h = 1e-4
        d = (bs.price(s + h, k, t, r, q, sig, cl) - bs.price(s - h, k, t, r, q, sig, cl)) / (2 * h)
        gm = (bs.price(s + h, k, t, r, q, sig, cl) - 2 * bs.price(s, k, t, r, q, sig, cl) + bs.price(s - h, k, t, r, q, sig, cl)) / h**2
        v = (bs.price(s, k, t, r, q, sig + h, cl) - bs.price(s, k, t, r, q, sig - h, cl)) / (2 * h)
        th = (bs.price(s, k, t - 1 / 365, r, q, sig, cl) - bs.price(s, k, t, r, q, sig, cl))  # one calendar day later
        assert g.delta[0] == pytest.approx(d[0], rel=1e-6)
        assert g.gamma[0] == pytest.approx(gm[0], rel=1e-3)
        assert g.vega[0] == pytest.approx(v[0], rel=1e-6)
        assert g.theta[0] == pytest.approx(th[0], rel=2e-2)


def options_table(day: dt.date, contracts: list[tuple[str, float]]) -> pa.Table:
    rows = []
    for ticker, close in contracts:
        c = parse_one(ticker)
        rows.append(dict(ticker=ticker, underlying=c.underlying if c else None, expiration_date=c.expiration_date if c else None,
                         contract_type=c.contract_type if c else None, strike=c.strike if c else None, date=day,
                         open=close, high=close, low=close, close=close, volume=1.0, transactions=1,
                         window_start=pd.Timestamp(day, tz="America/New_York").tz_convert("UTC")))
    return pa.Table.from_pandas(pd.DataFrame(rows), schema=OPTIONS_SCHEMA, preserve_index=False)


def test_every_iv_status_reason():
    day = DAY
    s = 100.0
    r = 0.04
    ok_price = float(bs.price(one(s), one(100.0), one(56 / 365), one(r), one(0.0), one(0.3), one(True, bool))[0])
    contracts = [
        ("O:AAA240823C00100000", ok_price),  # 56 days, priced at 30 %
        ("O:AAA240823C00080000", 19.0),      # below intrinsic (S - K e^-rt ~ 20.5)
        ("O:AAA240823C00080000x", 5.0),      # unparsed ticker
        ("O:AAA240823P00100000", 0.0),       # no close
        ("O:ZZZ240823C00100000", 5.0),       # underlying not traded
        ("O:AAA240621C00100000", 5.0),       # expired a week ago
        ("O:AAA240628C00100000", 5.0),       # expires today
        ("O:AAA240823C00100000", 120.0),     # above the bound S
    ]
    table, stats = options_daily.enrich(options_table(day, contracts), {"AAA": s}, day, {}, r)
    df = table.to_pandas()
    got = df.iv_status.astype(str).tolist()
    assert got == ["ok", "below_intrinsic", "unparsed_contract", "no_close", "no_underlying", "expired", "zero_time",
                       "above_bound"]
    assert df.iv[0] == pytest.approx(0.3, abs=1e-8)
    assert df.iv[1:8].isna().all() and df.delta[1:8].isna().all()
    assert df.days_to_expiry[0] == 56 and df.trading_days_to_expiry[0] == 39  # XNYS sessions 07-01 .. 08-23 (07-04 closed)
    assert df.moneyness[0] == pytest.approx(1.0) and df.log_moneyness[0] == pytest.approx(0.0, abs=1e-15)
    assert stats["iv_status"]["ok"] == 1 and sum(stats["iv_status"].values()) == len(contracts)


def test_out_of_range_and_no_convergence(monkeypatch):
    s, k, t, r, q = one(100.0), one(100.0), one(7 / 365), one(0.04), one(0.0)
    high = bs.price(s, k, t, r, q, one(15.0), one(True, bool))  # needs sigma = 15 > SIGMA_MAX
    _, status = bs.implied_vol(high, s, k, t, r, q, one(True, bool))
    assert bs.STATUSES[status[0]] == bs.OUT_OF_RANGE
    monkeypatch.setattr(bs, "MAX_ITERATIONS", 1)
    normal = bs.price(s, k, t, r, q, one(0.3), one(True, bool))
    iv, status = bs.implied_vol(normal, s, k, t, r, q, one(True, bool))
    assert bs.STATUSES[status[0]] == bs.NO_CONVERGENCE and np.isnan(iv[0])


def test_adjusted_and_class_roots_map_to_their_stock():
    m = options_daily.underlying_map(["TSLA1", "TSLA", "BRKB", "NVDA1", "XYZ2"], {"TSLA", "BRK.B", "NVDA"})
    assert m == {"TSLA1": ("TSLA", True), "TSLA": ("TSLA", False), "BRKB": ("BRK.B", False), "NVDA1": ("NVDA", True),
                 "XYZ2": ("XYZ", True)}


def test_dividend_yield_from_trailing_regular_dividends(tmp_path):
    f = tmp_path / "dividend.parquet"
    pq.write_table(pa.table({
        "ticker": ["AAA", "AAA", "AAA", "AAA", "BBB"],
        "event_date": pa.array([dt.date(2023, 6, 28), dt.date(2023, 9, 1), dt.date(2024, 6, 1), dt.date(2024, 7, 1),
                                dt.date(2024, 3, 1)], pa.date32()),
        "div_cash_amount": [9.0, 0.5, 0.5, 7.0, 3.0],
        "div_type": ["CD", "CD", "CD", "CD", "SC"],
    }), f)
    assert options_daily.trailing_dividends(f, DAY) == {"AAA": 1.0}  # 2023-06-28 is 366 days back; 07-01 is ahead; SC is one-off
    price = float(bs.price(one(100.0), one(100.0), one(56 / 365), one(0.04), one(math.log1p(0.01)), one(0.3), one(True, bool))[0])
    table, _ = options_daily.enrich(options_table(DAY, [("O:AAA240823C00100000", price)]), {"AAA": 100.0}, DAY,
                                    {"AAA": 1.0}, 0.04)
    row = table.to_pylist()[0]
    assert row["dividend_yield"] == pytest.approx(math.log1p(0.01)) and row["iv"] == pytest.approx(0.3, abs=1e-8)


def test_action_fingerprint_covers_exactly_its_window(tmp_path):
    split = tmp_path / "split.parquet"
    rows = {"ticker": ["AAA"], "event_date": pa.array([dt.date(2024, 6, 12)], pa.date32()), "event_id": ["x"],
            "split_ratio": [2.0]}
    pq.write_table(pa.table(rows), split)
    with_split = ActionIndex.build(split, None)
    empty = ActionIndex.build(None, None)
    assert with_split.fingerprint(dt.date(2024, 6, 11), dt.date(2024, 6, 12)) != empty.fingerprint(dt.date(2024, 6, 11), dt.date(2024, 6, 12))
    assert with_split.fingerprint(dt.date(2024, 6, 12), dt.date(2024, 7, 1)) == "none"  # ex-date is the window's first day
    assert with_split.fingerprint(dt.date(2024, 5, 1), dt.date(2024, 6, 11)) == "none"  # not yet ex


@pytest.mark.heavy
def test_options_gold_is_byte_identical_run_to_run(tmp_path):
    """Two runs of a gold options_daily job over the same bronze give the same bytes. They gave
    equal tables in different bytes (the underlying_ticker pages), so a crash-then-rerun could
    not be checked by sha256: each chunk carried its own dictionary of underlying tickers and
    the Parquet writer fell back to plain pages in an order that varied from run to run. A
    sandbox day large enough for several chunks, converted to bronze as the workflow does."""
    import hashlib
    import os
    import subprocess
    import sys

    from quantmini import bronze
    from quantmini.sandbox.market import Market

    market = Market(6000, option_underlyings=900)
    landing = tmp_path / "options.csv.gz"
    landing.write_bytes(market.options_daily_gz(DAY))
    options = tmp_path / "options.parquet"
    bronze.convert(landing, options, DAY, bronze.SPECS["options_daily"])
    stocks = tmp_path / "stocks.parquet"
    (tmp_path / "stocks.csv.gz").write_bytes(market.stocks_daily_gz(DAY))
    bronze.convert_stocks_daily(tmp_path / "stocks.csv.gz", stocks, DAY)
    assert pq.read_metadata(options).num_rows > 2 * options_daily.CHUNK_ROWS
    script = ("import sys\nfrom quantmini.jobs import gold_options_daily\n"
              "gold_options_daily(sys.argv[1], '%s', 0.04, sys.argv[2], [sys.argv[3]], [], sys.argv[4], sys.argv[5])\n" % DAY)
    digests = []
    for run, seed in enumerate(("1", "2", "3")):
        out = tmp_path / f"run{run}" / "part.parquet"
        subprocess.run([sys.executable, "-c", script, str(tmp_path / "lake"), str(options), str(stocks), str(out),
                        str(tmp_path / f"run{run}.log")], check=True, env=dict(os.environ, PYTHONHASHSEED=seed))
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(set(digests)) == 1, digests
    meta = pq.ParquetFile(out).metadata
    col = [i for i in range(meta.num_columns) if meta.row_group(0).column(i).path_in_schema == "underlying_ticker"][0]
    assert all("RLE_DICTIONARY" in meta.row_group(g).column(col).encodings for g in range(meta.num_row_groups))
    got = pq.read_table(out, columns=["underlying", "underlying_ticker"])
    roots = sorted({u for u in got.column("underlying").to_pylist() if u is not None})
    stock_names = set(pq.read_table(stocks, columns=["ticker"]).column("ticker").to_pylist())
    mapping = options_daily.underlying_map(roots, stock_names)
    assert got.column("underlying_ticker").cast(pa.string()).to_pylist() == [
        mapping[u][0] if u is not None else None for u in got.column("underlying").to_pylist()]
