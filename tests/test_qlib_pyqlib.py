"""The store read by Qlib itself: every name of the sandbox's full universe reachable through
``D.instruments``/``D.features``, and Qlib's Alpha158 handler over a sandbox range.

Stores are built straight from the sandbox's market (no workflow run): the names test needs
all ~20,000 symbols the full-scale universe ever lists, the Alpha158 test 75 sessions.
"""

from __future__ import annotations

import datetime as dt
import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.gold.qlib_store import QlibStore
from quantmini.gold.symbols import qlib_symbol
from quantmini.paths import Lake
from quantmini.sandbox.market import Market
from quantmini.sessions import sessions_ending

qlib = pytest.importorskip("qlib")


def write_bronze(lake: Lake, dataset: str, day: str, frame: pd.DataFrame) -> str:
    p = lake.bronze(dataset, day)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), p)
    return p


def test_qlib_loader_loses_na_like_names_unless_escaped():
    """The finding behind the escape: Qlib reads all.txt with pandas' defaults."""
    text = "AAPL\t2024-06-03\t2024-06-28\nNA\t2024-06-03\t2024-06-28\nNULL\t2024-06-03\t2024-06-28\n"
    plain = pd.read_csv(io.StringIO(text), sep="\t", names=["s", "a", "b"], dtype={"s": str})
    assert plain["s"].isna().sum() == 2
    escaped = text.replace("\nNA\t", "\n" + qlib_symbol("NA") + "\t").replace("\nNULL\t", "\n" + qlib_symbol("NULL") + "\t")
    assert pd.read_csv(io.StringIO(escaped), sep="\t", names=["s", "a", "b"], dtype={"s": str})["s"].notna().all()


@pytest.mark.heavy
def test_every_name_of_the_full_universe_reads_back_through_pyqlib(tmp_path):
    from qlib.data import D

    market = Market(n_tickers=12000)
    u = market.universe
    names = sorted(set(u.symbols.tolist()) | {old for _, old, _ in u.renames})
    assert "NA" in names and "ALLpB" in names and "PRN" in names and "BRK.B" in names
    lake = Lake(str(tmp_path / "lake"))
    day = "2024-06-28"
    close = np.round(np.linspace(1, 500, len(names)), 2)
    frame = pd.DataFrame({"ticker": names, "open": close, "high": close, "low": close, "close": close,
                          "volume": np.full(len(names), 100.0)})
    store = QlibStore(tmp_path / "qlib")
    store.update([write_bronze(lake, "stocks_daily", day, frame)])
    qlib.init(provider_uri=str(tmp_path / "qlib"), region="us", kernels=1, logging_level="WARNING")
    listed = D.list_instruments(D.instruments("all"), as_list=True)
    assert sorted(listed) == sorted(qlib_symbol(n) for n in names) and len(listed) == len(names)
    got = D.features(listed, ["$close"], start_time=day, end_time=day).reset_index().set_index("instrument")["$close"]
    expected = pd.Series(close, index=[qlib_symbol(n) for n in names]).astype(np.float32)
    assert got.notna().all() and len(got) == len(names)
    np.testing.assert_array_equal(got.loc[expected.index].to_numpy(np.float32), expected.to_numpy())


@pytest.mark.heavy
def test_alpha158_loads_with_no_all_nan_feature(tmp_path):
    from qlib.contrib.data.handler import Alpha158

    market = Market(n_tickers=300)
    lake = Lake(str(tmp_path / "lake"))
    days = [d.isoformat() for d in sessions_ending(dt.date(2024, 6, 28), 75)]
    bronze, minute = [], []
    for day in days:
        bars = market.published_day_bars(dt.date.fromisoformat(day))
        bronze.append(write_bronze(lake, "stocks_daily", day, bars[["ticker", "open", "high", "low", "close", "volume"]]))
    for day in days[-10:]:
        m = market.stocks_minute(dt.date.fromisoformat(day))
        m["window_start"] = pd.to_datetime(m["window_start"], utc=True)
        minute.append(write_bronze(lake, "stocks_minute", day, m.sort_values(["ticker", "window_start"])))
    splits = market.splits()
    split_file = str(tmp_path / "splits.parquet")
    pq.write_table(pa.table({"ticker": splits["ticker"], "event_date": pa.array(splits["execution_date"], pa.date32()),
                             "event_id": [f"s{i}" for i in range(len(splits))],
                             "split_ratio": splits["split_to"] / splits["split_from"]}), split_file)
    result = QlibStore(tmp_path / "qlib").update(bronze, minute, split_file, None)
    assert result.applied_actions > 0
    qlib.init(provider_uri=str(tmp_path / "qlib"), region="us", kernels=1, logging_level="WARNING")
    handler = Alpha158(instruments="all", start_time=days[-10], end_time=days[-1], fit_start_time=days[-10],
                       fit_end_time=days[-1], infer_processors=[], learn_processors=[])
    features = handler.fetch(col_set="feature")
    assert features.shape[1] == 158 and len(features) > 2000
    all_nan = [c for c in features.columns if features[c].isna().all()]
    assert all_nan == [], all_nan
    assert features["VWAP0"].notna().mean() > 0.9
