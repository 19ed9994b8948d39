"""Crash anywhere, rerun, same lake: SIGKILL of the whole workflow at several points, then
the rerun's lake equals a clean run's file for file (sidecar timestamps aside)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from quantmini.command import snakemake_command
from quantmini.faults import POINTS
from quantmini.paths import Lake

from .conftest import REPO, run_workflow, workflow_env

pytestmark = pytest.mark.workflow

CONFIG = {"start": "2024-06-27", "end": "2024-06-28", "datasets": "[stocks_daily,stocks_minute]", "rest_datasets": "[]"}
# Run-dependent sidecar fields: when, how long, and how many Qlib files a job had to write
# (a rerun after a crash finds part of the store already right and writes less).
VOLATILE = {"timestamp", "processing_time_sec", "files_written"}


def _normalise(obj):
    if isinstance(obj, dict):
        return {k: _normalise(v) for k, v in obj.items() if k not in VOLATILE}
    return obj


def lake_digest(lake: Path) -> dict[str, str]:
    """sha256 of every data and metadata file under the lake; JSON without its run-dependent
    fields. ``.quantmini/`` is run state (the run lock naming its process, the API rate-limit
    window), not data; so are the Qlib stores' lock and their records of input file stamps (the daily,
    minute and universe ``state.json``)."""
    out = {}
    for p in sorted(lake.rglob("*")):
        rel = p.relative_to(lake).as_posix()
        if not p.is_file() or p.name == ".lock" or p.relative_to(lake).parts[0] == ".quantmini":
            continue
        if rel.startswith("gold/qlib/.quantmini/") and p.name in ("lock", "state.json"):  # the stores' input stamps
            continue
        if rel.startswith("metadata/report/"):  # the report's plots draw run times: views, not data
            continue
        data = p.read_bytes()
        if p.suffix == ".json":
            data = json.dumps(_normalise(json.loads(data)), sort_keys=True).encode()
        out[p.relative_to(lake).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory, sandbox):
    wd = tmp_path_factory.mktemp("clean")
    run_workflow(wd, sandbox, config=CONFIG)
    return lake_digest(wd / "quantlake")


def _crashing_run(workdir: Path, sandbox, point: str) -> subprocess.CompletedProcess:
    cfg = {"s3_endpoint": sandbox.s3_endpoint, "rest_base_url": sandbox.rest_url, "days_back": 1, **CONFIG}
    cmd = snakemake_command(workdir=workdir, profile=REPO / "profiles" / "demo", config=cfg)
    # Own process group: the crash point kills Snakemake and every job, like kill -9 -PGID.
    return subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, start_new_session=True,
                          env=workflow_env({"QUANTMINI_CRASH_AT": point}))


@pytest.mark.parametrize("point", [p for p in POINTS if not p.startswith("silver.")])  # silver: test_workflow_rest
def test_sigkill_then_rerun_gives_the_clean_lake(tmp_path, sandbox, clean, point):
    crashed = _crashing_run(tmp_path, sandbox, point)
    assert crashed.returncode == -9, f"the run should have been killed at {point}: {crashed.stderr[-2000:]}"
    lake = tmp_path / "quantlake"
    # Nothing partial under a final name: every Parquet file reads whole, and every sidecar
    # that says success describes a complete file.
    import pyarrow.parquet as pq

    for p in (lake / "bronze").rglob("*.parquet"):
        pq.read_table(p)
    for p in (lake / "metadata").glob("bronze/*/*/*/*.json"):
        side = json.loads(p.read_text())
        if side["status"] == "success":
            part = Path(Lake(str(lake)).bronze(side["data_type"], side["date"]))
            assert pq.ParquetFile(part).metadata.num_rows == side["statistics"]["records"]
    # A killed Snakemake leaves its lock: a plain rerun stops on it, as the README's
    # "Recovering from a crash" says, and its two commands recover (the cron wrapper runs
    # the --unlock itself under its own flock).
    stopped = run_workflow(tmp_path, sandbox, config=CONFIG, check=False)
    assert stopped.returncode != 0 and "LockException" in stopped.stdout + stopped.stderr
    subprocess.run(snakemake_command(workdir=tmp_path, extra=["--unlock"]),
                   check=True, capture_output=True, env=workflow_env(), cwd=tmp_path)
    run_workflow(tmp_path, sandbox, config=CONFIG)
    got = lake_digest(lake)
    assert not [k for k in got if "/.tmp-" in "/" + k], "temporary files left behind"
    assert got == clean
