"""Config handling through the real `snakemake` command: one clear line, nothing written."""

from __future__ import annotations

import datetime as dt

import pytest

from quantmini import settings, workflow_config
from quantmini.sessions import last_completed_session

from .conftest import run_workflow


BAD_CONFIGS = [
    ({"date": "2024-13-45"}, "config key 'date': '2024-13-45' is not a valid calendar date"),
    ({"date": "20240115"}, "config key 'date': 20240115 is not of type"),
    ({"days_back": "0"}, "config key 'days_back': 0 is less than the minimum of 1"),
    ({"datasets": "[stocks_hourly]"}, "config key 'datasets.0': 'stocks_hourly' is not one of"),
    ({"start": "2024-06-20", "end": "2024-06-10"}, "start 2024-06-20 is after end 2024-06-10"),
    ({"s3_endpoint": "files.massive.com"}, "config key 's3_endpoint'"),
    ({"colour": "blue"}, "'colour' was unexpected"),
    ({"gold_qlib": "maybe"}, "config key 'gold_qlib': 'maybe' is not of type 'boolean'"),
    # beyond the calendar: one line naming the key and the supported range, no traceback
    ({"date": "2030-01-02"}, "config key 'date': 2030-01-02 is outside the supported range 2000-01-03 .. "),
    ({"start": "1999-06-01", "end": "2000-02-01"}, "config key 'start': 1999-06-01 is outside the supported range"),
    # a window without a session is refused like a non-trading date (exit 1, one line)
    ({"start": "2024-06-22", "end": "2024-06-23"},
     "config keys 'start'/'end': no XNYS trading session between 2024-06-22 and 2024-06-23; nothing to do"),
]


def _workflow_config(overrides: dict) -> dict:
    """The config a ``run_workflow`` Snakemake start holds: the workflow's config file, the
    demo profile's, then the test runner's keys and ``overrides`` parsed from the command line
    by Snakemake's own parser."""
    import yaml
    from snakemake.cli import parse_config

    from .conftest import REPO

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) or {}
    config.update(yaml.safe_load((REPO / "profiles" / "demo" / "demo.yaml").read_text()))
    cli = {"datasets": "[stocks_daily]", "rest_datasets": "[]", "rate_limit_calls": 0, "days_back": 1, **overrides}
    config.update(parse_config([f"{k}={v}" for k, v in cli.items()]))
    return config


@pytest.mark.parametrize("cfg, fragment", BAD_CONFIGS)
def test_bad_config_is_one_error_naming_the_key(cfg, fragment):
    """Every bad config, through the function the Snakefile calls on its config."""
    with pytest.raises(settings.ConfigError) as err:
        workflow_config.for_workflow(_workflow_config(cfg))
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("cfg, fragment", [BAD_CONFIGS[3], BAD_CONFIGS[-1]])
def test_bad_config_fails_with_one_line_naming_the_key(tmp_path, sandbox, cfg, fragment):
    """The same errors through a real Snakemake start (a schema violation and a window
    without sessions): one ``quantmini:`` line, no traceback, nothing written."""
    proc = run_workflow(tmp_path, sandbox, config=cfg, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "quantlake").exists()


def test_good_config_gets_the_schema_defaults():
    config = _workflow_config({"date": "2024-06-20"})
    plan = workflow_config.for_workflow(config)
    assert plan.sessions == ("2024-06-20",)
    assert {k: config[k] for k in settings.defaults() if k not in _workflow_config({})} == {
        k: v for k, v in settings.defaults().items() if k not in _workflow_config({})}


