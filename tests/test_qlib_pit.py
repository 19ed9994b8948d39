"""Point-in-time fundamentals read by Qlib itself: ``P($$<field>_q)`` / ``P($$<field>_a)``
equal, on every day, an independent as-of lookup over ``silver/fundamentals_pit`` (the
latest period known that day, as its latest version known that day); an amendment appears
from its own known date only; a rewrite with nothing new replaces no file."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quantmini.gold import qlib_pit
from quantmini.gold.symbols import qlib_symbol
from quantmini.paths import Lake
from quantmini.sessions import sessions_ending
from quantmini.silver import point_in_time as pit
from quantmini.silver import pulls

from .test_silver import filing, put

qlib = pytest.importorskip("qlib")

TICKERS = ["ACME", "BETA", "BRK.B", "NA", "ZED", "OMEGA"]
FIRST, LAST = dt.date(2021, 1, 4), dt.date(2024, 6, 28)
CAL = [d for d in sessions_ending(LAST, 1000) if d >= FIRST]


def _history(lake: Lake, seed: int = 7) -> dict[str, pl.DataFrame]:
    """Six tickers' filings 2020-2024 with random lags, amendments (some restating only one
    field), fields a filing does not state, filings without a filing date and one fiscal year
    ending in January."""
    rng = random.Random(seed)
    rows = []
    for ticker in TICKERS:
        shift = 1 if ticker == "OMEGA" else 0  # fiscal quarters ending Jan/Apr/Jul/Oct
        for year in range(2020, 2025):
            for q in range(1, 5):
                month = 3 * q + shift
                end = (dt.date(year + month // 13, (month - 1) % 12 + 1, 1) + dt.timedelta(days=40)).replace(day=1) \
                    - dt.timedelta(days=1)
                for timeframe in ("quarterly", "annual") if q == 4 else ("quarterly",):
                    filed = end + dt.timedelta(days=rng.randint(20, 70))
                    if filed > LAST:
                        continue
                    scale = 4 if timeframe == "annual" else 1
                    values = {"revenue": round(rng.uniform(50, 150) * scale, 2),
                              "diluted_earnings_per_share": round(rng.uniform(-1, 3), 2),
                              "consolidated_net_income_loss": round(rng.uniform(-5, 30) * scale, 2),
                              "total_equity": round(rng.uniform(100, 300), 2)}
                    if rng.random() < 0.15:
                        del values["revenue"]  # a filing that does not state revenue
                    undated = rng.random() < 0.1
                    fp = "FY" if timeframe == "annual" else f"Q{q}"
                    new = filing(ticker, end.isoformat(), filed.isoformat(), year, fp, values, timeframe)
                    if undated:
                        new = [dict(r, filing_date=None) for r in new]
                    rows += new
                    for _ in range(rng.choice([0, 0, 0, 1, 2])):  # amendments, each restating some fields
                        filed = filed + dt.timedelta(days=rng.randint(1, 90))
                        if filed > LAST:
                            break
                        restated = {k: round(v * rng.uniform(0.8, 1.2), 2) for k, v in values.items() if rng.random() < 0.7}
                        if restated:
                            rows += filing(ticker, end.isoformat(), filed.isoformat(), year, fp, restated, timeframe)
    path = put(lake, "fundamentals", "2024-06-30", "all_2020-01-01_2024-06-30", rows)
    loaded = pulls.load([path]).rows
    return {tf: pl.from_arrow(pit.versions(loaded, tf)) for tf in ("quarterly", "annual")}


def _store(root, tables) -> qlib_pit.PitResult:
    (root / "calendars").mkdir(parents=True, exist_ok=True)
    (root / "calendars" / "day.txt").write_text("".join(f"{d}\n" for d in CAL))
    (root / "instruments").mkdir(exist_ok=True)
    (root / "instruments" / "all.txt").write_text(
        "".join(f"{qlib_symbol(t)}\t{CAL[0]}\t{CAL[-1]}\n" for t in TICKERS))
    return qlib_pit.write(root, tables)


def _expected(table: pl.DataFrame, ticker: str, column: str, day: dt.date, timeframe: str) -> float:
    """Independent as-of: of the versions known on ``day`` that state ``column``, the latest
    calendar period (pandas' quarter of the period end), then its latest known version."""
    known = [r for r in table.filter(pl.col("ticker") == ticker).iter_rows(named=True)
             if r["known_date"] <= day and r[column] is not None]
    if not known:
        return np.nan
    def period(r):
        p = pd.Period(r["period_end"], freq="Q" if timeframe == "quarterly" else "Y")
        return (p.year, p.quarter if timeframe == "quarterly" else 0)
    latest = max(period(r) for r in known)
    best = max((r for r in known if period(r) == latest), key=lambda r: (r["known_date"], r["period_end"]))
    return best[column]


@pytest.fixture(scope="module")
def pit_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pit")
    tables = _history(Lake(str(tmp / "lake")))
    root = tmp / "qlib"
    result = _store(root, tables)
    qlib.init(provider_uri=str(root), region="us", kernels=1, logging_level="WARNING")
    return root, tables, result


@pytest.mark.parametrize("field, column, timeframe", [
    ("revenue_q", "revenue", "quarterly"),
    ("eps_a", "diluted_earnings_per_share", "annual"),
    ("roe_q", "return_on_equity", "quarterly"),
])
def test_p_equals_an_independent_as_of_lookup_on_every_day(pit_store, field, column, timeframe):
    from qlib.data import D

    _, tables, _ = pit_store
    table = tables[timeframe]
    got = D.features([qlib_symbol(t) for t in TICKERS], [f"P($${field})"], start_time=str(CAL[0]),
                     end_time=str(CAL[-1]))
    assert len(got) == len(TICKERS) * len(CAL)
    series = got[f"P($${field})"]
    compared = known = 0
    for ticker in TICKERS:
        values = series.xs(qlib_symbol(ticker), level="instrument")
        for day in CAL:
            expected = _expected(table, ticker, column, day, timeframe)
            value = values.loc[pd.Timestamp(day)]
            if np.isnan(expected):
                assert np.isnan(value), (ticker, day)
            else:
                assert value == np.float32(expected), (ticker, day, value, expected)
                known += 1
            compared += 1
    assert compared == len(TICKERS) * len(CAL) and known > compared // 2


def test_200_random_pairs_and_amendments_from_their_own_known_date(pit_store):
    from qlib.data import D

    _, tables, _ = pit_store
    table = tables["quarterly"]
    rng = random.Random(11)
    for _ in range(200):
        ticker, day = rng.choice(TICKERS), rng.choice(CAL)
        got = D.features([qlib_symbol(ticker)], ["P($$revenue_q)", "P($$net_income_q)"], start_time=str(day), end_time=str(day))
        for field, column in (("revenue_q", "revenue"), ("net_income_q", "consolidated_net_income_loss")):
            expected = _expected(table, ticker, column, day, "quarterly")
            value = got[f"P($${field})"].iloc[0]
            assert (np.isnan(value) and np.isnan(expected)) or value == np.float32(expected), (ticker, day, field)
    # amendments: the day before its known date the original shows, from it the amendment
    versions = table.sort(["ticker", "period_end", "known_date"])
    amended = versions.filter(pl.col("revenue").is_not_null()).filter(
        pl.col("period_end").is_duplicated().over("ticker"))
    checked = 0
    for ticker, group in amended.group_by("ticker"):
        for (end,), chain in group.group_by(["period_end"]):
            chain = chain.sort("known_date")
            for before, after in zip(chain.iter_rows(named=True), list(chain.iter_rows(named=True))[1:]):
                day = after["known_date"]
                if day not in CAL or _expected(table, ticker[0], "revenue", day, "quarterly") != after["revenue"]:
                    continue  # a later period already known, or not a session
                prev = CAL[CAL.index(day) - 1]
                got = D.features([qlib_symbol(ticker[0])], ["P($$revenue_q)"], start_time=str(prev), end_time=str(day))
                values = got["P($$revenue_q)"].to_numpy()
                assert values[-1] == np.float32(after["revenue"])
                if prev >= before["known_date"] and _expected(table, ticker[0], "revenue", prev, "quarterly") == before["revenue"]:
                    assert values[0] == np.float32(before["revenue"])
                    checked += 1
    assert checked >= 5


def test_layout_and_a_rewrite_with_nothing_new(pit_store, tmp_path):
    root, tables, result = pit_store
    assert result.symbols == len(TICKERS) and result.files_written == 2 * result.fields
    na_dir = root / "financial" / "_na"
    assert (na_dir / "revenue_q.data").stat().st_size % qlib_pit.RECORD.itemsize == 0
    data = np.fromfile(na_dir / "revenue_q.data", dtype=qlib_pit.RECORD)
    assert (np.diff(data["date"].astype(np.int64)) >= 0).all()  # ordered by known date, as Qlib searches it
    first_year = int(np.fromfile(na_dir / "revenue_q.index", dtype="<u4")[0])
    assert first_year == 2020
    again = qlib_pit.write(root, tables)
    assert again.files_written == 0 and again.files_removed == 0
    # a ticker gone from silver: its files go with it
    fewer = {tf: t.filter(pl.col("ticker") != "ZED") for tf, t in tables.items()}
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    gone = qlib_pit.write(copy, fewer)
    assert not (copy / "financial" / "zed").exists() and gone.files_removed == 1 and gone.files_written == 0


def test_period_numbers_follow_the_calendar_quarter():
    assert qlib_pit.period_of(dt.date(2024, 3, 31), "quarterly") == 202401
    assert qlib_pit.period_of(dt.date(2024, 1, 31), "quarterly") == 202401
    assert qlib_pit.period_of(dt.date(2023, 12, 30), "quarterly") == 202304
    assert qlib_pit.period_of(dt.date(2023, 9, 30), "annual") == 2023
