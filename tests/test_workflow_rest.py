"""REST pulls through the real workflow: schedule targets, parallel API jobs under one rate
limit, fault storms converging to the clean bronze, bounded failures, and no key anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quantmini.command import snakemake_command
from quantmini.paths import Lake

from .conftest import API_KEY, S3_SECRET, run_workflow

pytestmark = [pytest.mark.workflow, pytest.mark.usefixtures("quiet_sandbox")]
MONDAY = "2024-06-10"
MONDAY_PULLS = {
    ("dividends", "2024-05-11_2024-09-08"), ("splits", "2024-05-11_2024-09-08"), ("ipos", "2024-05-11_2024-09-08"),
    ("news", "2024-06-09_2024-06-09"), ("short_interest", "2024-05-11_2024-06-10"),
    ("short_volume", "2024-05-11_2024-06-10"), ("tickers", "active"), ("tickers", "delisted"),
}
BASE = {"pull_date": MONDAY, "datasets": "[]", "rest_datasets": "[dividends,splits,ipos,ticker_events,fundamentals,news,short_interest,short_volume,tickers]",
        "rest_backoff_factor": 0.05, "rest_timeout_s": 2}


def pulled(workdir: Path) -> dict[tuple[str, str], list[dict]]:
    """Every REST partition's rows, without the pull time."""
    out = {}
    for part in sorted((workdir / "quantlake" / "bronze").glob("*/pull_date=*/window=*/part.parquet")):
        table = pq.read_table(part)
        out[(part.parts[-4], part.parts[-2].split("=", 1)[1])] = table.drop_columns(["pulled_at"]).to_pylist()
    return out


def sidecars(workdir: Path, dataset: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((workdir / "quantlake" / "metadata" / "bronze" / dataset).rglob("*.json"))
            if p.name != "watermark.json"]


@pytest.fixture(scope="module")
def clean_monday(tmp_path_factory, sandbox):
    wd = tmp_path_factory.mktemp("clean-monday")
    sandbox.clear_faults()
    before = sandbox.calls()["total"]
    run_workflow(wd, sandbox, config=BASE)
    return wd, sandbox.calls()["total"] - before


def test_a_monday_pulls_exactly_its_schedule(clean_monday, sandbox):
    wd, calls = clean_monday
    rows = pulled(wd)
    assert set(rows) == MONDAY_PULLS
    assert all(rows[k] for k in MONDAY_PULLS if k[0] != "splits")
    total = 0
    for ds in {d for d, _ in MONDAY_PULLS}:
        for sc in sidecars(wd, ds):
            assert sc["status"] == "success" and sc["date"] == MONDAY and sc["statistics"]["api_calls"] >= 1
            total += sc["statistics"]["api_calls"]
    assert total == calls  # every call the sandbox saw is in a sidecar
    short = sidecars(wd, "short_volume")[0]["statistics"]
    assert short["filtered_after_download"] is True and short["rows_downloaded"] > short["records"] > 0
    assert {r["ticker"] for r in rows[("short_volume", "2024-05-11_2024-06-10")]} <= {"AAPL", "MSFT", "NVDA", "GOOGL", "AMZN", "TSLA", "BRK.B", "GE"}


def test_a_rerun_makes_no_calls(clean_monday, sandbox):
    wd, _ = clean_monday
    before = sandbox.calls()["total"]
    proc = run_workflow(wd, sandbox, config=BASE)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert sandbox.calls()["total"] == before


def test_four_parallel_api_jobs_never_exceed_the_rate_limit(tmp_path, sandbox):
    sandbox.rate_limit(5, 2.0)
    cfg = {**BASE, "rest_force": "[fundamentals,ticker_events]", "rate_limit_calls": 5, "rate_limit_period_s": 2.0,
           "rate_limit_margin_s": 0.3}
    run_workflow(tmp_path, sandbox, "--cores", "4", "--resources", "polygon_api=4", "mem_mb=8000", config=cfg)
    calls = sandbox.calls()
    assert calls["rate_limited"] == 0 and calls["max_in_window"] <= 5
    datasets = {d for d, _ in MONDAY_PULLS} | {"fundamentals", "ticker_events"}
    stats = [sc["statistics"] for ds in datasets for sc in sidecars(tmp_path, ds)]
    assert len(stats) == 11 and sum(s["api_calls"] for s in stats) >= 30
    assert sum(s["rate_limit_wait_sec"] for s in stats) > 0  # jobs waited for each other's calls


