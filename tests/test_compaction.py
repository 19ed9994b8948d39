"""Compaction over two months of scheduled pulls from the sandbox (real HTTP): the pulls
later ones supersede are moved out of silver's input, the input stays bounded, and silver
rebuilt from what is left is byte-identical."""

from __future__ import annotations

import datetime as dt
import glob
from pathlib import Path

import pytest

from quantmini import jobs, silver
from quantmini.paths import Lake
from quantmini.rest.schedule import pulls_for
from quantmini.silver import compaction, corporate_actions, fundamentals, point_in_time, pulls

from .conftest import API_KEY

pytestmark = pytest.mark.workflow

DATASETS = ("dividends", "splits", "ipos", "fundamentals", "ticker_events")


@pytest.fixture(scope="module")
def lake(tmp_path_factory, sandbox):
    import os

    root = tmp_path_factory.mktemp("compaction") / "lake"
    config = {"rest_base_url": sandbox.rest_url, "rate_limit_calls": 0, "api_key_env": "QM_COMPACTION_KEY",
              "fundamental_tickers": ["AAPL", "MSFT", "NVDA", "TSLA"], "rest_max_retries": 2}
    os.environ["QM_COMPACTION_KEY"] = API_KEY
    lk = Lake(str(root))
    day = dt.date(2024, 5, 1)
    while day <= dt.date(2024, 6, 28):  # every calendar day: the schedule's own pulls
        for p in pulls_for(day, DATASETS):
            out = lk.bronze_rest(p.dataset, day.isoformat(), p.window.name)
            jobs.bronze_rest(config, lk.root, p.dataset, day.isoformat(), p.window.name, out, None)
        day += dt.timedelta(days=1)
    return lk


def _silver(lk: Lake, out: Path) -> dict[str, bytes]:
    """Every silver table rebuilt from the pulls the lake holds now; their bytes."""
    files = {}
    for event, source in corporate_actions.SOURCES.items():
        files[f"corporate_actions/{event}"] = corporate_actions.build(event, sorted(glob.glob(lk.bronze_rest_glob(source))))
    rows = pulls.load(sorted(glob.glob(lk.bronze_rest_glob("fundamentals")))).rows
    for tf in fundamentals.TIMEFRAMES:
        flat = fundamentals.flatten(rows, tf)
        files[f"fundamentals/{tf}"] = flat
        files[f"financial_ratios/{tf}"] = fundamentals.ratios(flat)
        files[f"fundamentals_pit/{tf}"] = point_in_time.versions(rows, tf)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for name, table in files.items():
        path = out / f"{name.replace('/', '__')}.parquet"
        silver.write(table, path)
        result[name] = path.read_bytes()
    return result


def test_compaction_keeps_silver_byte_identical_and_the_input_bounded(lake, tmp_path):
    counts = {ds: len(glob.glob(lake.bronze_rest_glob(ds))) for ds in DATASETS}
    assert counts["dividends"] == 59 + 2  # a daily pull, and the backfills of 05-01 and 06-01
    before = _silver(lake, tmp_path / "before")
    assert all(len(b) > 0 for b in before.values())
    plans = [compaction.plan(ds, sorted(glob.glob(lake.bronze_rest_glob(ds)))) for ds in DATASETS]
    moved = compaction.apply(lake, plans)
    after_counts = {ds: len(glob.glob(lake.bronze_rest_glob(ds))) for ds in DATASETS}
    assert moved == sum(counts.values()) - sum(after_counts.values()) > 0
    # The 06-01 backfill covers 730 days back: every daily pull before it is decided by it and
    # the later daily pulls; what is left is June's daily pulls and the two backfills.
    assert after_counts["dividends"] <= 28 + 2, after_counts
    assert after_counts["splits"] <= 28 + 2 and after_counts["ipos"] <= 28 + 2
    assert after_counts["fundamentals"] < counts["fundamentals"]
    kept = Path(lake.root) / "bronze" / compaction.SUPERSEDED_DIR / "dividends"
    assert len(list(kept.rglob("part.parquet"))) == counts["dividends"] - after_counts["dividends"]  # moved, not deleted
    after = _silver(lake, tmp_path / "after")
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], name
    # compacting again finds nothing more
    again = [compaction.plan(ds, sorted(glob.glob(lake.bronze_rest_glob(ds)))) for ds in DATASETS]
    assert sum(len(p.superseded) for p in again) == 0


def test_compact_command_reads_as_a_plan(lake, tmp_path):
    import shutil
    import subprocess

    from .conftest import BIN, workflow_env

    copy = tmp_path / "lake"
    shutil.copytree(lake.root, copy)
    dry = subprocess.run([str(BIN / "quantmini"), "compact", "--dry-run"], capture_output=True, text=True,
                         env=workflow_env({"QUANTLAKE_ROOT": str(copy)}))
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == list(compaction.DATASETS) and lines[-1] == "dry run: nothing moved"
    planned = sum(int(line.split()[3]) for line in lines[:5])
    real = subprocess.run([str(BIN / "quantmini"), "compact"], capture_output=True, text=True,
                          env=workflow_env({"QUANTLAKE_ROOT": str(copy)}))
    assert real.returncode == 0 and real.stdout.splitlines()[-1].startswith(f"moved {planned} pulls")
    again = subprocess.run([str(BIN / "quantmini"), "compact", "--dry-run"], capture_output=True, text=True,
                           env=workflow_env({"QUANTLAKE_ROOT": str(copy)}))
    assert all(int(line.split()[3]) == 0 for line in again.stdout.splitlines()[:5])
