"""How users run it: the cluster profile, the cron wrapper's lock, the HTML report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from quantmini.paths import Lake

from .conftest import REPO, SNAKEMAKE, run_workflow, workflow_env

pytestmark = pytest.mark.workflow


def test_cluster_profile_runs_the_same_workflow(tmp_path, sandbox):
    cmd = [
        SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
        "--profile", str(REPO / "profiles" / "cluster"),
        "--cluster-generic-submit-cmd", str(REPO / "profiles" / "cluster" / "submit.sh"),
        "--latency-wait", "5",
        "--config", f"s3_endpoint={sandbox.s3_endpoint}", f"rest_base_url={sandbox.rest_url}", "date=2024-06-14",
        "datasets=[stocks_daily]", "rest_datasets=[]",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lake = Lake(str(tmp_path / "quantlake"))
    side = json.loads(Path(lake.sidecar("gold", "stocks_daily_qlib", "2024-06-14")).read_text())
    assert side["status"] == "success" and side["statistics"]["records"] > 250
    assert (tmp_path / "quantlake" / "gold" / "qlib" / "calendars" / "day.txt").read_text() == "2024-06-14\n"


def test_cron_wrapper_refuses_a_second_run(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    env = workflow_env({"QUANTLAKE_ROOT": str(lake)})
    holder = subprocess.Popen(["flock", str(lake / ".quantmini-run.lock"), "sleep", "30"])
    try:
        import time

        time.sleep(0.5)
        proc = subprocess.run([str(REPO / "scripts" / "daily_update.sh"), "--", "-n"], capture_output=True, text=True, env=env)
        assert proc.returncode == 75 and "another quantmini run holds" in proc.stderr
    finally:
        holder.kill()


def test_cron_wrapper_clears_a_stale_snakemake_lock(tmp_path):
    """After a killed run, Snakemake's lock stays; under the wrapper's flock it is stale."""
    import shutil

    for item in ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(str(tmp_path / "quantlake" / "x") + "\n")
    env = workflow_env({"QUANTLAKE_ROOT": str(tmp_path / "lake")})
    proc = subprocess.run([str(tmp_path / "scripts" / "daily_update.sh"), "--date", "2024-06-14", "--", "-n"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "clearing a stale Snakemake lock" in proc.stderr
    assert not any(locks.iterdir())


def test_cron_wrapper_rejects_unknown_argument():
    proc = subprocess.run([str(REPO / "scripts" / "daily_update.sh"), "--dayz", "3"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown argument '--dayz'" in proc.stderr


def test_html_report(tmp_path, sandbox):
    run_workflow(tmp_path, sandbox, config={"date": "2024-06-14"})
    report = tmp_path / "report.html"
    run_workflow(tmp_path, sandbox, "--report", str(report), config={"date": "2024-06-14"})
    text = report.read_text()
    assert report.stat().st_size > 10000 and "summary.tsv" in text


def test_slurm_profile_resolves_and_groups_the_sessions(tmp_path):
    """`snakemake -n --profile profiles/slurm` with the SLURM executor plugin installed: the
    per-session jobs go out as group jobs of 25 sessions (no SLURM needed for a dry run)."""
    import re

    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm is a dependency")
    cmd = [SNAKEMAKE, "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--profile", str(REPO / "profiles" / "slurm"),
           "--config", "datasets=[stocks_daily]", "start=2023-01-03", "end=2023-03-31", "rest_datasets=[]",
           f"lake_root={tmp_path / 'lake'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "slurm_partition=normal" in out and "runtime=" in out
    groups = re.findall(r"Group job (\w+) \(", out)
    # 62 sessions: landing+bronze of each session in 3 submissions, the gold sessions in 3
    assert sorted(groups) == ["flatfiles"] * 3 + ["gold"] * 3, groups
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts["landing_flatfile"] == "62" and counts["bronze_flatfile"] == "62" and counts["gold_stocks_daily"] == "62"
