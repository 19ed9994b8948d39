"""Every data file of the lake is a pure function of its inputs: two clean builds of the same
window, all four flat-file datasets and the corporate-action pulls (so silver and the gold
adjustments too), are byte-identical file for file, in every layer.

The clock is pinned (QUANTMINI_NOW), as a replayed night pins it: the REST pulls record when
they were made (``pulled_at``), which is data. What is not data is left out: the sidecars'
timings (compared by status and records), the report's plots of run times, and run state
(``.quantmini/``: locks, the API rate-limit window, the Qlib store's record of input stamps).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from .conftest import run_workflow

pytestmark = [pytest.mark.workflow, pytest.mark.heavy]

CONFIG = {"start": "2024-06-27", "end": "2024-06-28", "pull_date": "2024-06-28",
          "datasets": "[stocks_daily,stocks_minute,options_daily,options_minute]", "rest_datasets": "[splits,dividends]"}
CLOCK = {"QUANTMINI_NOW": "2024-07-01T12:00:00+00:00"}  # after 06-28's files were due


def lake_files(lake: Path) -> dict[str, str]:
    """sha256 of every data file; a sidecar as its status and record count."""
    out = {}
    for p in sorted(lake.rglob("*")):
        rel = p.relative_to(lake)
        if not p.is_file() or ".quantmini" in rel.parts or p.name == ".lock" or rel.as_posix().startswith("metadata/report/"):
            continue
        if rel.parts[0] == "metadata":
            if p.suffix == ".json" and "watermark" not in p.name:
                side = json.loads(p.read_text())
                out[rel.as_posix()] = f"{side.get('status')} {side.get('statistics', {}).get('records')}"
            continue
        out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_two_clean_builds_are_byte_identical_in_every_layer(tmp_path, quiet_sandbox):
    lakes = []
    for name in ("first", "second"):
        workdir = tmp_path / name
        workdir.mkdir()
        run_workflow(workdir, quiet_sandbox, config=CONFIG, env=CLOCK)
        lakes.append(lake_files(workdir / "quantlake"))
    first, second = lakes
    layers = {k.split("/")[0] for k in first}
    assert {"landing", "bronze", "silver", "gold", "metadata"} <= layers
    for dataset in ("stocks_daily", "stocks_minute", "options_daily", "options_minute", "splits", "dividends"):
        assert any(k.startswith(f"bronze/{dataset}/") for k in first), dataset
    assert any(k.startswith("gold/qlib/features/") for k in first)
    assert any(k.startswith("silver/corporate_actions/") for k in first)
    differ = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
    assert not differ, differ[:20]
