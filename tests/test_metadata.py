"""Sidecars, watermarks, gaps, and the redaction of secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from quantmini import metadata
from quantmini.metadata import JobRecorder
from quantmini.paths import Lake
from quantmini.secrets import RedactingFilter, get_credential, redact


def test_summary_watermark_and_gaps(tmp_path):
    lake = Lake(str(tmp_path))
    for date, status in (("2024-06-07", "success"), ("2024-06-10", "failed"), ("2024-06-11", "success"), ("2024-06-12", "success")):
        JobRecorder(lake, "bronze", "stocks_daily", date).write(status, records=10, size_mb=0.5, error="boom" if status == "failed" else None)
    [s] = metadata.summarize(metadata.iter_sidecars(lake.metadata_root()))
    assert (s.total, s.success, s.failed, s.records, s.watermark) == (4, 3, 1, 30, "2024-06-12")
    assert s.gaps == ["2024-06-10"] and s.failed_dates == ["2024-06-10"]
    text = metadata.format_summary([s])
    assert "Success: 3, Skipped: 0, Failed: 1" in text and "Success rate: 75.0%" in text and "Gaps (1): 2024-06-10" in text
    metadata.write_watermarks(lake, [s])
    assert json.loads(open(lake.watermark("bronze", "stocks_daily")).read())["date"] == "2024-06-12"


def test_one_qlib_update_per_run_is_not_a_gap(tmp_path):
    """The Qlib store is updated once per run, dated by its last session: a weekly run leaves
    sidecars a week apart, and the days between are not gaps (bronze reports real ones)."""
    lake = Lake(str(tmp_path))
    for date in ("2024-06-07", "2024-06-14"):
        JobRecorder(lake, "gold", "stocks_daily_qlib", date).write("success", records=10)
    [s] = metadata.summarize(metadata.iter_sidecars(lake.metadata_root()))
    assert s.watermark == "2024-06-14" and s.gaps == []


def test_recorder_clears_old_success_before_work(tmp_path):
    lake = Lake(str(tmp_path))
    JobRecorder(lake, "bronze", "stocks_daily", "2024-06-07").write("success", records=5)
    JobRecorder(lake, "bronze", "stocks_daily", "2024-06-07")  # a new attempt starts, then dies
    assert list(metadata.iter_sidecars(lake.metadata_root())) == []


def test_redaction(monkeypatch, tmp_path):
    monkeypatch.setenv("QM_TEST_KEY", "supersecretvalue123")
    assert get_credential("QM_TEST_KEY") == "supersecretvalue123"
    assert "supersecretvalue123" not in redact("GET https://x/v3?apiKey=supersecretvalue123&limit=5")
    assert redact("https://api/x?apiKey=abc&b=1") == "https://api/x?apiKey=***&b=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    secret_file = tmp_path / "k"
    secret_file.write_text("fromfile-secret-42\n")
    monkeypatch.delenv("QM_TEST_KEY")
    monkeypatch.setenv("QM_TEST_KEY_FILE", str(secret_file))
    assert get_credential("QM_TEST_KEY") == "fromfile-secret-42"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key=%s", ("fromfile-secret-42",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "key=***"


def test_sidecar_error_is_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("QM_TEST_KEY2", "another-secret-777")
    get_credential("QM_TEST_KEY2")
    lake = Lake(str(tmp_path))
    JobRecorder(lake, "landing", "stocks_daily", "2024-06-07").write("failed", error="failed with another-secret-777")
    text = open(lake.sidecar("landing", "stocks_daily", "2024-06-07")).read()
    assert "another-secret-777" not in text and "***" in text


def test_small_sizes_are_shown_in_kilobytes():
    from quantmini.metadata import DatasetSummary, format_summary

    text = format_summary([DatasetSummary("bronze", "splits", total=1, success=1, size_mb=0.009),
                           DatasetSummary("bronze", "stocks_daily", total=1, success=1, size_mb=12.34)])
    assert "   Size: 9.0 KB" in text and "   Size: 12.3 MB" in text


def test_a_job_in_snakemakes_process_logs_to_its_file_only_and_redacted(tmp_path, monkeypatch, capsys):
    """The per-session jobs, the summary and the report run in Snakemake's own process, several
    at once on its threads: each job's log goes to its own file only (secrets masked, the error
    named), never to Snakemake's console or another job's file; a failure raises JobFailed
    (a SystemExit would be lost in Snakemake's thread pool) after writing its sidecar; the
    loggers are left as they were."""
    import threading

    import pytest

    from quantmini import jobs

    monkeypatch.setattr(jobs.IN_PROCESS, "enabled", False)
    jobs.run_in_snakemake_process()  # what rules/common.smk does
    monkeypatch.setenv("MASSIVE_API_KEY", "k3y-in-the-environment")
    assert get_credential("MASSIVE_API_KEY") == "k3y-in-the-environment"  # read, so known to redact
    qlog = logging.getLogger("quantmini")
    before = (list(qlog.handlers), qlog.level, qlog.propagate, list(logging.getLogger().handlers))
    lake = Lake(str(tmp_path / "lake"))
    JobRecorder(lake, "bronze", "stocks_daily", "2024-06-12").write("success", records=7, size_mb=0.1)
    out, log_file = tmp_path / "summary.tsv", tmp_path / "logs" / "summary.log"
    jobs.metadata_summary(lake_root=lake.root, output=str(out), log_file=str(log_file))
    assert out.read_text().splitlines()[1].split("\t")[:4] == ["bronze", "stocks_daily", "1", "1"]
    assert "Records: 7" in log_file.read_text()
    assert "Records: 7" not in capsys.readouterr().err
    assert (list(qlog.handlers), qlog.level, qlog.propagate, list(logging.getLogger().handlers)) == before

    # Two jobs at once on two threads, interleaving their records: each file holds its own.
    both_inside = threading.Barrier(2)

    @jobs.job
    def body(name: str, log_file: str) -> None:
        both_inside.wait(timeout=10)
        for i in range(50):
            logging.getLogger(f"quantmini.{name}").info("%s line %d", name, i)

    threads = [threading.Thread(target=body, args=(n, str(tmp_path / f"{n}.log"))) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for mine, other in (("first", "second"), ("second", "first")):
        text = (tmp_path / f"{mine}.log").read_text()
        assert text.count(f"{mine} line") == 50 and f"{other} line" not in text
    assert (list(qlog.handlers), qlog.level, qlog.propagate) == before[:3]

    @jobs.job
    def failing(lake_root: str, log_file: str) -> None:
        with jobs.recorded(Lake(lake_root), "bronze", "stocks_daily", "2024-06-13"):
            raise RuntimeError("upstream said k3y-in-the-environment is bad")

    with pytest.raises(jobs.JobFailed) as failed:
        failing(lake.root, str(log_file))
    text = log_file.read_text()
    assert "RuntimeError: upstream said" in text and "k3y-in-the-environment" not in text
    assert "k3y-in-the-environment" not in str(failed.value) and "upstream said" in str(failed.value)
    sidecar = json.loads(Path(lake.sidecar("bronze", "stocks_daily", "2024-06-13")).read_text())
    assert sidecar["status"] == "failed" and "k3y" not in json.dumps(sidecar)
    assert "upstream said" not in capsys.readouterr().err
    assert (list(qlog.handlers), qlog.level, qlog.propagate) == before[:3]
