"""Every data file of the lake is a pure function of its inputs: two clean builds of the same
window, all four flat-file datasets and the corporate-action pulls (so silver and the gold
adjustments too), are byte-identical file for file, in every layer.

The clock is pinned (QUANTMINI_NOW), as a replayed night pins it: the REST pulls record when
they were made (``pulled_at``), which is data. Compared as the crash tests compare a rerun
with a clean run (``lake_digest``): sidecars without their timings, the report's plots of
run times and run state (locks, the API rate-limit window, the Qlib store's input stamps) aside.
"""

from __future__ import annotations

import pytest

from .conftest import run_workflow
from .test_crash_recovery import lake_digest

pytestmark = [pytest.mark.workflow, pytest.mark.heavy]

CONFIG = {"start": "2024-06-27", "end": "2024-06-28", "pull_date": "2024-06-28",
          "datasets": "[stocks_daily,stocks_minute,options_daily,options_minute]", "rest_datasets": "[splits,dividends]"}
CLOCK = {"QUANTMINI_NOW": "2024-07-01T12:00:00+00:00"}  # after 06-28's files were due


def test_two_clean_builds_are_byte_identical_in_every_layer(tmp_path, quiet_sandbox):
    lakes = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        run_workflow(workdir, quiet_sandbox, config=CONFIG, env=CLOCK)
        lakes.append(lake_digest(workdir / "quantlake"))
    first, second = lakes
    layers = {k.split("/")[0] for k in first}
    assert {"landing", "bronze", "silver", "gold", "metadata"} <= layers
    for dataset in ("stocks_daily", "stocks_minute", "options_daily", "options_minute", "splits", "dividends"):
        assert any(k.startswith(f"bronze/{dataset}/") for k in first), dataset
    assert any(k.startswith("gold/qlib/features/") for k in first)
    assert any(k.startswith("silver/corporate_actions/") for k in first)
    differ = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
    assert not differ, differ[:20]
