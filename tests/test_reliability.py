"""Issue-5 rows not covered elsewhere: unreachable endpoints, two runs on one lake from two
working directories, a lake on a filesystem that fills up, and secrets in an HTML report."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from quantmini.command import snakemake_command
from quantmini.sandbox.control import free_port

from .conftest import API_KEY, REPO, S3_KEY, S3_SECRET, run_workflow, workflow_env
from .test_crash_recovery import lake_digest

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("key", ["s3_endpoint", "rest_base_url"])
def test_unreachable_endpoint_is_one_line_and_nothing_is_written(tmp_path, sandbox, key):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = {"date": "2024-06-28", key: dead}
    if key == "rest_base_url":
        cfg.update(datasets="[]", rest_datasets="[news]")
    proc = run_workflow(tmp_path, sandbox, config=cfg, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and f"config key '{key}': cannot reach {dead}" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "quantlake").exists() and not (tmp_path / "logs").exists()
    assert not (tmp_path / ".snakemake" / "locks").exists() or not any((tmp_path / ".snakemake" / "locks").iterdir())


def _command(workdir: Path, sandbox, lake: Path, **cfg) -> list[str]:
    conf = {"s3_endpoint": sandbox.s3_endpoint, "rest_base_url": sandbox.rest_url, "lake_root": str(lake),
            "rate_limit_calls": 0, "days_back": 1, **cfg}
    return snakemake_command(workdir=workdir, profile=REPO / "profiles" / "demo", config=conf)


def test_a_second_run_on_the_same_lake_from_another_directory_is_refused(tmp_path, sandbox):
    lake = tmp_path / "lake"
    sandbox.clear_faults()
    sandbox.faults({"kind": "slow", "delay": 8, "path": "/v2/reference/news"})
    cfg = {"date": "2024-06-28", "datasets": "[stocks_daily]", "rest_datasets": "[news]", "rest_timeout_s": 30}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = subprocess.Popen(_command(tmp_path / "a", sandbox, lake, **cfg), env=workflow_env(), cwd=tmp_path / "a",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (lake / ".quantmini" / "run.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        second = subprocess.run(_command(tmp_path / "b", sandbox, lake, **cfg), env=workflow_env(), cwd=tmp_path / "b",
                                capture_output=True, text=True)
        assert second.returncode != 0
        lines = [line for line in second.stderr.splitlines() if line.startswith("quantmini:")]
        assert len(lines) == 1 and f"another run is using the lake {lake}" in lines[0], second.stderr[-2000:]
        out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
        sandbox.clear_faults()
    # The first run's lake is whole; a rerun from the other directory now proceeds and has nothing to do.
    again = subprocess.run(_command(tmp_path / "b", sandbox, lake, **cfg), env=workflow_env(), cwd=tmp_path / "b",
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not list(lake.rglob(".tmp-*"))


@pytest.fixture()
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount(8): cannot make a small filesystem for the disk-full test")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


DISK_CFG = {"start": "2024-06-25", "end": "2024-06-27", "datasets": "[stocks_daily]", "rest_datasets": "[]"}


def test_disk_full_mid_run_fails_clearly_leaves_nothing_partial_and_converges(tmp_path, sandbox, small_fs):
    lake = small_fs / "lake"
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(_command(work, sandbox, lake, **DISK_CFG), env=workflow_env(), cwd=work, capture_output=True, text=True)
    assert proc.returncode != 0
    logs = "".join(p.read_text(errors="replace") for p in (work / "logs").rglob("*.log"))
    assert "No space left on device" in logs + proc.stderr
    assert not list(lake.rglob(".tmp-*"))
    import json

    import pyarrow.parquet as pq

    for part in lake.rglob("*.parquet"):  # nothing partial under a final name
        pq.read_metadata(part)
    for sidecar in (lake / "metadata").rglob("????-??-??.json"):
        if "quality" in sidecar.relative_to(lake / "metadata").parts[:1]:
            continue  # check reports, not job records
        record = json.loads(sidecar.read_text())
        if record["status"] == "success" and record["layer"] == "bronze":
            assert any((lake / "bronze" / record["data_type"]).rglob("part.parquet"))
        if record["status"] == "failed":
            assert "No space left on device" in record["error"]
    # Free space, rerun: the same lake as a clean run on a roomy disk.
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_fs)], check=True)
    proc = subprocess.run(_command(work, sandbox, lake, **DISK_CFG), env=workflow_env(), cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean = tmp_path / "clean"
    clean.mkdir()
    subprocess.run(_command(clean, sandbox, clean / "lake", **DISK_CFG), env=workflow_env(), cwd=clean, check=True, capture_output=True)
    assert lake_digest(lake) == lake_digest(clean / "lake")


def test_html_report_of_a_failing_run_holds_no_secret(tmp_path, sandbox):
    sandbox.clear_faults()
    sandbox.faults({"kind": "500", "count": 50, "path": "/v3/reference/splits"})
    try:
        cfg = {"date": "2024-06-28", "rest_datasets": "[splits,news]", "rest_auth": "query", "rest_max_retries": 1,
               "rest_backoff_factor": 0.01}
        failing = run_workflow(tmp_path, sandbox, config=cfg, check=False)
        assert failing.returncode != 0
    finally:
        sandbox.clear_faults()
    run_workflow(tmp_path, sandbox, config=cfg)  # the rerun completes the failed pull
    report = tmp_path / "report.html"
    run_workflow(tmp_path, sandbox, "--report", str(report), config=cfg)
    html = report.read_bytes()
    assert len(html) > 10_000
    for secret in (API_KEY, S3_KEY, S3_SECRET):
        assert secret.encode() not in html
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("mode, words", [("unsupported", "does not support file locks"),
                                         ("broken", "ignores file locks")])
def test_a_lake_without_working_locks_is_refused_in_one_line(tmp_path, sandbox, mode, words):
    """The flock probe at start: a filesystem that refuses flock, or accepts it without
    enforcing it (simulated: QUANTMINI_FLOCK), stops the run before any job, in one line."""
    from .conftest import run_workflow

    proc = run_workflow(tmp_path, sandbox, config={"date": "2024-06-14"}, env={"QUANTMINI_FLOCK": mode}, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and words in lines[0] and "one job group on one node" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "quantlake" / "bronze").exists() and "Traceback" not in proc.stderr
    ok = run_workflow(tmp_path, sandbox, "-n", config={"date": "2024-06-14"})  # a real filesystem: locks work
    assert ok.returncode == 0


def test_the_probe_sees_a_real_lock_held_by_another_process(tmp_path):
    from quantmini import guard

    guard.probe_locks(str(tmp_path))  # tmpfs honours flock: no error
    assert (tmp_path / ".quantmini" / "flock-probe").exists()


S3_FAULT_KEY = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-14.csv.gz"


def _download(sandbox, monkeypatch, dest: Path) -> int:
    from quantmini.flatfiles import S3Settings, download

    monkeypatch.setenv("MASSIVE_S3_ACCESS_KEY", S3_KEY)
    monkeypatch.setenv("MASSIVE_S3_SECRET_KEY", S3_SECRET)
    return download(S3Settings.from_config({"s3_endpoint": sandbox.s3_endpoint}), S3_FAULT_KEY, dest)


@pytest.mark.parametrize("kind", ["500", "503", "truncate", "reset", "slow"])
def test_a_flat_file_download_survives_s3_errors_and_dropped_connections(tmp_path, quiet_sandbox, monkeypatch, kind):
    """Two faults in a row on the file (S3 InternalError or SlowDown, a body cut short, a
    connection reset half-way through, a slow answer): the landing download retries (botocore's
    standard mode, s3transfer's re-reads) and lands the same bytes, nothing else."""
    clean = tmp_path / "clean" / "file.csv.gz"
    _download(quiet_sandbox, monkeypatch, clean)
    quiet_sandbox.s3_faults({"kind": kind, "count": 2, "delay": 1, "path": f"/flatfiles/{S3_FAULT_KEY}"})
    got = tmp_path / "faulted" / "file.csv.gz"
    assert _download(quiet_sandbox, monkeypatch, got) == clean.stat().st_size
    assert got.read_bytes() == clean.read_bytes()
    assert quiet_sandbox.s3_fault_counts() == {"queued": 0, "fired": {kind: 2}}
    assert sorted(p.name for p in got.parent.iterdir()) == ["file.csv.gz"]


@pytest.mark.parametrize("kind,words", [("403", "access denied"), ("500", "S3 error 500")])
def test_a_flat_file_s3_keeps_refusing_fails_in_one_line_and_lands_nothing(tmp_path, quiet_sandbox, monkeypatch, kind,
                                                                         words):
    from quantmini.flatfiles import FlatFileError

    quiet_sandbox.s3_faults({"kind": kind, "count": 20, "path": f"/flatfiles/{S3_FAULT_KEY}"})
    dest = tmp_path / "landing" / "file.csv.gz"
    with pytest.raises(FlatFileError) as err:
        _download(quiet_sandbox, monkeypatch, dest)
    assert f"s3://flatfiles/{S3_FAULT_KEY}" in str(err.value) and words in str(err.value)
    assert "\n" not in str(err.value) and S3_SECRET not in str(err.value)
    assert not dest.parent.exists() or not list(dest.parent.iterdir())
