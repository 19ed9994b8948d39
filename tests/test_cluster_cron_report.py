"""How users run it: the cluster profile, the cron wrapper's lock, the HTML report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from quantmini.command import snakemake_command
from quantmini.paths import Lake

from .conftest import API_KEY, REPO, S3_SECRET, cluster_cmd, run_workflow, workflow_env

pytestmark = pytest.mark.workflow


CLUSTER = REPO / "profiles" / "cluster"
CLUSTER_CONFIG = {"date": "2024-06-14", "days_back": 2, "rest_datasets": "[dividends,splits]"}


def _cluster_cmd(workdir: Path, sandbox) -> list[str]:
    return cluster_cmd(workdir, sandbox, CLUSTER_CONFIG)


def _cluster_env() -> dict:
    return workflow_env({"QUANTMINI_SCHEDULER_DELAY": "0.3"})


def _lake_digests(root: Path) -> dict[str, str]:
    """sha256 of every lake file; REST pulls and silver (which carry ``pulled_at``) as their
    rows without it; sidecars as status and records (they time the job); run state aside."""
    import hashlib

    import pyarrow.parquet as pq

    out = {}
    for p in sorted((root / "quantlake").rglob("*")):
        rel = p.relative_to(root / "quantlake").as_posix()
        if not p.is_file() or ".quantmini" in p.parts or rel.startswith(("metadata/quality", "metadata/report")):
            continue
        if rel.startswith("metadata/") and rel.endswith(".json"):
            side = json.loads(p.read_text())
            out[rel] = str((side.get("status"), side.get("statistics", {}).get("records"))) if "status" in side \
                else hashlib.sha256(json.dumps({k: v for k, v in side.items() if "time" not in k}).encode()).hexdigest()
        elif rel.startswith(("bronze/dividends/", "bronze/splits/", "silver/")):
            table = pq.read_table(p)
            out[rel] = str(table.drop_columns(["pulled_at"]).to_pylist())
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line holds ``text`` (from /proc, no procps)."""
    out = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                out.append(int(cmdline.parent.name))
        except OSError:
            continue
    return out


def _spool_jobs(workdir: Path) -> dict[str, tuple[str, str]]:
    """The stand-in scheduler's jobs: id -> (state, jobscript)."""
    spool = workdir / ".quantmini-scheduler"
    if not spool.is_dir():
        return {}
    return {d.name: ((d / "state").read_text().strip(), (d / "jobscript.sh").read_text())
            for d in spool.iterdir() if (d / "state").exists() and (d / "jobscript.sh").exists()}


@pytest.fixture(scope="module")
def local_lake(sandbox, tmp_path_factory) -> dict[str, str]:
    """The digests of the lake a local run of the cluster tests' window builds."""
    local = tmp_path_factory.mktemp("local_run")
    run_workflow(local, sandbox, config=CLUSTER_CONFIG)
    return _lake_digests(local)


def test_stand_in_scheduler_builds_the_local_lake_and_a_cancelled_job_is_rerun(tmp_path, quiet_sandbox, local_lake):
    """Jobs queue, start later in their own directory with only the exported environment; a
    job the scheduler cancels fails the run, and the next run builds what it left: the lake
    is the lake a local run builds, and no credential reaches a log. (One pair of cluster
    runs checks both: each cluster run costs half a minute of queued jobs.)"""
    import time

    sandbox = quiet_sandbox
    remote = tmp_path / "remote"
    remote.mkdir()
    sandbox.faults({"kind": "slow", "delay": 25, "path": "/v3/reference/splits"})
    run = subprocess.Popen(_cluster_cmd(remote, sandbox), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=_cluster_env(), cwd=remote)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:  # the splits pull, running on its node
        victim = next((i for i, (state, script) in _spool_jobs(remote).items()
                       if state == "RUNNING" and '"rest_dataset": "splits"' in script), None)
        time.sleep(0.2)
    assert victim, "the splits job never ran"
    # cancelled mid-request: the slow answer has begun (else the rerun's request would get it)
    while not sandbox.calls()["faults"]["fired"].get("slow"):
        assert time.monotonic() < deadline, "the splits job never asked for its pull"
        time.sleep(0.1)
    cancel = subprocess.run([str(CLUSTER / "cancel.sh"), victim], capture_output=True, text=True, cwd=remote)
    assert cancel.returncode == 0, cancel.stderr
    out, err = run.communicate(timeout=300)
    assert run.returncode != 0 and "Error in rule bronze_rest" in out + err
    assert (remote / ".quantmini-scheduler" / victim / "state").read_text().strip() == "CANCELLED"
    lake = Lake(str(remote / "quantlake"))
    pull = lake.bronze_rest("splits", "2024-06-14", "2024-05-15_2024-09-12")
    assert not Path(pull).exists()

    rerun = subprocess.run(_cluster_cmd(remote, sandbox), capture_output=True, text=True, env=_cluster_env(),
                           cwd=remote)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert Path(pull).exists() and _lake_digests(remote) == local_lake and len(local_lake) > 300
    jobs = _spool_jobs(remote)
    assert len(jobs) >= 2 + 2 + 2 + 1 + 1
    assert {i: state for i, (state, _) in jobs.items() if state != "COMPLETED"} == {victim: "CANCELLED"}
    for job in (remote / ".quantmini-scheduler").iterdir():  # its own directory, its own environment
        assert (job / "work").is_dir() and not (job / "environment").exists()
    logs = "".join(p.read_text(errors="replace") for p in remote.rglob("*.log")) + out + err + rerun.stderr
    assert API_KEY not in logs and S3_SECRET not in logs


