"""All four flat-file datasets through the real workflow against the sandbox: row counts,
exact schemas, option contract fields, minute bars aggregating to day bars, order, row
groups, and late (pending) files fetched by the next run."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from quantmini.bronze import OPTIONS_SCHEMA, STOCKS_SCHEMA
from quantmini.options import parse_one
from quantmini.paths import Lake

from .conftest import run_workflow

pytestmark = pytest.mark.workflow

DATASETS = ["stocks_daily", "stocks_minute", "options_daily", "options_minute"]
START, END = "2024-06-26", "2024-06-28"
SESSIONS = ["2024-06-26", "2024-06-27", "2024-06-28"]
ALL = "[" + ",".join(DATASETS) + "]"


@pytest.fixture(scope="module")
def run(tmp_path_factory, sandbox):
    workdir = tmp_path_factory.mktemp("flatfiles")
    run_workflow(workdir, sandbox, config={"start": START, "end": END, "datasets": ALL})
    return {"workdir": workdir, "lake": Lake(str(workdir / "quantlake")), "sandbox": sandbox}


def bronze(run, dataset, date):
    return pq.read_table(run["lake"].bronze(dataset, date))


def csv_rows(run, dataset, date):
    with gzip.open(run["lake"].landing(dataset, date), "rt") as fh:
        return fh.read().splitlines()[1:]


@pytest.mark.parametrize("dataset", DATASETS)
def test_row_counts_equal_landing(run, dataset):
    for date in SESSIONS:
        assert bronze(run, dataset, date).num_rows == len(csv_rows(run, dataset, date)) > 0


def test_realistic_sizes(run):
    d = "2024-06-27"
    n_daily = bronze(run, "stocks_daily", d).num_rows
    assert bronze(run, "stocks_minute", d).num_rows > 50 * n_daily
    assert bronze(run, "options_minute", d).num_rows > 2 * bronze(run, "options_daily", d).num_rows > 1000


@pytest.mark.parametrize("dataset, schema", [("stocks_daily", STOCKS_SCHEMA), ("stocks_minute", STOCKS_SCHEMA),
                                             ("options_daily", OPTIONS_SCHEMA), ("options_minute", OPTIONS_SCHEMA)])
def test_schemas_exact(run, dataset, schema):
    for date in SESSIONS:
        assert pq.read_schema(run["lake"].bronze(dataset, date)).remove_metadata() == schema


def test_option_fields_parsed(run):
    t = bronze(run, "options_daily", "2024-06-27")
    rows = t.select(["ticker", "underlying", "expiration_date", "contract_type", "strike"]).to_pylist()
    for r in rows:
        c = parse_one(r["ticker"])
        assert c is not None
        assert (r["underlying"], r["expiration_date"], r["contract_type"], r["strike"]) == (
            c.underlying, c.expiration_date, c.contract_type, c.strike)
    unders = {r["underlying"] for r in rows}
    assert any(u[-1].isdigit() for u in unders), "adjusted roots such as NVDA1"
    assert "SPY" in unders
    expiries = {r["expiration_date"] for r in rows}
    weeklies = [e for e in expiries if not (15 <= e.day <= 21)]
    assert weeklies and all(e.weekday() == 4 for e in expiries)
    sc = json.loads(Path(run["lake"].sidecar("bronze", "options_daily", "2024-06-27")).read_text())
    assert sc["statistics"]["unparsed_contracts"] == 0


def _aggregate(minutes: pa.Table) -> dict:
    g = minutes.group_by("ticker", use_threads=False).aggregate(
        [("open", "first"), ("high", "max"), ("low", "min"), ("close", "last"), ("volume", "sum"), ("transactions", "sum")]
    )
    return {r["ticker"]: r for r in g.to_pylist()}


@pytest.mark.parametrize("minute, daily", [("stocks_minute", "stocks_daily"), ("options_minute", "options_daily")])
def test_minute_bars_aggregate_to_the_day_bar(run, minute, daily):
    for date in SESSIONS:
        agg = _aggregate(bronze(run, minute, date))
        day = {r["ticker"]: r for r in bronze(run, daily, date).to_pylist()}
        assert set(agg) == set(day)
        for t, d in day.items():
            a = agg[t]
            assert (a["open_first"], a["high_max"], a["low_min"], a["close_last"]) == (d["open"], d["high"], d["low"], d["close"]), t
            assert a["volume_sum"] == pytest.approx(d["volume"], abs=1e-6) and a["transactions_sum"] == d["transactions"], t


def test_minute_timestamps_and_dates(run):
    t = bronze(run, "stocks_minute", "2024-06-27")
    ws = t.column("window_start")
    assert pc.min(ws).as_py() >= dt.datetime(2024, 6, 27, 8, 0, tzinfo=dt.timezone.utc)  # 04:00 EDT
    assert pc.max(ws).as_py() < dt.datetime(2024, 6, 28, 0, 0, tzinfo=dt.timezone.utc)  # 20:00 EDT
    assert set(t.column("date").to_pylist()) == {dt.date(2024, 6, 27)}


def test_sorted_and_row_groups_small(run):
    date = "2024-06-27"
    t = bronze(run, "stocks_minute", date)
    keys = list(zip(t.column("ticker").to_pylist(), t.column("window_start").cast(pa.int64()).to_pylist()))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    o = bronze(run, "options_minute", date)
    okeys = list(zip(o.column("underlying").to_pylist(), o.column("ticker").to_pylist(),
                     o.column("window_start").cast(pa.int64()).to_pylist()))
    assert okeys == sorted(okeys)
    meta = pq.ParquetFile(run["lake"].bronze("stocks_minute", date)).metadata
    if meta.num_row_groups > 1:
        col = meta.schema.names.index("ticker")
        stats = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
                 for i in range(meta.num_row_groups)]
        for ticker in ("NVDA", "SPY", "AAPL"):
            hits = sum(1 for lo, hi in stats if lo <= ticker <= hi)
            assert 1 <= hits <= 2, (ticker, hits, meta.num_row_groups)


def test_late_file_is_pending_then_fetched(tmp_path, sandbox):
    date = "2024-06-27"
    sandbox.post(f"/_sandbox/unpublish?dataset=options_daily&date={date}")
    try:
        first = run_workflow(tmp_path, sandbox, config={"date": date, "datasets": ALL}, check=False)
        assert first.returncode != 0
        lake = Lake(str(tmp_path / "quantlake"))
        side = json.loads(Path(lake.sidecar("landing", "options_daily", date)).read_text())
        assert side["status"] == "pending" and "does not exist" in side["error"]
        for other in ("stocks_daily", "stocks_minute", "options_minute"):
            assert json.loads(Path(lake.sidecar("bronze", other, date)).read_text())["status"] == "success"
        assert not Path(lake.bronze("options_daily", date)).exists()
    finally:
        sandbox.post(f"/_sandbox/publish?dataset=options_daily&date={date}")
    run_workflow(tmp_path, sandbox, config={"date": date, "datasets": ALL})
    assert json.loads(Path(lake.sidecar("landing", "options_daily", date)).read_text())["status"] == "success"
    assert json.loads(Path(lake.sidecar("bronze", "options_daily", date)).read_text())["status"] == "success"
    assert pq.read_table(lake.bronze("options_daily", date)).num_rows == len(
        gzip.open(lake.landing("options_daily", date), "rt").read().splitlines()) - 1


def test_unparsed_contracts_kept_and_counted(tmp_path, sandbox):
    import boto3
    from botocore.config import Config

    from .conftest import S3_KEY, S3_SECRET

    date = "2024-06-25"  # no options file published by the sandbox for this date
    ws = "1719288000000000000"  # 2024-06-25 00:00 New York
    body = ("ticker,volume,open,close,high,low,window_start,transactions\n"
            f"NOT-AN-OPTION,5,1,1,1,1,{ws},1\n"
            f"O:SPY240628C00540000,10,2.5,2.6,2.7,2.4,{ws},3\n"
            f"O:TSLA1240719P00150000,3,1.1,1.2,1.3,1.0,{ws},2\n")
    s3 = boto3.client("s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                      region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.put_object(Bucket="flatfiles", Key=f"us_options_opra/day_aggs_v1/2024/06/{date}.csv.gz", Body=gzip.compress(body.encode()))
    run_workflow(tmp_path, sandbox, config={"date": date, "datasets": "[options_daily]"})
    lake = Lake(str(tmp_path / "quantlake"))
    t = pq.read_table(lake.bronze("options_daily", date)).to_pylist()
    assert [r["ticker"] for r in t] == ["NOT-AN-OPTION", "O:SPY240628C00540000", "O:TSLA1240719P00150000"]
    assert t[0]["underlying"] is None and t[0]["strike"] is None and t[0]["close"] == 1.0
    assert (t[2]["underlying"], t[2]["contract_type"], t[2]["strike"]) == ("TSLA1", "put", 150.0)
    sc = json.loads(Path(lake.sidecar("bronze", "options_daily", date)).read_text())
    assert sc["statistics"]["unparsed_contracts"] == 1 and sc["statistics"]["records"] == 3
