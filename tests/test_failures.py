"""A target that cannot be built: failed sidecar with the reason, nothing downstream."""

from __future__ import annotations

import json
from pathlib import Path

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
    # keep-going: the other day is complete.
    assert json.loads(Path(lake.sidecar("gold", "stocks_daily_qlib", "2024-06-28")).read_text())["status"] == "success"
    assert S3_SECRET not in proc.stderr + proc.stdout


def test_missing_credentials_named(tmp_path, sandbox):
    proc = run_workflow(tmp_path, sandbox, config={"date": "2024-06-28"}, env={"MASSIVE_S3_SECRET_KEY": ""}, check=False)
    assert proc.returncode != 0
    side = json.loads(Path(Lake(str(tmp_path / "quantlake")).sidecar("landing", "stocks_daily", "2024-06-28")).read_text())
    assert side["status"] == "failed" and "MASSIVE_S3_SECRET_KEY is not set" in side["error"]
