"""The lake's landing, bronze and silver layers in an object store (Snakemake's default
storage, snakemake-storage-plugin-s3) against the sandbox's S3 server: the same lake as a
run on disk, found by listing the store, never the local disk."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest

from quantmini.paths import Lake
from quantmini.sessions import sessions_ending

from .conftest import S3_KEY, S3_SECRET, run_workflow

pytestmark = pytest.mark.workflow

CONFIG = {"date": "2024-06-14", "days_back": 3, "rest_datasets": "[dividends,splits]"}
SESSIONS = [d.isoformat() for d in sessions_ending(dt.date.fromisoformat(CONFIG["date"]), CONFIG["days_back"])]
STORED = ("landing", "bronze", "silver")


def _s3(sandbox):
    import boto3

    return boto3.client("s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY,
                        aws_secret_access_key=S3_SECRET, region_name="us-east-1")


def _storage_args(sandbox, bucket: str) -> list[str]:
    return ["--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{bucket}/lakes/one",
            "--storage-s3-endpoint-url", sandbox.s3_endpoint]


def _store_env() -> dict:
    return {"SNAKEMAKE_STORAGE_S3_ACCESS_KEY": S3_KEY, "SNAKEMAKE_STORAGE_S3_SECRET_KEY": S3_SECRET}


def _objects(s3, bucket: str) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lakes/one/quantlake/"):
        for obj in page.get("Contents", []):
            out[obj["Key"][len("lakes/one/"):]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def _table(data: bytes):
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return table.drop_columns([c for c in ("pulled_at",) if c in table.column_names])


@pytest.fixture(scope="module")
def store_and_local(sandbox, tmp_path_factory):
    s3 = _s3(sandbox)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    local = tmp_path_factory.mktemp("on_disk")
    stored = tmp_path_factory.mktemp("in_store")
    run_workflow(local, sandbox, config=CONFIG)
    proc = run_workflow(stored, sandbox, *_storage_args(sandbox, bucket), config=CONFIG, env=_store_env())
    (stored / "run.out").write_text(proc.stdout + proc.stderr)
    return s3, bucket, local, stored


def _assert_store_equals_disk(objects: dict[str, bytes], local, days: int = 3) -> None:
    """The store's data files equal the run on disk's; ``days``: the store run's last sessions
    (a shorter window than the run on disk, for the slow stand-in scheduler)."""
    on_disk = {p.relative_to(local).as_posix(): p.read_bytes() for p in (local / "quantlake").rglob("*")
               if p.is_file() and p.relative_to(local / "quantlake").parts[0] in STORED}
    lake = Lake("quantlake")
    for day in SESSIONS[: len(SESSIONS) - days]:
        on_disk.pop(lake.landing("stocks_daily", day))
        on_disk.pop(lake.bronze("stocks_daily", day))
    assert set(on_disk) == {k for k in objects if k.split("/")[1] in STORED}
    assert len(on_disk) == days + days + 2 + 4  # landing, bronze days, two pulls, four silver files
    for path, data in on_disk.items():
        if path.startswith(("quantlake/landing/", "quantlake/bronze/stocks_daily/")):
            assert objects[path] == data, path  # flat files and their conversions: byte for byte
        else:  # REST pulls and what silver builds from them: equal but for when they were pulled
            assert _table(objects[path]).equals(_table(data)), path


def test_store_holds_the_same_lake_as_a_run_on_disk(store_and_local):
    s3, bucket, local, stored = store_and_local
    _assert_store_equals_disk(_objects(s3, bucket), local)
    # Nothing of those layers on the store run's disk: Snakemake's local copies are gone.
    assert not [p for layer in STORED for p in (stored / "quantlake" / layer).rglob("*") if p.is_file()]


def test_jobs_on_the_stand_in_scheduler_write_to_the_store(store_and_local, sandbox, tmp_path):
    """Remote-style jobs (queued, their own directory and environment: profiles/cluster) fill
    the store with the same lake, sidecars included, and a rerun plans nothing."""
    import subprocess

    from .conftest import cluster_cmd, workflow_env

    s3, _, local, _ = store_and_local
    bucket = f"cluster-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # One session, not the on-disk run's three: each job here is a whole Snakemake process.
    cmd = cluster_cmd(tmp_path, sandbox, {**CONFIG, "days_back": 1}, *_storage_args(sandbox, bucket))
    env = workflow_env({**_store_env(), "QUANTMINI_SCHEDULER_DELAY": "0.3"})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    objects = _objects(s3, bucket)
    _assert_store_equals_disk(objects, local, days=1)
    sidecars = [k for k in objects if k.startswith("quantlake/metadata/")]
    assert len(sidecars) == 1 + 3 + 4 and all(json.loads(objects[k])["status"] == "success" for k in sidecars)
    rerun = subprocess.run([*cmd, "-n"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_sidecars_travel_with_their_layer(store_and_local):
    s3, bucket, local, stored = store_and_local
    objects = _objects(s3, bucket)
    sidecars = sorted(p.relative_to(local).as_posix() for layer in STORED
                      for p in (local / "quantlake" / "metadata" / layer).rglob("*.json") if "watermark" not in p.name)
    assert len(sidecars) == 3 + 5 + 4
    for path in sidecars:
        mine, theirs = json.loads(objects[path]), json.loads((local / path).read_text())
        assert (mine["status"], mine["statistics"]["records"]) == ("success", theirs["statistics"]["records"]), path
    # The summary the controller writes reads them: the same jobs and records per dataset.
    def rows(root):
        lines = (root / "quantlake" / "metadata" / "summary.tsv").read_text().splitlines()[1:]
        return sorted(tuple(c for i, c in enumerate(line.split("\t")) if i in (0, 1, 2, 3, 7, 9)) for line in lines)

    assert rows(stored) == rows(local) and len(rows(local)) == 8  # with the Qlib universes


def test_the_summary_waits_for_the_data_but_never_downloads_it(store_and_local):
    """The summary reads sidecars: its stored inputs order it and rerun it, nothing more."""
    out = (store_and_local[3] / "run.out").read_text()
    block = out[out.index("localrule metadata_summary:"):]
    inputs = block[:block.index("\n    output:")]
    assert inputs.count("(only provide storage uri)") == 3 + 2 + 4  # bronze days, pulls, silver
    assert "retrieve from storage" not in inputs


def test_gold_stays_on_disk_and_equals_the_run_on_disk(store_and_local):
    s3, bucket, local, stored = store_and_local
    assert not [k for k in _objects(s3, bucket) if k.startswith("quantlake/gold/")]
    gold = sorted(p.relative_to(local).as_posix() for p in (local / "quantlake" / "gold").rglob("*")
                  if p.is_file() and ".quantmini" not in p.parts)
    assert len(gold) > 300 and any(g.endswith("day=14/part.parquet") for g in gold)
    for path in gold:
        assert (stored / path).read_bytes() == (local / path).read_bytes(), path


def test_a_rerun_against_the_store_plans_nothing(store_and_local, sandbox):
    s3, bucket, local, stored = store_and_local
    proc = run_workflow(stored, sandbox, *_storage_args(sandbox, bucket), "-n", config=CONFIG, env=_store_env())
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    # The held lake is found in the store: a new day on top of it plans what it plans on disk.
    new_day = {**CONFIG, "date": "2024-06-17", "days_back": 1, "rest_datasets": "[]"}
    plan = run_workflow(stored, sandbox, *_storage_args(sandbox, bucket), "-n", config=new_day, env=_store_env())
    on_disk = run_workflow(local, sandbox, "-n", config=new_day)
    stats = _job_stats(plan.stdout)
    assert stats == _job_stats(on_disk.stdout), plan.stdout[-3000:]
    assert stats["landing_flatfile"] == stats["bronze_flatfile"] == 1 and "bronze_rest" not in stats


def _job_stats(out: str) -> dict[str, int]:
    lines = out[out.index("Job stats:"):].splitlines()[3:]
    stats = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        stats[parts[0]] = int(parts[1])
    return stats


def test_an_absolute_lake_root_is_refused_in_one_line(sandbox, tmp_path):
    proc = run_workflow(tmp_path, sandbox, *_storage_args(sandbox, "any-bucket"), "-n", config=CONFIG,
                        env={**_store_env(), "QUANTLAKE_ROOT": str(tmp_path / "lake")}, check=False)
    assert proc.returncode != 0
    assert "the lake root must be a relative path to live in an object store" in proc.stderr
    assert "Traceback" not in proc.stderr and S3_SECRET not in proc.stderr + proc.stdout


def test_the_commands_read_a_stored_lake(store_and_local, sandbox, tmp_path):
    """``quantmini metadata`` on a machine with none of the lake: the sidecars come from the store."""
    import subprocess

    from .conftest import BIN, workflow_env

    s3, bucket, local, stored = store_and_local
    env = workflow_env({**_store_env(), "QUANTMINI_LAKE_STORE": f"s3://{bucket}/lakes/one",
                        "QUANTMINI_LAKE_STORE_ENDPOINT": sandbox.s3_endpoint})

    def summary(cwd, env):
        proc = subprocess.run([str(BIN / "quantmini"), "metadata", "--json"], capture_output=True, text=True, env=env,
                              cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        return {(r["layer"], r["data_type"]): (r["total"], r["success"], r["records"], r["watermark"])
                for r in json.loads(proc.stdout) if r["layer"] in STORED}

    remote = summary(tmp_path, env)
    assert remote == summary(local, workflow_env()) and len(remote) == 5  # landing, 3 bronze, silver
    env["QUANTMINI_LAKE_STORE_ENDPOINT"] = "http://127.0.0.1:1"
    proc = subprocess.run([str(BIN / "quantmini"), "metadata"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"quantmini metadata: lake object store s3://{bucket}/lakes/one: Could not connect")