def test_a_storm_of_429s_and_5xx_ends_with_the_clean_bronze(tmp_path, sandbox, clean_monday):
    clean_wd, clean_calls = clean_monday
    faults = [
        {"kind": "429", "count": 3, "path": "/v3/reference/dividends"},
        {"kind": "429", "retry_after": 1, "path": "/v3/reference/splits"},
        {"kind": "500", "path": "/v3/reference/tickers"}, {"kind": "502", "path": "/v3/reference/tickers"},
        {"kind": "503", "count": 2, "path": "/v3/reference/tickers"},
        {"kind": "reset", "path": "/vX/reference/ipos"},
        {"kind": "truncate", "path": "/stocks/v1/short-volume"},
        {"kind": "malformed", "path": "/v2/reference/news"},
        {"kind": "slow", "delay": 3, "path": "/stocks/v1/short-interest"},
    ]
    sandbox.faults(*faults)
    before = sandbox.calls()["total"]
    run_workflow(tmp_path, sandbox, config={**BASE, "rest_auth": "query"})
    assert sandbox.calls()["faults"]["queued"] == 0
    assert pulled(tmp_path) == pulled(clean_wd)
    assert sandbox.calls()["total"] - before == clean_calls + sum(f.get("count", 1) for f in faults)


def test_a_target_that_keeps_failing_fails_alone_and_leaks_no_key(tmp_path, sandbox, capfd):
    sandbox.faults({"kind": "500", "count": 50, "path": "/v3/reference/splits"})
    proc = run_workflow(tmp_path, sandbox, check=False, config={**BASE, "rest_auth": "query", "rest_max_retries": 2})
    assert proc.returncode != 0
    lake = Lake(str(tmp_path / "quantlake"))
    assert not Path(lake.bronze_rest("splits", MONDAY, "2024-05-11_2024-09-08")).exists()
    failed = sidecars(tmp_path, "splits")[0]
    assert failed["status"] == "failed" and "HTTP 500" in failed["error"] and "after 2 retries" in failed["error"]
    assert failed["statistics"]["api_calls"] == 3
    assert Path(lake.bronze_rest("dividends", MONDAY, "2024-05-11_2024-09-08")).exists()  # --keep-going
    for root in ("quantlake", "logs", ".snakemake"):
        for path in (tmp_path / root).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert API_KEY.encode() not in data and S3_SECRET.encode() not in data, path
    assert API_KEY not in proc.stdout + proc.stderr
    assert "apiKey=***" in (tmp_path / "logs" / "bronze" / "splits" / MONDAY / "2024-05-11_2024-09-08.log").read_text()


def test_fundamental_tickers_default_to_the_reference_common_stocks(tmp_path, sandbox):
    sunday = "2024-06-09"
    cfg = {**BASE, "pull_date": sunday, "rest_datasets": "[fundamentals,ticker_events]", "fundamental_tickers": "[]",
           "rest_endpoints": "{fundamentals: current}"}
    run_workflow(tmp_path, sandbox, config=cfg)
    lake = Lake(str(tmp_path / "quantlake"))
    ref = pq.read_table(lake.bronze_rest("tickers", "2024-06-03", "active")).to_pylist()
    common = {r["ticker"] for r in ref if r["type"] == "CS" and r["active"]}
    events = pq.read_table(lake.bronze_rest("ticker_events", sunday, "all"))
    assert set(events["requested"].to_pylist()) == common
    fund = pq.read_table(lake.bronze_rest("fundamentals", sunday, "quarterly_2023-12-12_2024-06-09"))
    assert set(fund["ticker"].to_pylist()) <= common and len(set(fund["ticker"].to_pylist())) > 0.9 * len(common)
    sc = sidecars(tmp_path, "fundamentals")
    assert {s["statistics"]["endpoint"] for s in sc} == {"current"}


