"""The gold feature datasets built by the real workflow against the sandbox: stocks_daily for
2024-06-03 .. 06-28 (NVDA's real 10:1 split on 06-10, the sandbox's synthetic splits and
dividends from the REST pulls), stocks_minute and options_daily for 06-26 .. 06-28; a rerun
plans nothing, and a late split reruns exactly the sessions whose window holds it."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.sessions import regular_session_bounds
from quantmini.paths import Lake
from quantmini.sessions import sessions_between

from .conftest import run_workflow

pytestmark = pytest.mark.workflow

START, END = "2024-06-03", "2024-06-28"
SESSIONS = [d.isoformat() for d in sessions_between(dt.date(2024, 6, 3), dt.date(2024, 6, 28))]
INTRADAY = ["2024-06-26", "2024-06-27", "2024-06-28"]
REST = {"rest_datasets": "[splits,dividends]", "pull_date": END}


@pytest.fixture(scope="module")
def run(tmp_path_factory, sandbox):
    workdir = tmp_path_factory.mktemp("gold")
    run_workflow(workdir, sandbox, config={"start": START, "end": END, **REST})
    run_workflow(workdir, sandbox, config={"start": INTRADAY[0], "end": END, **REST,
                                           "datasets": "[stocks_daily,stocks_minute,options_daily]"})
    return {"workdir": workdir, "lake": Lake(str(workdir / "quantlake")), "sandbox": sandbox}


def gold(run, dataset: str, date: str) -> pa.Table:
    return pq.read_table(run["lake"].gold(dataset, date))


def test_every_session_of_each_dataset_is_built_with_bronze_row_counts(run):
    lake = run["lake"]
    for dataset, days in (("stocks_daily", SESSIONS), ("stocks_minute", INTRADAY), ("options_daily", INTRADAY)):
        for d in days:
            g = gold(run, dataset, d)
            assert g.num_rows == pq.read_metadata(lake.bronze(dataset, d)).num_rows > 0, (dataset, d)
            sc = json.loads(Path(lake.sidecar("gold", dataset, d)).read_text())
            assert sc["status"] == "success" and sc["statistics"]["records"] == g.num_rows
        assert sorted(p.parent.name for p in Path(lake.gold_dir(dataset)).rglob("part.parquet")) == \
            sorted(f"day={int(d[-2:])}" for d in days)


def test_readable_as_a_directory_by_pandas_pyarrow_polars_duckdb(run):
    for dataset, n_days in (("stocks_daily", len(SESSIONS)), ("stocks_minute", 3), ("options_daily", 3)):
        root = run["lake"].gold_dir(dataset)
        rows = sum(pq.read_metadata(p).num_rows for p in Path(root).rglob("part.parquet"))
        assert len(pd.read_parquet(root)) == rows
        assert pq.read_table(root).num_rows == rows
        assert pl.scan_parquet(f"{root}/**/*.parquet").select(pl.len()).collect().item() == rows
        assert duckdb.sql(f"select count(*) from read_parquet('{root}/**/*.parquet', hive_partitioning=true)").fetchall()[0][0] == rows
        days = duckdb.sql(f"select count(distinct date) from read_parquet('{root}/**/*.parquet')").fetchall()[0][0]
        assert days == n_days


def test_vwap_is_the_regular_session_minutes(run):
    day = "2024-06-27"
    m = pq.read_table(run["lake"].bronze("stocks_minute", day)).to_pandas()
    start, end = regular_session_bounds(dt.date.fromisoformat(day))
    ws = m.window_start.astype("int64")
    reg = m[(ws >= start) & (ws < end)]
    pv = ((reg.high + reg.low + reg.close) / 3 * reg.volume).groupby(reg.ticker).sum()
    expected = pv / reg.volume.groupby(reg.ticker).sum()
    g = gold(run, "stocks_daily", day).to_pandas().set_index("ticker")
    assert g.vwap.notna().sum() == len(expected) > 100
    pd.testing.assert_series_equal(g.vwap.loc[expected.index], expected, check_names=False, rtol=1e-12)
    # the last regular bar's running VWAP in gold stocks_minute is the same number
    gm = gold(run, "stocks_minute", day).to_pandas()
    last = gm[gm.session == "regular"].groupby("ticker").vwap.last()
    pd.testing.assert_series_equal(last.loc[expected.index], expected, check_names=False, rtol=1e-12)
    # no minute bars held for 06-25: no VWAP, never a stand-in
    assert gold(run, "stocks_daily", "2024-06-25").column("vwap").null_count == gold(run, "stocks_daily", "2024-06-25").num_rows


def test_nvda_split_leaves_no_jump_in_returns(run):
    raw = {d: pq.read_table(run["lake"].bronze("stocks_daily", d)).to_pandas().set_index("ticker").close["NVDA"] for d in ("2024-06-07", "2024-06-10")}
    assert raw["2024-06-10"] / raw["2024-06-07"] < 0.2  # the raw price fell ~90 %
    g = gold(run, "stocks_daily", "2024-06-10").to_pandas().set_index("ticker")
    assert abs(g.ret_1d["NVDA"]) < 0.1
    assert g.ret_1d["NVDA"] == pytest.approx(raw["2024-06-10"] / (raw["2024-06-07"] / 10) - 1, rel=1e-9)
    last = gold(run, "stocks_daily", "2024-06-28").to_pandas().set_index("ticker")
    assert last.history_bars["NVDA"] == len(SESSIONS)
    assert last.ret_5d.notna().sum() > 250 and last.atr_14.notna().sum() > 250


def test_options_have_volatilities_and_statuses(run):
    df = gold(run, "options_daily", "2024-06-27").to_pandas()
    ok = df[df.iv_status == "ok"]
    assert len(ok) > 0.6 * len(df)
    assert ok.iv.between(0.01, 10).all() and ok.delta.abs().le(1).all() and (ok.gamma >= 0).all()
    assert df[df.iv_status != "ok"].iv.isna().all()
    assert (df.underlying_close > 0).all()
    expiring = df[df.expiration_date == dt.date(2024, 6, 28)]
    assert (expiring.days_to_expiry == 1).all() and (expiring.trading_days_to_expiry == 1).all()


def dry_run_gold(run, *extra: str) -> dict[str, list[str]]:
    """The gold sessions a nightly-style run (the last three sessions, all three datasets)
    would build: held sessions outside its window are targets too."""
    proc = run_workflow(run["workdir"], run["sandbox"], "-n", *extra, config={
        "start": INTRADAY[0], "end": END, **REST, "datasets": "[stocks_daily,stocks_minute,options_daily]"})
    out = proc.stdout + proc.stderr
    planned: dict[str, list[str]] = {}
    for ds, y, m, d in re.findall(r"output: \S*/gold/(\w+)/year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})/part\.parquet", out):
        planned.setdefault(ds, []).append(f"{y}-{int(m):02d}-{int(d):02d}")
    return {k: sorted(v) for k, v in planned.items()}


def test_rerun_plans_nothing(run):
    assert dry_run_gold(run) == {}


def test_a_corrected_bronze_day_reruns_the_sessions_that_read_it(run):
    """A bronze day rewritten with a corrected bar: the stocks_daily sessions whose window
    holds it and that day's options (their underlying closes) are planned; nothing else.
    (Snakemake also records checksums of small inputs: a file rewritten with the same bytes
    reruns nothing.)"""
    path = Path(run["lake"].bronze("stocks_daily", "2024-06-27"))
    original = path.read_bytes()
    table = pq.read_table(path)
    close = table.column("close").to_pylist()
    close[0] *= 1.01
    pq.write_table(table.set_column(table.schema.get_field_index("close"), "close", pa.array(close)), path)
    try:
        planned = dry_run_gold(run)
    finally:
        path.write_bytes(original)
    assert planned == {"stocks_daily": ["2024-06-27", "2024-06-28"], "options_daily": ["2024-06-27"]}
    assert dry_run_gold(run) == {}


def test_late_split_reruns_exactly_the_sessions_whose_window_holds_it(run):
    """A split announced late (appended to silver, as a rebuild from a new pull would) for a
    ticker with ex-date 06-20: the sessions 06-20 .. 06-28 (their 30-session windows hold it)
    are planned, the 12 before it are not, nor any minute or options session."""
    split = Path(run["lake"].silver("corporate_actions", "event_type=split"))
    table = pq.read_table(split)
    row = table.slice(0, 1).to_pylist()[0]  # a real row, re-keyed
    row.update(ticker="AAPL", event_date=dt.date(2024, 6, 20), event_id="late-split", split_from=1.0, split_to=4.0,
               split_ratio=4.0)
    late = pa.Table.from_pylist([row], schema=table.schema)
    pq.write_table(pa.concat_tables([table, late]), split)
    planned = dry_run_gold(run)
    assert planned == {"stocks_daily": [d for d in SESSIONS if d >= "2024-06-20"]}


def test_metadata_shows_the_null_counts(run):
    """`quantmini metadata`, read as a user reads it: each gold dataset's nulls of the
    columns that matter, summed over its sessions, equal to the files' own null counts."""
    import subprocess

    from .conftest import BIN

    proc = subprocess.run([str(BIN / "quantmini"), "metadata", "--lake", str(run["lake"].root)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    blocks = {b.split("\n", 1)[0]: b for b in proc.stdout.split("📊 ") if b}
    daily = blocks["stocks_daily (Gold):"]
    vwap_nulls = sum(gold(run, "stocks_daily", d).column("vwap").null_count for d in SESSIONS)
    rows = sum(gold(run, "stocks_daily", d).num_rows for d in SESSIONS)
    assert f"Nulls: vwap {vwap_nulls:,} ({100.0 * vwap_nulls / rows:.1f}%)" in daily
    iv_nulls = sum(gold(run, "options_daily", d).column("iv").null_count for d in INTRADAY)
    assert f"Nulls: iv {iv_nulls:,}" in blocks["options_daily (Gold):"]
    assert "Gaps" not in daily and "Symbols Converted" not in daily


def test_cleansing_flags_stay_quiet_on_the_sandbox_data(run):
    """The sandbox's splits (the real NVDA 10:1 among them) move its raw prices by their
    ratios and its dividends are below the closes: no silver row is flagged, and the sidecars
    count nothing."""
    lake = run["lake"]
    for event in ("split", "dividend"):
        table = pq.read_table(lake.silver("corporate_actions", f"event_type={event}"), columns=["ticker", "flags"])
        assert table.num_rows > 0 and all(f == [] for f in table.column("flags").to_pylist()), event
    sidecars = [json.loads(p.read_text()) for p in Path(lake.metadata_root(), "silver", "corporate_actions").rglob("*.json")]
    sidecars = [s for s in sidecars if "status" in s]  # not the watermark
    assert sidecars and all(s["statistics"].get("flags") == {} for s in sidecars if s["status"] == "success")
    splits = pq.read_table(lake.silver("corporate_actions", "event_type=split")).to_pylist()
    assert any(r["ticker"] == "NVDA" and r["split_ratio"] == 10.0 for r in splits)
