"""Backfill batches end to end (quantmini/batches.py, rules/backfill.smk): a long window built
by one job per month gives the lake the per-session jobs give, file for file; the batch rules
stay the producers of their sessions, so a dry run after plans nothing, the next day is
per-session jobs only, and a day the vendor corrects 3 sessions back reruns exactly what
reads it."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import run_workflow
from .test_corrections import _edit, s3
from .test_crash_recovery import lake_digest
from .test_workflow_stocks_daily import _job_counts

pytestmark = [pytest.mark.workflow, pytest.mark.heavy]

BACKFILL = {"start": "2024-06-03", "end": "2024-06-26"}  # 17 sessions: 12 batched, the last 5 (refresh_days) not
NEXT_DAY = {"date": "2024-06-27", "days_back": 1}
CLOCK = {"QUANTMINI_NOW": "2024-07-01T12:00:00+00:00"}


def test_a_batched_backfill_gives_the_per_session_lake_and_stays_its_producer(tmp_path, quiet_sandbox):
    per_session = tmp_path / "per_session"
    per_session.mkdir()
    run_workflow(per_session, quiet_sandbox, config={"start": "2024-06-03", "end": "2024-06-27", "backfill_batch_sessions": 0},
                 env=CLOCK)

    batched = tmp_path / "batched"
    batched.mkdir()
    cfg = {**BACKFILL, "backfill_batch_sessions": 5}
    first = run_workflow(batched, quiet_sandbox, config=cfg, env=CLOCK)
    counts = _job_counts(first.stdout + first.stderr)
    assert counts.get("backfill_flatfile_stocks_daily_20240603_20240618") == 1, counts
    assert counts.get("backfill_gold_stocks_daily_20240603_20240618") == 1, counts
    assert counts["landing_flatfile"] == counts["bronze_flatfile"] == counts["gold_stocks_daily"] == 5, counts
    manifests = sorted(p.name for p in (batched / "quantlake/.quantmini/batches").rglob("*.json"))
    assert manifests == ["2024-06-03_2024-06-18.json"] * 2
    # each session has its own sidecars and log, as a per-session job leaves them
    assert json.loads((batched / "quantlake/metadata/bronze/stocks_daily/2024/06/2024-06-12.json").read_text())["status"] == "success"
    assert (batched / "logs/bronze/stocks_daily/2024/6/12.log").read_text().count("2024-06-12") >= 1

    dry = run_workflow(batched, quiet_sandbox, "-n", config=cfg, env=CLOCK)
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # the next day: its own per-session jobs, and the batched refresh sessions up to date
    nxt = run_workflow(batched, quiet_sandbox, "-n", config=NEXT_DAY, env=CLOCK)
    counts = _job_counts(nxt.stdout + nxt.stderr)
    assert {k: v for k, v in counts.items() if k.endswith("_flatfile") or k.startswith(("backfill", "gold_"))} == {
        "landing_flatfile": 1, "bronze_flatfile": 1, "gold_stocks_daily": 1, "gold_qlib_stocks_daily": 1, "gold_qlib_universes": 1}, counts
    run_workflow(batched, quiet_sandbox, config=NEXT_DAY, env=CLOCK)

    one, other = lake_digest(per_session / "quantlake"), lake_digest(batched / "quantlake")
    assert any(k.startswith("gold/qlib/features/") for k in one)
    differ = sorted(k for k in set(one) | set(other) if one.get(k) != other.get(k))
    # records of each run, not of a file (two runs here, one there): the Qlib update's
    # sidecar (bulk then append vs bulk), the run's quality checks and the summary of runs
    runs = ("metadata/gold/stocks_daily_qlib/", "metadata/gold/qlib_universes/", "metadata/quality/", "metadata/summary.tsv")
    assert [k for k in differ if not k.startswith(runs)] == [], differ

    # the vendor corrects 2024-06-24, 3 sessions back: its landing and bronze, the gold
    # sessions whose look-back holds it (06-24 .. 06-27) and the Qlib store; no batch
    client = s3(quiet_sandbox)
    key = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-24.csv.gz"
    good = client.get_object(Bucket="flatfiles", Key=key)["Body"].read()
    try:
        client.put_object(Bucket="flatfiles", Key=key, Body=_edit(good, 5, close="123.45"))
        fix = run_workflow(batched, quiet_sandbox, "-n", config=NEXT_DAY, env=CLOCK)
        counts = _job_counts(fix.stdout + fix.stderr)
        assert {k: v for k, v in counts.items() if k not in ("all", "metadata_summary", "report_assets")} == {
            "landing_correction": 1, "landing_flatfile": 1, "bronze_flatfile": 1, "gold_stocks_daily": 4,
            "gold_qlib_stocks_daily": 1, "gold_qlib_universes": 1}, counts
    finally:
        client.put_object(Bucket="flatfiles", Key=key, Body=good)


@pytest.fixture(scope="module")
def years_sandbox(tmp_path_factory):
    """A sandbox of its own offering three years of stocks_daily (published on first request)."""
    from quantmini.sandbox import control

    from .conftest import API_KEY, Sandbox

    folder = tmp_path_factory.mktemp("years-sandbox")
    state_file, log_path = folder / "state.json", folder / "sandbox.log"
    proc = control.launch(["--s3-port", str(control.free_port()), "--rest-port", str(control.free_port()),
                           "--tickers", "40", "--start", "2021-06-01", "--end", "2024-06-28", "--datasets", "stocks_daily",
                           "--intraday-days", "0", "--no-fixtures"], state_file, log_path,
                          env=dict(os.environ, QUANTMINI_SANDBOX_API_KEY=API_KEY))
    state = control.wait_ready(proc, state_file, log_path, timeout=120)
    yield Sandbox(state["s3_endpoint"], state["rest_url"], state, None)
    proc.terminate()
    proc.wait(timeout=20)


def test_after_a_three_year_backfill_a_night_plans_only_its_own_jobs(tmp_path, years_sandbox):
    """Three years (754 sessions) backfilled in monthly batches; then a dry run of the same
    window plans nothing, the next day plans that day's jobs only, and a day corrected 3
    sessions back plans its download, conversion, the gold sessions that read it and the
    Qlib store: whatever the history held, as in the nightly runs after a short backfill."""
    cfg = {"start": "2021-06-28", "end": "2024-06-26", "backfill_batch_sessions": 40}
    first = run_workflow(tmp_path, years_sandbox, config=cfg, env=CLOCK)
    counts = _job_counts(first.stdout + first.stderr)
    batches = {k: v for k, v in counts.items() if k.startswith("backfill_")}
    assert len(batches) == 2 * 37 and counts["landing_flatfile"] == 5, counts  # Jun 2021 .. Jun 2024
    assert len(list((tmp_path / "quantlake/bronze/stocks_daily").rglob("part.parquet"))) == 754
    assert len(list((tmp_path / "quantlake/gold/stocks_daily").rglob("part.parquet"))) == 754

    dry = run_workflow(tmp_path, years_sandbox, "-n", config=cfg, env=CLOCK)
    assert "Nothing to be done" in dry.stdout + dry.stderr

    nxt = run_workflow(tmp_path, years_sandbox, "-n", config=NEXT_DAY, env=CLOCK)
    counts = _job_counts(nxt.stdout + nxt.stderr)
    assert {k: v for k, v in counts.items() if k not in ("all", "metadata_summary", "report_assets")} == {
        "landing_flatfile": 1, "bronze_flatfile": 1, "gold_stocks_daily": 1, "gold_qlib_stocks_daily": 1, "gold_qlib_universes": 1}, counts
    run_workflow(tmp_path, years_sandbox, config=NEXT_DAY, env=CLOCK)

    client = s3(years_sandbox)
    key = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-24.csv.gz"
    client.put_object(Bucket="flatfiles", Key=key, Body=_edit(client.get_object(Bucket="flatfiles", Key=key)["Body"].read(),
                                                               5, close="123.45"))
    fix = run_workflow(tmp_path, years_sandbox, "-n", config=NEXT_DAY, env=CLOCK)
    counts = _job_counts(fix.stdout + fix.stderr)
    assert {k: v for k, v in counts.items() if k not in ("all", "metadata_summary", "report_assets")} == {
        "landing_correction": 1, "landing_flatfile": 1, "bronze_flatfile": 1, "gold_stocks_daily": 4,
        "gold_qlib_stocks_daily": 1, "gold_qlib_universes": 1}, counts
