"""The adjusted Qlib store end to end: the real workflow against the sandbox, read back through
pyqlib's public API.

Run 1 converts stocks daily for the sandbox's range with no REST pulls (factor 1). Run 2 pulls
splits and dividends: the splits of the range (NVDA's real 10:1 on 2024-06-10, QMFS 3:1 on
06-12, QMRS 1-for-10 on 06-17, random ones) arrive after their prices were converted, so
exactly their symbols are rewritten. Run 3 adds stocks_minute for the last three sessions
($vwap). After each, the store equals a full rebuild from the same bronze and silver.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from quantmini.gold import universes
from quantmini.gold.qlib_minute import Membership, MinuteStore
from quantmini.gold.qlib_store import QlibStore
from quantmini.gold.symbols import qlib_symbol
from quantmini.gold.vwap import session_vwap
from quantmini.paths import Lake, partition_date
from quantmini.sessions import sessions_between
from quantmini.settings import with_defaults

from .conftest import INTRADAY_DAYS, SANDBOX_END, SANDBOX_START, run_workflow, snapshot
from .test_qlib_store import store_files

pytestmark = pytest.mark.workflow
SESSIONS = [d.isoformat() for d in sessions_between(dt.date.fromisoformat(SANDBOX_START), dt.date.fromisoformat(SANDBOX_END))]
# The store alone: gold's feature sessions (tested in test_workflow_gold) would be ~44 more jobs
# here, all of them rebuilt when the late splits arrive; without them the runs also show
# that the Qlib store needs nothing of gold features.
WINDOW = {"start": SANDBOX_START, "end": SANDBOX_END, "gold_features": False}


def _inputs(lake: Lake):
    bronze = sorted(glob.glob(lake.bronze_glob("stocks_daily")))
    minute = sorted(glob.glob(lake.bronze_glob("stocks_minute")))
    s = lake.silver("corporate_actions", "event_type=split")
    d = lake.silver("corporate_actions", "event_type=dividend")
    return bronze, minute, (s if Path(s).exists() else None), (d if Path(d).exists() else None)


def full_rebuild(lake: Lake, tmp: Path) -> dict[str, bytes]:
    fresh = tmp / "rebuild"
    shutil.rmtree(fresh, ignore_errors=True)
    QlibStore(fresh).update(*_inputs(lake))
    # the universes beside it, from the same bronze days and reference pulls (schema defaults)
    days = {partition_date(p): p for p in _inputs(lake)[0]}
    universes.build(fresh, days, universes.Rule.from_config({}), glob.glob(lake.bronze_rest_glob("tickers")))
    defaults = with_defaults({})
    minute = {partition_date(p): p for p in _inputs(lake)[1]}
    MinuteStore(fresh).update(minute, Membership.read(fresh, defaults["qlib_minute_universe"], defaults["qlib_minute_symbols"]))
    return store_files(fresh)


@pytest.fixture(scope="module")
def lake(tmp_path_factory, sandbox):
    workdir = tmp_path_factory.mktemp("adjusted")
    lake = Lake(str(workdir / "quantlake"))
    qroot = Path(lake.qlib_root())
    run_workflow(workdir, sandbox, config=WINDOW)
    first = {"files": store_files(qroot), "snap": snapshot(qroot / "features"), "rebuild": full_rebuild(lake, workdir)}
    run_workflow(workdir, sandbox, config={**WINDOW, "rest_datasets": "[splits,dividends]", "pull_date": SANDBOX_END})
    second = {"files": store_files(qroot), "snap": snapshot(qroot / "features"), "rebuild": full_rebuild(lake, workdir),
              "sidecar": json.loads(Path(lake.sidecar("gold", "stocks_daily_qlib", SANDBOX_END)).read_text())}
    run_workflow(workdir, sandbox, config={"date": SANDBOX_END, "days_back": INTRADAY_DAYS, "gold_features": False,
                                           "datasets": "[stocks_daily,stocks_minute]"})
    third = {"files": store_files(qroot), "rebuild": full_rebuild(lake, workdir)}
    return {"workdir": workdir, "lake": lake, "first": first, "second": second, "third": third, "sandbox": sandbox}


@pytest.fixture(scope="module")
def frame(lake):
    qlib = pytest.importorskip("qlib")
    from qlib.data import D

    qlib.init(provider_uri=lake["lake"].qlib_root(), region="us", kernels=1, logging_level="WARNING")
    fields = ["$open", "$high", "$low", "$close", "$volume", "$factor", "$vwap", "$change"]
    df = D.features(D.instruments("all"), fields, start_time=SANDBOX_START, end_time=SANDBOX_END, freq="day")
    df = df.reset_index()
    df["datetime"] = df["datetime"].dt.date.astype(str)
    return df.set_index(["instrument", "datetime"]).sort_index()


def bronze_day(lake: Lake, date: str) -> pd.DataFrame:
    t = pq.read_table(lake.bronze("stocks_daily", date)).to_pandas()
    t["instrument"] = [qlib_symbol(x) for x in t["ticker"]]
    return t.set_index("instrument")


def test_every_store_equals_a_full_rebuild(lake):
    for stage in ("first", "second", "third"):
        assert lake[stage]["files"] == lake[stage]["rebuild"], stage


def test_late_splits_rewrite_exactly_their_symbols(lake):
    before, after = lake["first"]["snap"], lake["second"]["snap"]
    touched = {k.split("/")[0] for k in after if after[k] != before.get(k)}
    assert set(after) == set(before)
    adjusted = set()
    root = Path(lake["lake"].qlib_root()) / "features"
    for folder in root.iterdir():
        factor = np.fromfile(folder / "factor.day.bin", dtype="<f4")[1:]
        if (factor[~np.isnan(factor)] != 1.0).any():
            adjusted.add(folder.name)
    assert {"nvda", "qmfs", "qmrs"} <= adjusted
    assert touched == adjusted, (sorted(touched - adjusted), sorted(adjusted - touched))
    stats = lake["second"]["sidecar"]["statistics"]
    assert stats["mode"] == "append" and stats["days_applied"] == 0 and stats["records"] == 0
    assert stats["symbols_rewritten"] >= len(adjusted)


def test_raw_prices_and_volume_recovered_for_every_bar(lake, frame):
    bars = 0
    for date in SESSIONS:
        b = bronze_day(lake["lake"], date)
        got = frame.xs(date, level="datetime").loc[b.index]
        np.testing.assert_allclose(got["$close"] / got["$factor"], b["close"], rtol=1e-6, err_msg=date)
        np.testing.assert_allclose(got["$open"] / got["$factor"], b["open"], rtol=1e-6, err_msg=date)
        np.testing.assert_allclose(got["$volume"] * got["$factor"], b["volume"], rtol=1e-6, err_msg=date)
        bars += len(b)
    assert int(frame["$close"].notna().sum()) == bars


def test_no_jump_across_splits(lake, frame):
    for sym, ex, ratio in (("QMFS", "2024-06-12", 3.0), ("QMRS", "2024-06-17", 0.1), ("NVDA", "2024-06-10", 10.0)):
        prev = SESSIONS[SESSIONS.index(ex) - 1]
        raw_prev = bronze_day(lake["lake"], prev).loc[sym, "close"]
        raw_ex = bronze_day(lake["lake"], ex).loc[sym, "close"]
        assert raw_prev / raw_ex == pytest.approx(ratio, rel=0.3)  # the raw series jumps
        adj = frame.loc[sym, "$close"]
        assert abs(adj[ex] / adj[prev] - 1) < 0.1, (sym, adj[prev], adj[ex])
        assert frame.loc[(sym, ex), "$change"] == pytest.approx(adj[ex] / adj[prev] - 1, abs=1e-6)
        f = frame.loc[sym, "$factor"]
        assert f[prev] / f[ex] == pytest.approx(1 / ratio, rel=1e-3)  # (a dividend may share the step)


def test_real_nvda_rows_give_a_continuous_series(lake, frame):
    if not lake["sandbox"].fixtures:
        pytest.skip("../shared/fixtures/polygon is absent: the sandbox serves no real NVDA rows")
    adj = frame.loc["NVDA", "$close"]
    # The vendor's real closes: 1208.88 on 2024-06-07, 121.79 on 06-10 (first session after the split).
    assert adj["2024-06-07"] / frame.loc[("NVDA", "2024-06-07"), "$factor"] == pytest.approx(1208.88, rel=1e-6)
    assert adj["2024-06-10"] / adj["2024-06-07"] - 1 == pytest.approx(121.79 / 120.888 - 1, abs=1e-3)
    daily = adj.pct_change().dropna()
    assert daily.abs().max() < 0.1


def test_vwap_from_minute_bars_where_held(lake, frame):
    held = SESSIONS[-INTRADAY_DAYS:]
    for date in held:
        v = session_vwap(lake["lake"].bronze("stocks_minute", date), dt.date.fromisoformat(date)).to_pandas()
        v["instrument"] = [qlib_symbol(x) for x in v["ticker"]]
        v = v.set_index("instrument")
        got = frame.xs(date, level="datetime").loc[v.index]
        np.testing.assert_allclose(got["$vwap"] / got["$factor"], v["vwap"], rtol=1e-6)
        b = bronze_day(lake["lake"], date).loc[v.index]
        assert ((v["vwap"] <= b["high"] + 1e-9) & (v["vwap"] >= b["low"] - 1e-9)).all()
    early = frame[~frame.index.get_level_values("datetime").isin(held)]
    assert early["$vwap"].isna().all()


def test_rerun_over_held_days_plans_nothing_whatever_the_window(lake):
    workdir, sandbox = lake["workdir"], lake["sandbox"]
    for cfg in ({"date": SANDBOX_END, "days_back": 3}, WINDOW, {"date": "2024-06-12"}):
        cfg = {**cfg, "gold_features": False}
        dry = run_workflow(workdir, sandbox, "-n", config=cfg)
        assert "Nothing to be done" in dry.stdout + dry.stderr, (cfg, dry.stdout[-2000:])


def test_special_dividend_adjusted_without_a_jump(lake, frame):
    """QMFS pays a special $2.50 (ex 2024-06-24) and its raw price drops by it."""
    silver = pq.read_table(lake["lake"].silver("corporate_actions", "event_type=dividend")).to_pandas()
    row = silver[(silver["ticker"] == "QMFS") & (silver["event_date"] == dt.date(2024, 6, 24))]
    assert len(row) == 1 and bool(row["div_is_special"].iloc[0]) and row["div_cash_amount"].iloc[0] == 2.5
    prev, ex = "2024-06-21", "2024-06-24"
    raw_prev = bronze_day(lake["lake"], prev).loc["QMFS", "close"]
    raw_ex = bronze_day(lake["lake"], ex).loc["QMFS", "close"]
    assert raw_prev - raw_ex > 1.5  # the raw series drops by about the dividend
    f = frame.loc["QMFS", "$factor"]
    assert f[prev] / f[ex] == pytest.approx(1 - 2.5 / raw_prev, rel=1e-6)
    adj = frame.loc["QMFS", "$close"]
    real_move = (raw_ex + 2.5) / raw_prev - 1
    assert adj[ex] / adj[prev] - 1 == pytest.approx(real_move, abs=0.002)
    assert abs(adj[ex] / adj[prev] - 1) < abs(raw_ex / raw_prev - 1) / 2


def test_rule_graph_has_one_qlib_node(lake):
    """--report draws the rule graph: one node for the Qlib store, not one per day, and one
    per gold feature dataset."""
    proc = run_workflow(lake["workdir"], lake["sandbox"], "--rulegraph", config={**WINDOW, "gold_features": True})
    labels = [line.split('label = "')[1].split('"')[0] for line in proc.stdout.splitlines() if 'label = "' in line]
    assert labels.count("gold_qlib_stocks_daily") == 1 and len(labels) == len(set(labels)), labels
    assert "gold_stocks_daily" in labels and len(labels) <= 11, labels
