"""Data-quality checks: each rule fires on a constructed case and stays quiet on a normal
one; the catch-up of the nightly run and the publication time it respects."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from quantmini import quality, settings
from quantmini.metadata import Sidecar, Statistics
from quantmini.paths import Lake
from quantmini.sessions import last_published_session, publication_due

UTC = dt.timezone.utc


def _sidecar(layer, status, date="2024-06-14", **extra):
    return Sidecar("stocks_daily", date, layer, status, Statistics(records=100, extra=extra))


def test_freshness_alerts_after_the_limit_only():
    as_of = dt.date(2024, 6, 28)
    assert quality.freshness("stocks_daily", "2024-06-14", as_of, 14).status == "ok"  # 14 days
    late = quality.freshness("stocks_daily", "2024-06-13", as_of, 14)
    assert late.status == "alert" and late.value == 15 and "15 days" in late.detail
    assert quality.freshness("stocks_daily", None, as_of, 14).status == "alert"


def test_success_rate_counts_failures_not_pending():
    ok = [_sidecar("landing", "success", f"2024-06-{d:02d}") for d in range(3, 23)]
    assert quality.success_rate("stocks_daily", ok, 95).value == 100.0
    one_failed = ok[:-1] + [_sidecar("bronze", "failed", "2024-06-21")]
    check = quality.success_rate("stocks_daily", one_failed, 95)
    assert check.status == "ok" and check.value == 95.0  # 19 of 20: at the limit
    two = one_failed[:-2] + [_sidecar("bronze", "failed", "2024-06-20"), _sidecar("bronze", "failed", "2024-06-21")]
    check = quality.success_rate("stocks_daily", two, 95)
    assert check.status == "alert" and check.value == 90.0 and "bronze 2024-06-20" in check.detail
    pending = ok + [_sidecar("landing", "pending", "2024-06-24")]
    assert quality.success_rate("stocks_daily", pending, 95).value == 100.0


@pytest.mark.parametrize("records, trailing, status", [
    (11_000, [11_100, 10_900, 11_050], "ok"),
    (0, [11_100, 10_900], "alert"),
    (40_000, [11_100, 10_900, 11_050], "alert"),  # 3.6x the median
    (3_000, [11_100, 10_900, 11_050], "alert"),  # 0.27x
    (500, [], "ok"),  # nothing to compare yet
])
def test_record_count_anomalies(records, trailing, status):
    assert quality.record_count("stocks_daily", "2024-06-14", records, trailing, 3.0).status == status


def test_ohlc_counts_from_the_bronze_record():
    clean = quality.ohlc("stocks_daily", "2024-06-14", {"ohlc_inconsistent_rows": 0, "zero_price_rows": 0}, 0)
    assert clean.status == "ok"
    bad = quality.ohlc("stocks_daily", "2024-06-14", {"ohlc_inconsistent_rows": 2, "zero_price_rows": 1,
                                                      "ohlc_inconsistent_first_line": 7}, 0)
    assert bad.status == "alert" and bad.value == 3 and "line 7" in bad.detail


def test_coverage_against_active_common_stocks():
    ref = {f"T{i}" for i in range(100)}
    assert quality.coverage("stocks_daily", "d", ref - {"T1", "T2"}, ref, 95, "2024-06-10").status == "ok"
    low = quality.coverage("stocks_daily", "d", {f"T{i}" for i in range(90)} | {"OTHER"}, ref, 95, "2024-06-10")
    assert low.status == "alert" and low.value == 90.0
    assert quality.coverage("stocks_daily", "d", {"A"}, set(), 95, None).status == "skipped"


def _bars(rows):
    return pd.DataFrame(rows, columns=["ticker", "open", "high", "low", "close"])


def test_bad_print_flags_the_real_nvda_bar_after_its_split_and_nothing_else():
    # The real NVDA bars around the 10:1 split of 2024-06-10 (massive-com community file).
    before = _bars([("NVDA", 1136.21, 1150, 1120.03, 1150), ("NVDA", 1157.16, 1166, 1140.45, 1164.37),
                    ("NVDA", 1183.71, 1224.495, 1174.68, 1224.4), ("NVDA", 1240.48, 1255.87, 1183.2, 1209.98),
                    ("NVDA", 1197.7, 1216.9171, 1180.22, 1208.88),
                    ("QQQQ", 50, 51, 49.5, 50.5), ("QQQQ", 50.5, 51.2, 50, 51)])
    day = _bars([("NVDA", 120.37, 195.95, 117.01, 121.79), ("QQQQ", 51, 51.8, 50.6, 51.5),
                 ("SPLT", 10.0, 10.2, 9.9, 10.1)])  # SPLT: a split, seen as a 10x lower price: not a bad print
    flagged = quality.bad_prints(day, before, 25.0, 4.0)
    assert flagged[["ticker", "side", "high"]].values.tolist() == [["NVDA", "high", 195.95]]
    assert flagged.loc[0, "excursion_pct"] == pytest.approx(60.89, abs=0.01)
    # the next session, back to normal, is quiet
    assert quality.bad_prints(_bars([("NVDA", 121.77, 122.87, 118.74, 120.91)]), before, 25.0, 4.0).empty


def test_bad_print_low_side_and_a_volatile_ticker_left_alone():
    usual = _bars([("WILD", 1.0, 1.4, 0.7, 1.0)] * 5 + [("CALM", 20, 20.2, 19.9, 20.1)] * 5)
    day = _bars([("WILD", 1.0, 1.3, 0.6, 1.1),  # 40% below its body, but it moves 70% a day
                 ("CALM", 20.0, 20.1, 9.0, 20.05)])  # 55% below: a bad low print
    flagged = quality.bad_prints(day, usual, 25.0, 4.0)
    assert flagged[["ticker", "side"]].values.tolist() == [["CALM", "low"]]


def test_pending_alerts_only_after_the_lateness_threshold():
    sc = [_sidecar("landing", "pending", "2024-06-14")]
    due = publication_due(dt.date(2024, 6, 14))  # Saturday 2024-06-15 11:00 New York
    assert due.isoformat() == "2024-06-15T11:00:00-04:00"
    waiting = quality.pending_late("stocks_daily", sc, due + dt.timedelta(hours=47), 48, "11:00")
    assert waiting.status == "ok" and "2024-06-14" in waiting.detail
    late = quality.pending_late("stocks_daily", sc, due + dt.timedelta(hours=49), 48, "11:00")
    assert late.status == "alert" and "2024-06-14" in late.detail


def test_thresholds_from_config():
    t = quality.Thresholds.from_config({"quality_freshness_days": 3, "quality_coverage_min_pct": 90})
    assert (t.freshness_days, t.coverage_min_pct, t.success_rate_min_pct) == (3, 90.0, 95.0)


@pytest.mark.parametrize("now, expected", [
    ("2024-06-18T14:59:00+00:00", "2024-06-14"),  # Tue 10:59 New York: Monday's files are not due yet
    ("2024-06-18T15:01:00+00:00", "2024-06-17"),  # Tue 11:01: Monday's are
    ("2024-06-15T16:00:00+00:00", "2024-06-14"),  # Saturday noon: Friday's
    ("2024-06-20T16:00:00+00:00", "2024-06-18"),  # Juneteenth (closed) passed, Tuesday's due Wed 11:00
])
def test_last_published_session(now, expected):
    assert last_published_session(dt.datetime.fromisoformat(now)).isoformat() == expected


def _write_sidecar(lake: Lake, layer: str, dataset: str, date: str, status: str) -> None:
    path = Path(lake.sidecar(layer, dataset, date))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(Sidecar(dataset, date, layer, status, Statistics()).to_json()))


def test_nightly_run_catches_up_pending_and_failed_sessions(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    for day in ("2024-06-11", "2024-06-12", "2024-06-13", "2024-06-14"):  # every session held ...
        for ds in ("stocks_daily", "options_daily"):
            _write_sidecar(lake, "landing", ds, day, "success")
    _write_sidecar(lake, "landing", "options_daily", "2024-06-12", "pending")  # ... but these two
    _write_sidecar(lake, "bronze", "stocks_daily", "2024-06-13", "failed")
    _write_sidecar(lake, "landing", "stocks_daily", "2024-06-05", "pending")  # beyond the catch-up window
    now = dt.datetime(2024, 6, 18, 16, 0, tzinfo=UTC)  # Tuesday noon New York: Monday 06-17 is due
    cfg = {"lake_root": lake.root, "rest_datasets": [], "datasets": ["stocks_daily", "options_daily"]}
    plan = settings.resolve(cfg, today=now)
    assert plan.sessions == ("2024-06-12", "2024-06-13", "2024-06-17")
    assert settings.resolve({**cfg, "catchup_sessions": 0}, today=now).sessions == ("2024-06-17",)
    # an explicit date is exactly that date
    assert settings.resolve({**cfg, "date": "2024-06-17"}, today=now).sessions == ("2024-06-17",)


def test_nightly_run_catches_up_sessions_no_run_reached(tmp_path):
    """Found by the soak: a night the machine was off (or a run killed before its first
    download) left its session without any record, and the next nightly run (days_back=1)
    never asked for it. Sessions after the dataset's first held one, in the catch-up window,
    without a record are now caught up; before the first held one they are history the
    user never asked for (a new lake's first night is one session)."""
    lake = Lake(str(tmp_path / "lake"))
    _write_sidecar(lake, "landing", "stocks_daily", "2024-06-11", "success")
    _write_sidecar(lake, "bronze", "stocks_daily", "2024-06-11", "success")
    _write_sidecar(lake, "landing", "stocks_daily", "2024-06-14", "success")  # 06-12, 06-13 never reached
    _write_sidecar(lake, "bronze", "stocks_daily", "2024-06-14", "success")
    now = dt.datetime(2024, 6, 18, 16, 0, tzinfo=UTC)
    cfg = {"lake_root": lake.root, "rest_datasets": [], "datasets": ["stocks_daily"]}
    assert settings.resolve(cfg, today=now).sessions == ("2024-06-12", "2024-06-13", "2024-06-17")
    assert settings.first_record(lake, "landing", "stocks_daily") == "2024-06-11"
    assert settings.first_record(lake, "landing", "options_daily") is None
    # a new lake: its first night is its one session, nothing before it
    empty = {**cfg, "lake_root": str(tmp_path / "new")}
    assert settings.resolve(empty, today=now).sessions == ("2024-06-17",)


def test_nightly_run_catches_up_a_landing_file_lost_with_its_record(tmp_path):
    """Found by the soak: a corrected file's re-download died on a full disk before it could
    record its failure; Snakemake had removed the landing copy, so bronze stood alone. Such a
    session (bronze record, no landing record) is caught up like a failed one."""
    lake = Lake(str(tmp_path / "lake"))
    for day in ("2024-06-11", "2024-06-12", "2024-06-13", "2024-06-14"):
        _write_sidecar(lake, "landing", "stocks_daily", day, "success")
        _write_sidecar(lake, "bronze", "stocks_daily", day, "success")
    Path(lake.sidecar("landing", "stocks_daily", "2024-06-12")).unlink()
    now = dt.datetime(2024, 6, 18, 16, 0, tzinfo=UTC)
    cfg = {"lake_root": lake.root, "rest_datasets": [], "datasets": ["stocks_daily"]}
    assert settings.resolve(cfg, today=now).sessions == ("2024-06-12", "2024-06-17")
    assert settings.unfinished_sessions(lake, ["stocks_daily"], [dt.date(2024, 6, 13)]) == []
