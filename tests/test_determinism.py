"""Every data file of the lake is a pure function of its inputs: two clean builds of the same
window, all four flat-file datasets and the corporate-action pulls (so silver and the gold
adjustments too), are byte-identical file for file, in every layer; so is a run killed
mid-silver or mid-Qlib update and then rerun.

The clock is pinned (QUANTMINI_NOW), as a replayed night pins it: the REST pulls record when
they were made (``pulled_at``), which is data. Compared as the crash tests compare a rerun
with a clean run (``lake_digest``): sidecars without their timings, the report's plots of
run times and run state (locks, the API rate-limit window, the Qlib store's input stamps) aside.
"""

from __future__ import annotations

import pytest

import subprocess

from quantmini.command import snakemake_command

from .conftest import REPO, run_workflow, workflow_env
from .test_crash_recovery import lake_digest

pytestmark = [pytest.mark.workflow, pytest.mark.heavy]

CONFIG = {"start": "2024-06-27", "end": "2024-06-28", "pull_date": "2024-06-28",
          "datasets": "[stocks_daily,stocks_minute,options_daily,options_minute]", "rest_datasets": "[splits,dividends]"}
CLOCK = {"QUANTMINI_NOW": "2024-07-01T12:00:00+00:00"}  # after 06-28's files were due


@pytest.fixture(scope="module")
def clean(tmp_path_factory, sandbox) -> dict[str, str]:
    sandbox.clear_faults()
    sandbox.rate_limit(0)
    workdir = tmp_path_factory.mktemp("clean")
    run_workflow(workdir, sandbox, config=CONFIG, env=CLOCK)
    return lake_digest(workdir / "quantlake")


def test_two_clean_builds_are_byte_identical_in_every_layer(tmp_path, quiet_sandbox, clean):
    run_workflow(tmp_path, quiet_sandbox, config=CONFIG, env=CLOCK)
    first, second = clean, lake_digest(tmp_path / "quantlake")
    layers = {k.split("/")[0] for k in first}
    assert {"landing", "bronze", "silver", "gold", "metadata"} <= layers
    for dataset in ("stocks_daily", "stocks_minute", "options_daily", "options_minute", "splits", "dividends"):
        assert any(k.startswith(f"bronze/{dataset}/") for k in first), dataset
    assert any(k.startswith("gold/qlib/features/") for k in first)
    assert any(k.startswith("silver/corporate_actions/") for k in first)
    differ = sorted(k for k in set(first) | set(second) if first.get(k) != second.get(k))
    assert not differ, differ[:20]


@pytest.mark.parametrize("point", ["silver.between_files", "qlib.mid_update"])
def test_a_crash_then_rerun_is_byte_identical_to_a_clean_build(tmp_path, quiet_sandbox, clean, point):
    """SIGKILL of the whole run mid-silver (between the corporate-action files) or mid-Qlib
    update, over all four flat-file datasets and the corporate-action pulls; then the two
    commands of the README's crash recovery (unlock, rerun): every file of every layer
    equals the clean build's."""
    cfg = {"s3_endpoint": quiet_sandbox.s3_endpoint, "rest_base_url": quiet_sandbox.rest_url, "rate_limit_calls": 0,
           "days_back": 1, **CONFIG}
    crashed = subprocess.run(snakemake_command(workdir=tmp_path, profile=REPO / "profiles" / "demo", config=cfg),
                             capture_output=True, text=True, cwd=tmp_path, start_new_session=True,
                             env=workflow_env({**CLOCK, "QUANTMINI_CRASH_AT": point}))
    assert crashed.returncode == -9, f"the run should have been killed at {point}: {crashed.stderr[-2000:]}"
    assert lake_digest(tmp_path / "quantlake") != clean
    subprocess.run(snakemake_command(workdir=tmp_path, extra=["--unlock"]), check=True, capture_output=True,
                   env=workflow_env(), cwd=tmp_path)
    run_workflow(tmp_path, quiet_sandbox, config=CONFIG, env=CLOCK)
    got = lake_digest(tmp_path / "quantlake")
    assert not [k for k in got if "/.tmp-" in "/" + k], "temporary files left behind"
    differ = sorted(k for k in set(clean) | set(got) if clean.get(k) != got.get(k))
    assert not differ, differ[:20]