def test_cron_wrapper_refuses_a_second_run(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    env = workflow_env({"QUANTLAKE_ROOT": str(lake)})
    holder = subprocess.Popen(["flock", str(lake / ".quantmini-run.lock"), "sleep", "30"])
    try:
        import time

        deadline = time.monotonic() + 10  # until the holder has the lock (flock -n then fails)
        while subprocess.run(["flock", "-n", str(lake / ".quantmini-run.lock"), "true"]).returncode == 0:
            assert time.monotonic() < deadline, "the holder never took the lock"
            time.sleep(0.05)
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


def test_cron_wrapper_keeps_the_newest_run_logs_only(tmp_path):
    """Found by the soak: logs/runs and .snakemake/log gain a file every night, forever. The
    wrapper keeps the newest QUANTMINI_KEEP_RUN_LOGS of each (oldest removed first); other
    files there are left alone; a bad value is refused before anything is removed."""
    import os
    import shutil

    for item in ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    runs, smk = tmp_path / "logs" / "runs", tmp_path / ".snakemake" / "log"
    for folder in (runs, smk):
        folder.mkdir(parents=True)
        for i in range(6):
            f = folder / f"2024010{i}T000000Z.log"
            f.write_text("x")
            os.utime(f, (1_700_000_000 + i, 1_700_000_000 + i))
    (runs / "notes.txt").write_text("kept")
    env = workflow_env({"QUANTLAKE_ROOT": str(tmp_path / "lake"), "QUANTMINI_KEEP_RUN_LOGS": "abc"})
    wrapper = str(tmp_path / "scripts" / "daily_update.sh")
    proc = subprocess.run([wrapper, "--date", "2024-06-14", "--", "-n"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "QUANTMINI_KEEP_RUN_LOGS must be a whole number, got 'abc'" in proc.stderr
    assert len(list(smk.iterdir())) == 6
    env["QUANTMINI_KEEP_RUN_LOGS"] = "3"
    proc = subprocess.run([wrapper, "--date", "2024-06-14", "--", "-n"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the three newest old ones were kept before this run added its own log
    assert sorted(p.name for p in smk.iterdir() if p.name.startswith("2024"))[-3:] == \
        ["20240103T000000Z.log", "20240104T000000Z.log", "20240105T000000Z.log"]
    assert not (smk / "20240100T000000Z.log").exists() and not (runs / "20240102T000000Z.log").exists()
    assert (runs / "notes.txt").read_text() == "kept"
    assert len([p for p in runs.iterdir() if p.suffix == ".log"]) == 4  # three kept + this run's


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
    cmd = snakemake_command(workdir=tmp_path, profile=REPO / "profiles" / "slurm", extra=["-n"],
                            config=["datasets=[stocks_daily]", "start=2023-01-03", "end=2023-03-31", "rest_datasets=[]",
                                    "backfill_batch_sessions=0",  # per-session jobs: a batch is one job already
                                    f"lake_root={tmp_path / 'lake'}"])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "slurm_partition=normal" in out and "runtime=" in out
    groups = re.findall(r"Group job (\w+) \(", out)
    # 62 sessions: landing+bronze of each session in 3 submissions, the gold sessions in 3
    assert sorted(groups) == ["flatfiles"] * 3 + ["gold"] * 3, groups
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))
    assert counts["landing_flatfile"] == "62" and counts["bronze_flatfile"] == "62" and counts["gold_stocks_daily"] == "62"


def test_a_queued_job_cancelled_never_starts_and_leaves_no_credentials(tmp_path):
    """The stand-in's queue: a cancelled job never runs, its stored environment is gone and
    Snakemake's status query reads it as failed."""
    import os
    import time

    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path / 'ran'}\n")
    env = dict(os.environ, QUANTMINI_SCHEDULER_DELAY="3", QUANTMINI_SCHEDULER_SPOOL=str(tmp_path / "spool"),
               MASSIVE_API_KEY=API_KEY)
    job = subprocess.run([str(CLUSTER / "submit.sh"), str(script)], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    spool = tmp_path / "spool" / job
    assert (spool / "environment").stat().st_mode & 0o077 == 0 and API_KEY in (spool / "environment").read_text()
    status = [str(CLUSTER / "status.sh"), job]
    assert subprocess.run(status, capture_output=True, text=True, env=env).stdout.strip() == "running"
    subprocess.run([str(CLUSTER / "cancel.sh"), job], check=True, env=env)
    # the queued job's runner is gone (cancel kills its process group) before its start time
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(spool)):
        assert time.monotonic() < deadline, "the cancelled job's runner is still alive"
        time.sleep(0.05)
    assert not (tmp_path / "ran").exists() and not (spool / "environment").exists()
    assert (spool / "state").read_text().strip() == "CANCELLED"
    assert subprocess.run(status, capture_output=True, text=True, env=env).stdout.strip() == "failed"