@pytest.mark.parametrize("date, reason", [("2024-06-19", "Juneteenth"), ("2024-06-22", "weekend: Saturday")])
def test_non_trading_date_is_refused_in_one_line(tmp_path, sandbox, date, reason):
    """With nothing else due that day (no REST pulls), a non-trading date is a bad argument."""
    proc = run_workflow(tmp_path, sandbox, config={"date": date, "start": "", "end": ""}, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and f"config key 'date': {date} is not an XNYS trading session" in lines[0] and reason in lines[0]
    assert "nothing to do" in lines[0]
    assert not (tmp_path / "quantlake").exists()


def test_non_trading_date_still_runs_that_days_rest_pulls(tmp_path, sandbox):
    proc = run_workflow(tmp_path, sandbox, config={"date": "2024-06-22", "rest_datasets": "[news]"})
    lines = [line for line in proc.stderr.splitlines() if line.startswith("quantmini:")]
    assert len(lines) == 1 and "2024-06-22 is not an XNYS trading session" in lines[0]
    assert "the REST pulls due on 2024-06-22 run" in lines[0]
    assert (tmp_path / "quantlake" / "bronze" / "news" / "pull_date=2024-06-22" / "window=2024-06-21_2024-06-21" / "part.parquet").exists()
    assert not (tmp_path / "quantlake" / "bronze" / "stocks_daily").exists()
    out = proc.stdout + proc.stderr
    assert "landing_flatfile" not in out and "bronze_flatfile" not in out


def test_resolve_days_back_counts_sessions():
    plan = settings.resolve({"date": "2024-06-20", "days_back": 3, "lake_root": "lake"})
    assert plan.sessions == ("2024-06-17", "2024-06-18", "2024-06-20")
    assert plan.lake.root == "lake"


def test_resolve_default_date_is_last_completed_session():
    now = dt.datetime(2024, 6, 20, 19, 0, tzinfo=dt.timezone.utc)  # 15:00 New York, market open
    plan = settings.resolve({"days_back": 1}, today=now)
    assert plan.sessions == ("2024-06-18",) == (last_completed_session(now).isoformat(),)


def test_quantlake_root_overrides_config(monkeypatch):
    monkeypatch.setenv("QUANTLAKE_ROOT", "/data/lake/")
    assert settings.resolve({"date": "2024-06-20"}).lake.root == "/data/lake"


def test_window_without_sessions_is_refused_like_a_holiday_unless_pulls_are_due():
    with pytest.raises(settings.ConfigError, match="no XNYS trading session between 2024-06-22 and 2024-06-23; nothing to do"):
        settings.resolve({"start": "2024-06-22", "end": "2024-06-23", "rest_datasets": []})
    with pytest.raises(settings.ConfigError, match="2024-06-22 is not an XNYS trading session .*; nothing to do"):
        settings.resolve({"date": "2024-06-22", "rest_datasets": []})
    with_rest = settings.resolve({"start": "2024-06-22", "end": "2024-06-23"})
    assert with_rest.sessions == () and with_rest.pulls and "the REST pulls due on 2024-06-23 run" in with_rest.notice


def test_huge_window_asks_for_several_windows():
    with pytest.raises(settings.ConfigError, match="exceeds 5300; backfill it as several windows"):
        settings.resolve({"start": "2000-01-03", "end": "2024-12-31"})


def test_config_validation_compiles_no_iri_grammars():
    """Validating the config must not import rfc3987_syntax (38 Lark grammars compiled at
    import, 2.8 s of every Snakemake start): checked in a fresh interpreter, as Snakemake
    starts, with the schema error path that imports jsonschema."""
    import subprocess
    import sys

    probe = ("import sys; from quantmini import settings; "
             "assert settings.schema_error({'date': 5}, settings.load_schema()); "
             "print(sorted(m for m in ('jsonschema', 'lark', 'rfc3987_syntax') if sys.modules.get(m)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jsonschema']"


def test_the_schema_uses_no_iri_format():
    """Why skipping rfc3987_syntax is safe: no key of the schema has an iri format to check."""
    def formats(node):
        if isinstance(node, dict):
            yield from ([node["format"]] if isinstance(node.get("format"), str) else [])
            for value in node.values():
                yield from formats(value)
        elif isinstance(node, list):
            for value in node:
                yield from formats(value)

    assert not {f for f in formats(settings.load_schema()) if f.startswith("iri")}
