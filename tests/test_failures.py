"""A target that cannot be built: failed sidecar with the reason, nothing downstream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantmini.paths import Lake

from .conftest import S3_SECRET, run_workflow


def test_unpublished_flat_file_is_pending_and_fails_that_target_only(tmp_path, sandbox):
    # 2024-07-01 is a session the sandbox has not published.
    proc = run_workflow(tmp_path, sandbox, config={"start": "2024-06-28", "end": "2024-07-01"}, check=False)
    assert proc.returncode != 0
    lake = Lake(str(tmp_path / "quantlake"))
    side = json.loads(Path(lake.sidecar("landing", "stocks_daily", "2024-07-01")).read_text())
    assert side["status"] == "pending"
    assert "s3://flatfiles/us_stocks_sip/day_aggs_v1/2024/07/2024-07-01.csv.gz does not exist" in side["error"]
    assert not Path(lake.landing("stocks_daily", "2024-07-01")).exists()
    assert not Path(lake.bronze("stocks_daily", "2024-07-01")).exists()
    assert not Path(lake.sidecar("bronze", "stocks_daily", "2024-07-01")).exists()
    # keep-going: the other day is complete in bronze; the Qlib store waits for the whole
    # window (it is one update over every day held) and takes both days on the next run.
    assert json.loads(Path(lake.sidecar("bronze", "stocks_daily", "2024-06-28")).read_text())["status"] == "success"
    assert not Path(lake.qlib_receipt("stocks_daily")).exists()
    run_workflow(tmp_path, sandbox, config={"start": "2024-06-28", "end": "2024-06-28"})
    assert (tmp_path / "quantlake" / "gold" / "qlib" / "calendars" / "day.txt").read_text() == "2024-06-28\n"
    assert S3_SECRET not in proc.stderr + proc.stdout


@pytest.mark.parametrize("variable, config", [
    ("MASSIVE_S3_SECRET_KEY", {"date": "2024-06-28"}),
    ("MASSIVE_API_KEY", {"date": "2024-06-28", "datasets": "[]", "rest_datasets": "[news]"}),
])
def test_missing_credentials_named_before_anything_is_written(tmp_path, sandbox, variable, config):
    proc = run_workflow(tmp_path, sandbox, config=config, env={variable: ""}, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and f"credential {variable} is not set" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "quantlake").exists() and not (tmp_path / "logs").exists()


def test_missing_bucket_is_a_configuration_error_found_by_the_preflight(tmp_path, sandbox):
    proc = run_workflow(tmp_path, sandbox, config={"date": "2024-06-28", "s3_bucket": "nosuchbucket"}, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "config key 's3_bucket': bucket 'nosuchbucket' does not exist at " in lines[0]
    assert not (tmp_path / "quantlake" / "metadata").exists()  # no job ran: nothing reported as pending
    assert "Traceback" not in proc.stderr