def test_silver_corporate_actions_from_two_days_of_pulls(tmp_path, sandbox, clean_monday):
    """Monday's and Tuesday's overlapping dividend pulls become one silver file: each event
    once, from the latest pull that covers it; a rerun rebuilds nothing."""
    import shutil

    import polars as pl

    wd = tmp_path / "wd"
    shutil.copytree(clean_monday[0], wd, symlinks=True)
    tuesday = {**BASE, "pull_date": "2024-06-11", "rest_datasets": "[dividends]"}
    run_workflow(wd, sandbox, config=tuesday)
    lake = wd / "quantlake"
    bronze = pl.concat([
        pl.read_parquet(p).with_columns(pl.lit(p.parts[-3].split("=")[1]).alias("pull"))
        for p in sorted((lake / "bronze" / "dividends").glob("pull_date=*/window=*/part.parquet"))
    ])
    assert bronze["pull"].n_unique() == 2
    silver = pl.read_parquet(lake / "silver" / "corporate_actions" / "event_type=dividend" / "data.parquet")
    assert silver.height == bronze["id"].n_unique() and silver["event_id"].n_unique() == silver.height
    tuesday_ids = set(bronze.filter(pl.col("pull") == "2024-06-11")["id"])
    assert {str(d) for d in silver.filter(pl.col("event_id").is_in(list(tuesday_ids)))["source_pull_date"].unique()} == {"2024-06-11"}
    assert silver.sort(["ticker", "event_date"])["ticker"].to_list() == silver["ticker"].to_list()
    amounts = bronze.sort("pull").unique("id", keep="last").select("id", "cash_amount", "frequency")
    joined = silver.join(amounts, left_on="event_id", right_on="id")
    assert (joined["div_cash_amount"] == joined["cash_amount"]).all()
    quarterly = joined.filter(pl.col("frequency") == 4)
    assert quarterly.height and ((quarterly["div_annualized_amount"] - 4 * quarterly["cash_amount"]).abs() < 1e-9).all()
    everything = pl.scan_parquet(str(lake / "silver" / "corporate_actions" / "*" / "data.parquet"), hive_partitioning=True).collect()
    assert everything.filter(pl.col("event_type") == "dividend").height == silver.height  # the four files read as one
    splits = pl.read_parquet(lake / "silver" / "corporate_actions" / "event_type=split" / "data.parquet")
    assert splits.height and (splits["split_is_reverse"] == (splits["split_to"] < splits["split_from"])).all()
    sc = json.loads(next((lake / "metadata" / "silver" / "corporate_actions").rglob("2024-06-11.dividend.json")).read_text())
    assert sc["status"] == "success" and sc["statistics"]["records"] == silver.height
    for path in [*(lake / "silver").rglob("*"), *(lake / "metadata" / "silver").rglob("*"), *(wd / "logs" / "silver").rglob("*")]:
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes() and S3_SECRET.encode() not in path.read_bytes(), path
    proc = run_workflow(wd, sandbox, config=tuesday)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_held_pull_of_another_day_is_never_pulled_again(tmp_path, sandbox, clean_monday):
    """A held pull is what the vendor said on its pull date: Tuesday's run, even told to
    rerun every REST job (as a changed rule's code would), pulls Tuesday's due only and
    leaves Monday's partitions as they were, bytes and times."""
    import shutil

    wd = tmp_path / "wd"
    shutil.copytree(clean_monday[0], wd, symlinks=True)
    held = {p: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in (wd / "quantlake" / "bronze").glob(f"*/pull_date={MONDAY}/window=*/part.parquet")}
    assert len(held) == len(MONDAY_PULLS)
    tuesday = {**BASE, "pull_date": "2024-06-11", "rest_datasets": "[dividends,splits]"}
    before = sandbox.calls()["total"]
    proc = run_workflow(wd, sandbox, "--forcerun", "bronze_rest", config=tuesday)
    assert f"pull_date={MONDAY}" not in "".join(line for line in (proc.stdout + proc.stderr).splitlines()
                                                if line.strip().startswith("output:"))
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in held} == held
    tuesday_pulls = sorted((wd / "quantlake" / "bronze").glob("*/pull_date=2024-06-11/window=*/part.parquet"))
    assert [p.parts[-4] for p in tuesday_pulls] == ["dividends", "splits"]
    made = sum(sc["statistics"]["api_calls"] for ds in ("dividends", "splits") for sc in sidecars(wd, ds)
               if sc["date"] == "2024-06-11")
    assert sandbox.calls()["total"] - before == made > 0


def test_silver_killed_between_files_is_rebuilt_whole(tmp_path, sandbox, clean_monday):
    """SIGKILL after the first silver file is replaced: the rerun rebuilds the job, and every
    silver file equals the silver built from the lake's bronze pulls."""
    import shutil
    import subprocess

    from quantmini.silver import corporate_actions

    from .conftest import REPO, workflow_env

    wd = tmp_path / "wd"
    shutil.copytree(clean_monday[0], wd, symlinks=True)
    tuesday = {**BASE, "pull_date": "2024-06-11", "rest_datasets": "[dividends,splits]"}
    cfg = {"s3_endpoint": sandbox.s3_endpoint, "rest_base_url": sandbox.rest_url, "rate_limit_calls": 0, "days_back": 1,
           **tuesday}
    cmd = snakemake_command(workdir=wd, profile=REPO / "profiles" / "demo", config=cfg)
    crashed = subprocess.run(cmd, capture_output=True, text=True, cwd=wd, start_new_session=True,
                             env=workflow_env({"QUANTMINI_CRASH_AT": "silver.between_files"}))
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    subprocess.run(snakemake_command(workdir=wd, extra=["--unlock"]),
                   check=True, capture_output=True, env=workflow_env(), cwd=wd)
    run_workflow(wd, sandbox, config=tuesday)
    lake = wd / "quantlake"
    for event, source in corporate_actions.SOURCES.items():
        parts = sorted(str(p) for p in (lake / "bronze" / source).glob("pull_date=*/window=*/part.parquet"))
        got = pq.read_table(lake / "silver" / "corporate_actions" / f"event_type={event}" / "data.parquet")
        # the hive key is in the path only (quantmini.silver.write)
        assert got.equals(corporate_actions.build(event, parts).drop_columns(["event_type"])), event
    assert any("pull_date=2024-06-11" in p.as_posix() for p in (lake / "bronze" / "dividends").rglob("part.parquet"))
