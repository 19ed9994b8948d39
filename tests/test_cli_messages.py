"""What a new user trips on at the command line, each read as the user sees it: boolean
config spellings, one-line errors instead of tracebacks, exit codes a script can use, and a
sandbox that fails at once on a busy port."""

from __future__ import annotations

import datetime as dt

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from quantmini import settings

from .conftest import BIN, REPO, run_workflow

QUANTMINI = str(BIN / "quantmini")
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


@pytest.mark.parametrize("word, value", [("false", False), ("no", False), ("0", False), ("OFF", False), (0, False),
                                         ("true", True), ("Yes", True), ("1", True), ("on", True), (1, True), (False, False)])
def test_boolean_spellings(word, value):
    cfg = settings.coerce_command_line({"gold_qlib": word, "silver": word}, SCHEMA)
    assert cfg == {"gold_qlib": value, "silver": value}


def test_integer_lists_from_the_command_line_become_integers():
    """Snakemake reads ``--config qlib_universes=[10,20]`` as ['10', '20'] (found by the soak,
    which sets its universes this way): the schema's integer arrays take them as numbers, and
    an item that is not one is left for the schema to refuse."""
    from quantmini import workflow_config

    cfg = settings.coerce_command_line({"qlib_universes": ["10", "20"], "datasets": ["stocks_daily"]}, SCHEMA)
    assert cfg == {"qlib_universes": [10, 20], "datasets": ["stocks_daily"]}
    assert settings.coerce_command_line({"qlib_universes": ["ten"]}, SCHEMA) == {"qlib_universes": ["ten"]}
    with pytest.raises(settings.ConfigError, match="qlib_universes"):
        workflow_config.for_workflow({"qlib_universes": ["ten"], "date": "2024-06-14"})
    plan = workflow_config.for_workflow(cfg := {"qlib_universes": ["10", "20"], "qlib_minute_universe": "liquid20",
                                                "date": "2024-06-14"})
    assert cfg["qlib_universes"] == [10, 20] and plan.sessions == ("2024-06-14",)


def test_a_mapping_from_the_command_line_takes_its_numbers(tmp_path):
    """``--config "rest_windows={corporate_actions_backfill_days: 3650}"`` (ten years of
    dividends and splits on the next 1st of the month) arrives as {'...': '3650'}: the
    schema's integers in a mapping take it as a number (found by the soak, whose clean build
    sets it); a value that is not one is refused naming the nested key."""
    from quantmini import workflow_config
    from quantmini.rest import schedule

    cfg = {"rest_windows": {"corporate_actions_backfill_days": "3650"}, "date": "2024-06-14"}
    workflow_config.for_workflow(cfg)
    assert cfg["rest_windows"] == {"corporate_actions_backfill_days": 3650}
    first = [p for p in schedule.pulls_for(dt.date(2024, 7, 1), ["dividends"], windows=cfg["rest_windows"])]
    assert [p.window.name for p in first] == ["2024-06-01_2024-09-29", "2014-07-04_2024-07-01"]
    with pytest.raises(settings.ConfigError, match="rest_windows.corporate_actions_backfill_days"):
        workflow_config.for_workflow({"rest_windows": {"corporate_actions_backfill_days": "ten years"},
                                      "date": "2024-06-14"})


def test_a_word_that_is_not_a_boolean_is_refused_naming_the_key(tmp_path, sandbox):
    assert settings.coerce_command_line({"gold_qlib": "maybe"}, SCHEMA) == {"gold_qlib": "maybe"}
    proc = run_workflow(tmp_path, sandbox, "-n", config={"date": "2024-06-14", "gold_qlib": "maybe"}, check=False)
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("quantmini:")]
    assert lines == ["quantmini: config key 'gold_qlib': 'maybe' is not of type 'boolean'"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_gold_qlib_false_on_the_command_line_plans_no_qlib_update(tmp_path, sandbox):
    proc = run_workflow(tmp_path, sandbox, "-n", config={"date": "2024-06-14", "gold_qlib": "false"})
    out = proc.stdout + proc.stderr
    assert "bronze_flatfile" in out and "gold_qlib_stocks_daily" not in out


@pytest.mark.parametrize("args, message", [
    (["2024-13-01", "2024-12-01"], "quantmini sessions: start '2024-13-01' is not a valid date (YYYY-MM-DD)"),
    (["2024-06-01", "June"], "quantmini sessions: end 'June' is not a valid date (YYYY-MM-DD)"),
    (["1900-01-01", "1900-01-05"], "quantmini sessions: the XNYS calendar covers"),
])
def test_sessions_bad_date_is_one_line(args, message):
    proc = subprocess.run([QUANTMINI, "sessions", *args], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(message) and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def write_sidecar(root: Path, layer: str, data_type: str, date: str, status: str, records: int = 10) -> None:
    path = root / "metadata" / layer / data_type / date[:4] / date[5:7] / f"{date}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data_type": data_type, "date": date, "symbol": None, "status": status, "layer": layer,
                                "timestamp": "2024-06-15T00:00:00", "error": None if status == "success" else "boom",
                                "statistics": {"records": records if status == "success" else 0, "file_size_mb": 1.5,
                                               "processing_time_sec": 0.1}}))


