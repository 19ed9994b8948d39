"""Operating the lake over the sandbox, as a user does: the quality checks after a run,
`quantmini quality|gaps|backfill|config show`, the cron wrapper's exit codes, and the demo
profile's config taking command-line keys one by one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from quantmini.command import snakemake_command
from quantmini.paths import Lake

from .conftest import API_KEY, BIN, REPO, run_workflow, workflow_env

pytestmark = pytest.mark.workflow

QUANTMINI = str(BIN / "quantmini")
# The test sandbox's 300 tickers make coverage noisy (its illiquid names skip ~3% of sessions:
# 93-97% here, 96.5-96.8% at the full 12,000): the threshold is lowered for this small sample.
WINDOW = {"start": "2024-06-03", "end": "2024-06-14", "rest_datasets": "[tickers]", "pull_date": "2024-06-10",
          "quality_coverage_min_pct": 90}


@pytest.fixture(scope="module")
def held(tmp_path_factory, sandbox):
    """A lake of stocks_daily 06-03 .. 06-14 (landing, bronze, gold) and a reference tickers pull."""
    wd = tmp_path_factory.mktemp("operating")
    run_workflow(wd, sandbox, config=WINDOW)
    return wd


def _sandbox_config(sandbox) -> list[str]:
    return [f"s3_endpoint={sandbox.s3_endpoint}", f"rest_base_url={sandbox.rest_url}"]


def _quantmini(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([QUANTMINI, *args], capture_output=True, text=True, cwd=cwd, env=workflow_env(env))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_writes_its_quality_report_and_only_the_real_bad_print_alerts(held, sandbox):
    lake = Lake(str(held / "quantlake"))
    latest = json.loads((held / "quantlake" / "metadata" / "quality" / "latest.json").read_text())
    assert latest["sessions"] == ["2024-06-03", "2024-06-14"] and latest["datasets"] == ["stocks_daily"]
    per_dataset = json.loads(Path(lake.metadata_root(), "quality", "stocks_daily", "2024", "06", "2024-06-14.json").read_text())
    assert per_dataset["checks"] == latest["checks"]
    checks = latest["checks"]
    kinds = {c["check"] for c in checks}
    assert kinds == {"freshness", "success_rate", "pending", "records", "ohlc", "coverage", "bad_prints"}
    covered = [c for c in checks if c["check"] == "coverage" and c["status"] != "skipped"]
    assert [c["date"] for c in covered] == ["2024-06-10", "2024-06-11", "2024-06-12", "2024-06-13", "2024-06-14"]
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ref = pq.read_table(lake.bronze_rest("tickers", "2024-06-10", "active"), columns=["ticker", "type", "active"])
    ref = set(ref.filter(pc.and_(pc.equal(ref["type"], "CS"), ref["active"]))["ticker"].to_pylist())
    for c in covered:
        have = set(pq.read_table(lake.bronze("stocks_daily", c["date"]), columns=["ticker"])["ticker"].to_pylist())
        assert c["value"] == round(100 * len(ref & have) / len(ref), 2) and c["status"] == "ok" and c["value"] >= 90
    alerts = [c for c in checks if c["status"] == "alert"]
    if sandbox.fixtures:
        # The real NVDA bar of 2024-06-10: high 195.95 on a 121.79 close, after the 10:1 split.
        assert [(a["check"], a["date"]) for a in alerts] == [("bad_prints", "2024-06-10")]
        assert [(r["ticker"], r["side"], r["high"]) for r in alerts[0]["rows"]] == [("NVDA", "high", 195.95)]
        assert latest["alerts"] == [alerts[0]["dataset"] + " 2024-06-10: bad_prints: 1 bars flagged (kept), e.g. NVDA high 195.95"]
        # flagged, not dropped
        assert "NVDA" in pq.read_table(lake.bronze("stocks_daily", "2024-06-10"), columns=["ticker"])["ticker"].to_pylist()
    else:
        assert alerts == []  # synthetic data only: clean


def test_quantmini_quality_exit_codes_and_one_line_alert(held, sandbox):
    quiet = _quantmini("quality", "--profile", "profiles/demo", "--start", "2024-06-11", "--end", "2024-06-14",
                       "--config", "quality_coverage_min_pct=90", cwd=held)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines()[2] == "no alerts"
    noisy = _quantmini("quality", "--profile", str(REPO / "profiles" / "demo"), "--start", "2024-06-11", "--end", "2024-06-14",
                       "--config", "quality_bad_print_pct=0.01", "quality_bad_print_range_multiple=0", "quality_coverage_min_pct=90",
                       cwd=held)
    assert noisy.returncode == 1
    lines = noisy.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("quantmini quality: ALERT stocks_daily 2024-06-11: bad_prints: ")
    assert "ALERT stocks_daily 2024-06-14: bad_prints" in noisy.stdout


def test_gaps_per_layer_then_backfill_fills_exactly_them(held, sandbox, tmp_path):
    wd = tmp_path / "wd"
    shutil.copytree(held, wd, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    lake = Lake(str(wd / "quantlake"))
    originals = {d: _sha(Path(lake.bronze("stocks_daily", d))) for d in ("2024-06-05", "2024-06-12")}
    gold_0605 = _sha(Path(lake.gold("stocks_daily", "2024-06-05")))
    # 06-12: bronze deleted under a gold session that is still there (a later layer must not hide it)
    for p in (lake.bronze("stocks_daily", "2024-06-12"), lake.sidecar("bronze", "stocks_daily", "2024-06-12")):
        os.remove(p)
    # 06-05: every layer gone
    for layer in ("landing", "bronze", "gold"):
        os.remove(lake.sidecar(layer, "stocks_daily", "2024-06-05"))
    for p in (lake.landing("stocks_daily", "2024-06-05"), lake.bronze("stocks_daily", "2024-06-05"),
              lake.gold("stocks_daily", "2024-06-05")):
        os.remove(p)
    # 06-17: the vendor has not published it yet (a pending record)
    pending = Path(lake.sidecar("landing", "stocks_daily", "2024-06-17"))
    pending.write_text(json.dumps({"data_type": "stocks_daily", "date": "2024-06-17", "layer": "landing",
                                   "status": "pending", "statistics": {}, "error": "not published"}))
    gaps = _quantmini("gaps", "--profile", "profiles/demo", cwd=wd)
    assert gaps.returncode == 1, gaps.stderr
    rows = [line.split() for line in gaps.stdout.splitlines()[4:]]
    assert rows == [
        ["landing", "stocks_daily", "missing", "2024-06-05", "(1", "session)"],
        ["landing", "stocks_daily", "pending", "2024-06-17", "(1", "session)"],
        ["bronze", "stocks_daily", "missing", "2024-06-05", "(1", "session)"],
        ["bronze", "stocks_daily", "missing", "2024-06-12", "(1", "session)"],
        ["bronze", "stocks_daily", "pending", "2024-06-17", "(1", "session)"],
        ["gold", "stocks_daily", "missing", "2024-06-05", "(1", "session)"],
        ["gold", "stocks_daily", "pending", "2024-06-17", "(1", "session)"],
    ], gaps.stdout
    as_json = json.loads(_quantmini("gaps", "--profile", "profiles/demo", "--json", cwd=wd).stdout)
    assert {(g["layer"], g["start"], g["status"]) for g in as_json} == {
        ("landing", "2024-06-05", "missing"), ("landing", "2024-06-17", "pending"), ("bronze", "2024-06-05", "missing"),
        ("bronze", "2024-06-12", "missing"), ("bronze", "2024-06-17", "pending"), ("gold", "2024-06-05", "missing"),
        ("gold", "2024-06-17", "pending")}

    fill = _quantmini("backfill", "--profile", "profiles/demo", "--config", *_sandbox_config(sandbox), cwd=wd)
    assert fill.returncode == 0, fill.stdout[-3000:] + fill.stderr[-3000:]
    assert "quantmini backfill: stocks_daily 2024-06-05 .. 2024-06-05 (1 session)" in fill.stdout
    assert "quantmini backfill: stocks_daily 2024-06-12 .. 2024-06-12 (1 session)" in fill.stdout
    assert {d: _sha(Path(lake.bronze("stocks_daily", d))) for d in originals} == originals
    assert _sha(Path(lake.gold("stocks_daily", "2024-06-05"))) == gold_0605
    after = _quantmini("gaps", "--profile", "profiles/demo", cwd=wd)
    assert after.returncode == 0, after.stdout  # only the pending session is left, and it is listed
    assert [line.split()[:4] for line in after.stdout.splitlines()[4:]] == [
        ["landing", "stocks_daily", "pending", "2024-06-17"], ["bronze", "stocks_daily", "pending", "2024-06-17"],
        ["gold", "stocks_daily", "pending", "2024-06-17"]]
    again = _quantmini("backfill", "--profile", "profiles/demo", "--config", *_sandbox_config(sandbox), cwd=wd)
    assert again.returncode == 0 and "no gaps to fill" in again.stdout


def test_config_show_is_the_effective_config_with_secrets_masked(tmp_path, sandbox):
    secret_file = tmp_path / "s3-secret"
    secret_file.write_text("file-held-secret-value\n")
    env = {"MASSIVE_S3_SECRET_KEY": "", "MASSIVE_S3_SECRET_KEY_FILE": str(secret_file), "MASSIVE_S3_ACCESS_KEY": ""}
    shown = _quantmini("config", "show", "--profile", "profiles/demo", "--config", "date=2024-06-14", "days_back=2",
                       cwd=REPO, env=env)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    for line in ("s3_endpoint: http://127.0.0.1:8555", "date: '2024-06-14'", "days_back: 2", "rate_limit_calls: 0",
                 "api_key_env: MASSIVE_API_KEY (set)", "s3_secret_key_env: MASSIVE_S3_SECRET_KEY (set)",
                 "s3_access_key_env: MASSIVE_S3_ACCESS_KEY (NOT SET)", "  sessions: 2024-06-13 .. 2024-06-14 (2)"):
        assert line in out.splitlines(), (line, out)
    assert API_KEY not in out and "file-held-secret-value" not in out
    as_json = json.loads(_quantmini("config", "show", "--profile", "profiles/demo", "--json", cwd=REPO).stdout)
    assert as_json["(run)"]["sessions"] == "2024-06-03 .. 2024-06-28 (19)"
    missing = _quantmini("config", "show", "--profile", "profiles/nosuch", cwd=REPO)
    assert missing.returncode == 2 and missing.stderr.startswith("quantmini config: --profile profiles/nosuch: no config.yaml")


def test_command_line_config_adds_to_the_demo_profile_key_by_key(tmp_path, sandbox):
    """`--config s3_endpoint=...` used to replace the profile's whole config list (dropping
    its window, datasets and rate limit)."""
    cmd = snakemake_command(workdir=tmp_path, profile=REPO / "profiles" / "demo", extra=["-n"],
                            config=[*_sandbox_config(sandbox), "rest_datasets=[]"])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = {line.split()[0]: int(line.split()[1]) for line in proc.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["landing_flatfile"] == 19 and counts["bronze_flatfile"] == 19  # the demo's 06-03 .. 06-28
    assert "rate_limit_calls" not in proc.stderr


def _wrapper_tree(tmp_path: Path) -> Path:
    for item in ("Snakefile", "rules", "scripts", "config", "profiles", "report", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    return tmp_path / "scripts" / "daily_update.sh"


def test_cron_wrapper_exit_codes(tmp_path, sandbox):
    wrapper = _wrapper_tree(tmp_path)
    env = workflow_env({"QUANTLAKE_ROOT": str(tmp_path / "lake")})
    base = ["--profile", "profiles/demo"]
    extra = ["--", "--config", *_sandbox_config(sandbox), "datasets=[stocks_daily]", "rest_datasets=[]", "days_back=1"]

    ok = subprocess.run([str(wrapper), *base, "--date", "2024-06-14", *extra], capture_output=True, text=True, env=env,
                        cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "config date=2024-06-14 s3_endpoint=" in ok.stderr  # one --config: the wrapper's keys and the user's
    lake = Lake(str(tmp_path / "lake"))
    assert [p.name for p in Path(lake.bronze_dir("stocks_daily")).glob("year=*/month=*/day=*")] == ["day=14"]

    alert = subprocess.run([str(wrapper), *base, "--date", "2024-06-13", *extra, "quality_bad_print_pct=0.01",
                            "quality_bad_print_range_multiple=0"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert alert.returncode == 3, alert.stderr[-3000:]
    assert alert.stderr.splitlines()[-1].startswith("daily_update.sh: ALERT stocks_daily 2024-06-13: bad_prints: ")

    sandbox.post("/_sandbox/unpublish?dataset=stocks_daily&date=2024-06-12")
    try:
        failed = subprocess.run([str(wrapper), *base, "--date", "2024-06-12", *extra], capture_output=True, text=True,
                                env=env, cwd=tmp_path)
    finally:
        sandbox.post("/_sandbox/publish?dataset=stocks_daily&date=2024-06-12")
    assert failed.returncode == 1, failed.stderr[-3000:]
    logs = sorted((tmp_path / "logs" / "runs").glob("*.log"))
    assert logs and "quantmini quality" not in failed.stderr


def test_polygon_commands_land_the_partitions_the_workflow_writes(tmp_path, sandbox):
    """The guide's manual pulls (`quantmini polygon ...`) write the same bronze partitions,
    path and rows (`pulled_at` aside), as the scheduled workflow on that pull date."""
    import pyarrow.parquet as pq

    tickers = ["AAPL", "MSFT", "NVDA"]
    scheduled = tmp_path / "scheduled"
    scheduled.mkdir()
    run_workflow(scheduled, sandbox, config={
        "datasets": "[]", "pull_date": "2024-06-14", "rest_datasets": "[]", "fundamental_tickers": f"[{','.join(tickers)}]",
        "rest_force": "[fundamentals,dividends,splits,ticker_events,short_interest,short_volume]"})
    manual = tmp_path / "manual"
    manual.mkdir()
    common = ["--pull-date", "2024-06-14", "--profile", "profiles/demo", "--config", *_sandbox_config(sandbox)]
    for cmd in (["fundamentals", *tickers, "--timeframe", "quarterly", "--filing-date-gte", "2023-12-17"],
                ["fundamentals", *tickers, "--timeframe", "annual", "--filing-date-gte", "2023-06-15"],
                ["corporate-actions", "--start-date", "2024-05-15", "--end-date", "2024-09-12"],
                ["ticker-events", *tickers],
                ["short-data", *tickers, "--settlement-date-gte", "2024-05-15", "--date-gte", "2024-05-15"]):
        proc = _quantmini("polygon", *cmd, *common, cwd=manual)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "records" in proc.stdout and "API calls -> quantlake/bronze/" in proc.stdout
    ratios = _quantmini("polygon", "financial-ratios", cwd=manual)
    assert ratios.returncode == 0, ratios.stderr[-2000:]

    def partitions(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in (root / "quantlake" / "bronze").rglob("part.parquet"))

    assert partitions(manual) == partitions(scheduled) and len(partitions(manual)) == 7
    for rel in partitions(manual):
        a, b = (pq.read_table(root / rel) for root in (manual, scheduled))
        a, b = (t.drop_columns(["pulled_at"]) if "pulled_at" in t.column_names else t for t in (a, b))
        assert a.equals(b), rel
    for tf in ("quarterly", "annual"):
        rel = f"quantlake/silver/financial_ratios/timeframe={tf}/data.parquet"
        assert pq.read_table(manual / rel).num_rows == pq.read_table(scheduled / rel).num_rows > 0
    bad = _quantmini("polygon", "corporate-actions", "--start-date", "2024-13-01", "--end-date", "2024-09-12", cwd=manual)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "quantmini polygon: --start-date '2024-13-01' is not a valid date (YYYY-MM-DD)")


def test_an_unpublished_file_is_pending_once_then_caught_up_and_fails_only_when_late(tmp_path, sandbox):
    """Within the lateness threshold a file the vendor has not published is one line and a
    `pending` record, not a rule error, and the run succeeds; the next nightly run (no date)
    fetches it; once late (48 h after it was due) the run tries it and fails."""
    date, cfg = "2024-06-27", {"datasets": "[stocks_daily,options_daily]"}
    lake = Lake(str(tmp_path / "quantlake"))
    sandbox.post(f"/_sandbox/unpublish?dataset=options_daily&date={date}")
    try:
        soon = run_workflow(tmp_path, sandbox, config={**cfg, "date": date}, check=False,
                            env={"QUANTMINI_NOW": "2024-06-28T16:00:00+00:00"})  # 12:00 New York, due at 11:00
        assert soon.returncode == 0, soon.stderr[-3000:]
        said = [line for line in soon.stderr.splitlines() if line.startswith("quantmini:") and "published" in line]
        assert said == ["quantmini: options_daily 2024-06-27: not published yet (due 2024-06-28 11:00 New York); "
                        "pending, the next run fetches it"], soon.stderr[-3000:]
        assert "Error in rule" not in soon.stderr
        assert json.loads(Path(lake.sidecar("landing", "options_daily", date)).read_text())["status"] == "pending"
        assert json.loads(Path(lake.sidecar("bronze", "stocks_daily", date)).read_text())["status"] == "success"
        assert not Path(lake.bronze("options_daily", date)).exists() and not Path(lake.gold("options_daily", date)).exists()
        quality = json.loads((tmp_path / "quantlake" / "metadata" / "quality" / "latest.json").read_text())
        pending = [c for c in quality["checks"] if c["check"] == "pending" and c["dataset"] == "options_daily"]
        assert pending[0]["status"] == "ok" and pending[0]["detail"] == "waiting for publication: 2024-06-27"

        late = run_workflow(tmp_path, sandbox, config={**cfg, "date": date}, check=False,
                            env={"QUANTMINI_NOW": "2024-07-01T16:00:00+00:00"})  # 73 h after it was due
        assert late.returncode != 0 and "Error in rule landing_flatfile" in late.stderr
        assert json.loads(Path(lake.sidecar("landing", "options_daily", date)).read_text())["status"] == "pending"
    finally:
        sandbox.post(f"/_sandbox/publish?dataset=options_daily&date={date}")
    # The next night, no date: the latest published session (06-28) and the pending 06-27.
    night = run_workflow(tmp_path, sandbox, config={**cfg, "date": ""}, env={"QUANTMINI_NOW": "2024-06-29T16:00:00+00:00"})
    assert "not published" not in night.stderr
    for d in (date, "2024-06-28"):
        assert json.loads(Path(lake.sidecar("bronze", "options_daily", d)).read_text())["status"] == "success"
        assert Path(lake.gold("options_daily", d)).exists()
