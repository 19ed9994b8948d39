"""The adjustment reproduces independent vendors' adjusted series (``../shared/fixtures/reference``).

Each reference's bars become bronze partitions and its splits and dividends a silver file;
the Qlib store is built from them and its ``$close`` is compared with the vendor's adjusted
close up to a constant (each vendor adjusts as of its own later recording date):

- Quandl WIKI 2014, raw prices: AAPL (4 dividends and the 7-for-1 split of 2014-06-09) and
  MSFT (4 dividends), within 2e-4 (WIKI's own factors are noisy: SOURCES.md);
- Yahoo AAPL 2020 and MSFT 2021-22: close (already split-adjusted) to adjclose, within 1e-6.
  Yahoo's AAPL series is on the post-split basis, so its 4:1 split of 2020-08-31 shows no jump
  in the prices given: the store must refuse it and say so, not apply it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.gold.qlib_store import QlibStore
from quantmini.paths import Lake

REPO = Path(__file__).resolve().parents[1]


def reference_dir() -> Path:
    for candidate in (os.environ.get("QUANTMINI_REFERENCE_FIXTURES"), REPO.parent / "shared" / "fixtures" / "reference"):
        if candidate and Path(candidate, "SOURCES.md").exists():
            return Path(candidate)
    pytest.skip("../shared/fixtures/reference (real split and dividend references) is absent")


def build(tmp_path: Path, ticker: str, bars: list[dict], splits: list[tuple[str, float]], dividends: list[tuple[str, float]]):
    lake = Lake(str(tmp_path / "lake"))
    paths = []
    for b in bars:
        p = lake.bronze("stocks_daily", b["date"])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        pq.write_table(pa.table({"ticker": [ticker], "open": [b["open"]], "high": [b["high"]], "low": [b["low"]],
                                 "close": [b["close"]], "volume": [b["volume"]]}), p)
        paths.append(p)
    s, d = str(tmp_path / "splits.parquet"), str(tmp_path / "dividends.parquet")
    pq.write_table(pa.table({"ticker": [ticker] * len(splits),
                             "event_date": pa.array([dt.date.fromisoformat(x) for x, _ in splits], pa.date32()),
                             "event_id": [f"s{i}" for i in range(len(splits))],
                             "split_ratio": pa.array([r for _, r in splits], pa.float64())}), s)
    pq.write_table(pa.table({"ticker": [ticker] * len(dividends),
                             "event_date": pa.array([dt.date.fromisoformat(x) for x, _ in dividends], pa.date32()),
                             "event_id": [f"d{i}" for i in range(len(dividends))],
                             "div_cash_amount": pa.array([c for _, c in dividends], pa.float64()),
                             "div_type": ["CD"] * len(dividends)}), d)
    store = QlibStore(tmp_path / "qlib")
    result = store.update(paths, [], s, d)
    return store, result


def assert_proportional(ours: np.ndarray, theirs: np.ndarray, tol: float) -> float:
    ratio = ours / theirs
    err = np.abs(ratio / ratio[-1] - 1)
    assert err.max() <= tol, f"max relative error {err.max():.3g} at bar {int(err.argmax())}"
    return float(err.max())


@pytest.mark.parametrize("ticker, n_div, split", [("AAPL", 4, 7.0), ("MSFT", 4, None)])
def test_quandl_2014_raw_to_adjusted(tmp_path, ticker, n_div, split):
    rows = list(csv.DictReader(open(reference_dir() / ticker / "zipline" / f"QUANDL_SAMPLE_TABLE.{ticker}.csv")))
    bars = [{k: (r[k] if k == "date" else float(r[k])) for k in ("date", "open", "high", "low", "close", "volume")} for r in rows]
    dividends = [(r["date"], float(r["ex-dividend"])) for r in rows if float(r["ex-dividend"]) > 0]
    splits = [(r["date"], float(r["split_ratio"])) for r in rows if float(r["split_ratio"]) != 1.0]
    assert len(dividends) == n_div and [s for _, s in splits] == ([split] if split else [])
    store, result = build(tmp_path, ticker, bars, splits, dividends)
    assert result.skipped_actions == [] and result.applied_actions == n_div + len(splits)
    start, close = store.read_feature(ticker, "close")
    _, factor = store.read_feature(ticker, "factor")
    assert start == 0 and len(close) == len(rows) == 252
    np.testing.assert_allclose(close / factor, [b["close"] for b in bars], rtol=1e-6)
    for fld, col in (("close", "adj_close"), ("open", "adj_open"), ("high", "adj_high"), ("low", "adj_low")):
        assert_proportional(store.read_feature(ticker, fld)[1].astype(float), np.array([float(r[col]) for r in rows]), 2e-4)
    if split:  # the 7-for-1 split: a 6.9x raw drop, no jump in the adjusted close
        i = [r["date"] for r in rows].index("2014-06-09")
        assert bars[i - 1]["close"] / bars[i]["close"] > 6.5 and abs(close[i] / close[i - 1] - 1) < 0.02


def _yahoo(path: Path) -> tuple[list[dict], list[float], list[tuple[str, float]], list[tuple[str, float]]]:
    body = json.loads(path.read_text())["response"]["bodyJson"]["chart"]["result"][0]
    ny = ZoneInfo("America/New_York")
    day = lambda ts: dt.datetime.fromtimestamp(ts, ny).date().isoformat()  # noqa: E731
    q = body["indicators"]["quote"][0]
    bars = [{"date": day(ts), "open": q["open"][i], "high": q["high"][i], "low": q["low"][i], "close": q["close"][i],
             "volume": float(q["volume"][i])} for i, ts in enumerate(body["timestamp"])]
    adjclose = body["indicators"]["adjclose"][0]["adjclose"]
    events = body.get("events", {})
    dividends = sorted((day(e["date"]), e["amount"]) for e in events.get("dividends", {}).values())
    splits = sorted((day(e["date"]), e["numerator"] / e["denominator"]) for e in events.get("splits", {}).values())
    return bars, adjclose, dividends, splits


@pytest.mark.parametrize("ticker, name, n_bars", [
    ("AAPL", "historicalv8-AAPL-2020-01-01-to-2021-01-04.json", 253),
    ("MSFT", "historical-via-chart-MSFT-dividends-2021-02-01-to-2022-01-31.csv.json", 252),
])
def test_yahoo_close_to_adjclose(tmp_path, ticker, name, n_bars):
    bars, adjclose, dividends, splits = _yahoo(reference_dir() / ticker / "yahoo-finance2" / name)
    assert len(bars) == n_bars and len(dividends) == 4
    store, result = build(tmp_path, ticker, bars, splits, dividends)
    _, factor = store.read_feature(ticker, "factor")
    _, close = store.read_feature(ticker, "close")
    raw = np.array([b["close"] for b in bars])
    np.testing.assert_allclose(close / factor, raw, rtol=1e-6)
    # adjclose / close = the in-window dividend factor x a constant
    assert_proportional(factor.astype(float), np.array(adjclose) / raw, 1e-6)
    assert result.applied_actions == 4
    if splits:  # AAPL's 2020 split: the prices given are already on the post-split basis
        assert [(s["ex_date"], s["reason"].split(" (")[0]) for s in result.skipped_actions] == [
            ("2020-08-31", "prices show no matching jump")]
    else:
        assert result.skipped_actions == []