def test_metadata_exit_code_and_landing_shows_no_record_count(tmp_path):
    write_sidecar(tmp_path, "landing", "stocks_daily", "2024-06-13", "success", records=0)
    write_sidecar(tmp_path, "bronze", "stocks_daily", "2024-06-13", "success")
    ok = subprocess.run([QUANTMINI, "metadata", "--lake", str(tmp_path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    landing = ok.stdout.split("📊 stocks_daily (Landing):")[1].split("📊")[0]
    assert "Records" not in landing and "Size: 1.5 MB" in landing
    assert "Records: 10" in ok.stdout.split("📊 stocks_daily (Bronze):")[1]
    write_sidecar(tmp_path, "bronze", "stocks_daily", "2024-06-14", "failed")
    bad = subprocess.run([QUANTMINI, "metadata", "--lake", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "quantmini metadata: failed jobs in bronze/stocks_daily"


def test_metadata_json_into_a_closed_pipe_is_quiet(tmp_path):
    for day in range(1, 29):
        write_sidecar(tmp_path, "bronze", f"dataset_{day}", f"2024-06-{day:02d}", "success")
    # `quantmini metadata --json | head -1`
    proc = subprocess.run(f"{QUANTMINI} metadata --json --lake {tmp_path} | head -1", shell=True, capture_output=True,
                          text=True)
    assert proc.stdout == "[\n" and proc.stderr == "", proc.stderr


def test_sandbox_start_on_a_busy_port_fails_at_once_naming_it(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        t0 = time.monotonic()
        proc = subprocess.run([QUANTMINI, "sandbox", "start", "--s3-port", str(port), "--rest-port", "0"],
                              capture_output=True, text=True, env={"QUANTMINI_SANDBOX_DIR": str(tmp_path), "PATH": str(BIN)})
        assert time.monotonic() - t0 < 30
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"quantmini sandbox: port {port} (--s3-port) is already in use on 127.0.0.1 "
                                   "(choose others with --s3-port/--rest-port)")
    assert not (tmp_path / "state.json").exists()


def test_license_is_present():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted" in text


def test_laptop_profile_runs_one_job_at_a_time_under_its_memory_cap(tmp_path, sandbox):
    """`snakemake --profile profiles/laptop` (the guide's sequential mode) resolves and plans
    the same jobs, with one core and a 4 GB cap."""
    from quantmini.command import snakemake_command

    from .conftest import workflow_env

    cmd = snakemake_command(workdir=tmp_path, profile=REPO / "profiles" / "laptop", extra=["-n"],
                            config=[f"s3_endpoint={sandbox.s3_endpoint}", f"rest_base_url={sandbox.rest_url}",
                                    "date=2024-06-14", "datasets=[stocks_daily]", "rest_datasets=[]"])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    profile = yaml.safe_load((REPO / "profiles" / "laptop" / "config.yaml").read_text())
    assert profile["cores"] == 1 and "mem_mb=4000" in profile["resources"]
    assert "landing_flatfile" in proc.stdout and "bronze_flatfile" in proc.stdout


def test_progress_line_on_a_terminal_only():
    import io

    from quantmini.cli import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    progress = Progress(4, "quantmini polygon corporate-actions", every=0.05, stream=tty)
    progress.step()
    time.sleep(0.2)
    progress.close()
    first = tty.getvalue().splitlines()[0]
    assert first.startswith("quantmini polygon corporate-actions: 1/4 done, ") and ", ETA " in first
    piped = io.StringIO()  # not a terminal (cron, a pipe): quiet
    quiet = Progress(4, "x", every=0.05, stream=piped)
    time.sleep(0.15)
    quiet.close()
    assert piped.getvalue() == ""


def test_make_demo_takes_the_sandbox_ports_from_variables():
    """Two users on one machine: `make demo S3_PORT=… REST_PORT=…` starts the sandbox on those
    ports and points every run at them (checked with make's dry run)."""
    proc = subprocess.run(["make", "-n", "demo", "S3_PORT=9555", "REST_PORT=9556"], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.replace("\\\n", " ").splitlines()  # make -n keeps the line continuations
    assert any("quantmini sandbox start --s3-port 9555 --rest-port 9556" in line for line in lines)
    runs = [line for line in lines if "snakemake --profile profiles/demo" in line]
    assert len(runs) == 3 and all("s3_endpoint=http://127.0.0.1:9555 rest_base_url=http://127.0.0.1:9556" in r for r in runs)
    assert "8555" not in proc.stdout and "8556" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["gaps", "--start", "2024-13-01"], "quantmini gaps: --start '2024-13-01' is not a valid date (YYYY-MM-DD)"),
    (["as-of", "2024-02-30", "AAPL"], "quantmini as-of: date '2024-02-30' is not a valid date (YYYY-MM-DD)"),
    (["polygon", "ticker-events", "AAPL", "--pull-date", "June 3"],
     "quantmini polygon: --pull-date 'June 3' is not a valid date (YYYY-MM-DD)"),
    (["polygon", "corporate-actions", "--start-date", "2024-09-12", "--end-date", "2024-05-15"],
     "quantmini polygon: the window starts 2024-09-12 after it ends 2024-05-15 (check the date options and --pull-date)"),
    (["quality", "--config", "publish_time=29:00"],
     "quantmini quality: config key 'publish_time': '29:00' does not match '^([01][0-9]|2[0-3]):[0-5][0-9]$'"),
    (["gaps", "--config", "dataset_start={stocks_daily: soon}"],
     "quantmini gaps: config key 'dataset_start.stocks_daily': 'soon' does not match '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"),
])
def test_bad_command_input_is_one_line_naming_it_and_writes_nothing(tmp_path, args, message):
    from .conftest import workflow_env

    proc = subprocess.run([QUANTMINI, *args], capture_output=True, text=True, cwd=tmp_path,
                          env=workflow_env({"QUANTLAKE_ROOT": str(tmp_path / "lake")}))
    assert proc.returncode == 2 and proc.stderr.splitlines() == [message], proc.stderr
    assert not (tmp_path / "lake").exists() and not (tmp_path / "logs").exists()


def test_a_bad_clock_override_is_one_line(tmp_path, sandbox):
    proc = run_workflow(tmp_path, sandbox, "-n", config={"date": ""}, env={"QUANTMINI_NOW": "yesterday"}, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert proc.returncode != 0 and lines == [
        "quantmini: QUANTMINI_NOW 'yesterday' is not an ISO 8601 time (e.g. 2024-06-28T16:00:00+00:00)"], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_migrate_layout_refuses_a_conflict_in_one_line(tmp_path):
    from .conftest import workflow_env

    for name in ("month=06", "month=6"):
        d = tmp_path / "bronze" / "stocks_daily" / "year=2024" / name / "day=3"
        d.mkdir(parents=True)
        (d / "part.parquet").write_bytes(name.encode())
    proc = subprocess.run([QUANTMINI, "migrate-layout"], capture_output=True, text=True,
                          env=workflow_env({"QUANTLAKE_ROOT": str(tmp_path)}))
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "both hold the same files" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "bronze" / "stocks_daily" / "year=2024" / "month=06" / "day=3" / "part.parquet").read_bytes() == b"month=06"


def test_config_show_masks_a_key_pasted_into_a_url(tmp_path):
    from .conftest import API_KEY, workflow_env

    proc = subprocess.run([QUANTMINI, "config", "show", "--config",
                           f"rest_base_url=https://api.example.com/v3?apiKey=pasted-{API_KEY}",
                           f"s3_endpoint=https://{API_KEY}.example.com"],
                          capture_output=True, text=True, cwd=tmp_path, env=workflow_env())
    assert proc.returncode == 0, proc.stderr
    assert API_KEY not in proc.stdout and "pasted" not in proc.stdout
    assert "rest_base_url: https://api.example.com/v3?apiKey=***" in proc.stdout.splitlines()
