"""The REST schedule (pure): which pulls a date makes, with the guide's default windows."""

from __future__ import annotations

import datetime as dt

import pytest

from quantmini import settings
from quantmini.rest.datasets import REST_DATASETS
from quantmini.rest.schedule import latest_due, pulls_for
from quantmini.rest.windows import Window

ALL = tuple(REST_DATASETS)


def names(day: str, **kw) -> list[tuple[str, str]]:
    return [(p.dataset, p.window.name) for p in pulls_for(dt.date.fromisoformat(day), kw.pop("datasets", ALL), **kw)]


def test_a_weekday_pulls_corporate_actions_and_news():
    assert names("2024-06-11") == [
        ("dividends", "2024-05-12_2024-09-09"),
        ("splits", "2024-05-12_2024-09-09"),
        ("ipos", "2024-05-12_2024-09-09"),
        ("news", "2024-06-10_2024-06-10"),
    ]


def test_monday_adds_short_data_and_reference_tickers():
    got = names("2024-06-10")
    assert ("short_interest", "2024-05-11_2024-06-10") in got and ("short_volume", "2024-05-11_2024-06-10") in got
    assert ("tickers", "active") in got and ("tickers", "delisted") in got and len(got) == 8


def test_sunday_adds_fundamentals_and_ticker_events():
    got = names("2024-06-09")
    assert ("fundamentals", "quarterly_2023-12-12_2024-06-09") in got
    assert ("fundamentals", "annual_2023-06-10_2024-06-09") in got
    assert ("ticker_events", "all") in got and len(got) == 7


def test_first_of_month_adds_a_two_year_backfill():
    got = names("2024-06-01")
    for ds in ("dividends", "splits", "ipos"):
        assert (ds, "2022-06-02_2024-06-01") in got and (ds, "2024-05-02_2024-08-30") in got
    assert len(got) == 7


def test_force_and_config_overrides():
    got = names("2024-06-11", force=("fundamentals",))
    assert [n for n, _ in got].count("fundamentals") == 2
    got = names("2024-06-11", schedule={"corporate_actions": "never", "news": "tuesday"}, windows={"news_days": 3})
    assert got == [("news", "2024-06-08_2024-06-10")]
    assert names("2024-06-11", datasets=("news",)) == [("news", "2024-06-10_2024-06-10")]


def test_latest_reference_pull_for_a_sunday_is_the_monday_before():
    assert latest_due("tickers", dt.date(2024, 6, 9)) == dt.date(2024, 6, 3)
    assert latest_due("tickers", dt.date(2024, 6, 10)) == dt.date(2024, 6, 10)


@pytest.mark.parametrize("name", ["2024-05-12_2024-09-09", "quarterly_2023-12-12_2024-06-09", "active"])
def test_window_names_round_trip(name):
    assert Window.parse(name).name == name


@pytest.mark.parametrize("bad", ["2024-09-09_2024-05-12", "Active", "2024-5-1_2024-06-01", "x_y"])
def test_bad_window_names_are_refused(bad):
    with pytest.raises(ValueError, match="window"):
        Window.parse(bad)


def test_pull_date_defaults_and_unknown_names():
    plan = settings.resolve({"date": "2024-06-14", "datasets": []})
    assert plan.pull_date == "2024-06-14" and plan.datasets == ()
    assert settings.resolve({"end": "2024-06-10", "start": "2024-06-03", "pull_date": "2024-06-09"}).pull_date == "2024-06-09"
    sunday = settings.resolve({"date": "2024-06-09", "datasets": []})
    assert sunday.sessions == () and {p.dataset for p in sunday.pulls} >= {"fundamentals", "ticker_events"}
    with_flat = settings.resolve({"date": "2024-06-09"})
    assert with_flat.sessions == () and "the REST pulls due on 2024-06-09 run" in with_flat.notice
    with pytest.raises(settings.ConfigError, match="config key 'date': 2024-06-09 is not an XNYS trading session .*nothing to do"):
        settings.resolve({"date": "2024-06-09", "rest_datasets": []})
    with pytest.raises(settings.ConfigError, match="config key 'rest_force': unknown REST dataset 'earnings'"):
        settings.resolve({"date": "2024-06-14", "rest_force": ["earnings"]})


def test_a_missed_backfill_is_made_up_by_the_next_run_of_a_lake_that_was_running():
    """Found by the soak (seed 3): the 2-year splits backfill of June 1 failed (a 5xx storm),
    and no later night made it until July 1, so the lake lacked two years of splits."""
    from quantmini.rest.schedule import missed_backfills

    may = [(ds, "2024-05-31", "2024-05-01_2024-08-29") for ds in ("dividends", "splits")]
    june_1 = [("dividends", "2024-06-01", "2022-06-02_2024-06-01"), ("dividends", "2024-06-01", "2024-05-02_2024-08-30")]
    made = missed_backfills(dt.date(2024, 6, 4), ("dividends", "splits"), may + june_1)
    assert [(p.dataset, p.window.name) for p in made] == [("splits", "2022-06-05_2024-06-04")]
    # once made (the pull of June 4 holds the 2 years), the next nights make it no more
    held = may + june_1 + [("splits", "2024-06-04", "2022-06-05_2024-06-04")]
    assert missed_backfills(dt.date(2024, 6, 5), ("dividends", "splits"), held) == []
    # the backfill day itself pulls it on schedule; a new lake waits for the next one; no
    # backfill day (0), or a dataset not enabled, makes none
    assert missed_backfills(dt.date(2024, 6, 1), ("dividends", "splits"), may) == []
    assert missed_backfills(dt.date(2024, 6, 4), ("dividends", "splits"), june_1[:0]) == []
    assert missed_backfills(dt.date(2024, 6, 4), ("splits",), may, {"corporate_actions_backfill_day": 0}) == []
    assert missed_backfills(dt.date(2024, 6, 4), ("dividends",), may + june_1) == []


def test_a_run_after_a_missed_backfill_plans_it(tmp_path):
    from quantmini.paths import Lake

    lake = Lake(str(tmp_path))
    for ds in ("dividends", "splits"):
        path = tmp_path / lake.bronze_rest(ds, "2024-05-31", "2024-05-01_2024-08-29").removeprefix(str(tmp_path) + "/")
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    config = {"lake_root": str(tmp_path), "rest_datasets": ["dividends", "splits"], "pull_date": "2024-06-04"}
    _, pulls = settings.resolve_rest(settings.with_defaults(config))
    assert sorted((p.dataset, p.window.name) for p in pulls) == [
        ("dividends", "2022-06-05_2024-06-04"), ("dividends", "2024-05-05_2024-09-02"),
        ("splits", "2022-06-05_2024-06-04"), ("splits", "2024-05-05_2024-09-02")]
