"""Point-in-time fundamentals: nothing filed after the as-of date is used, an amendment shows
only from its own filing date, a missing filing date is a documented rule, and the join
helper gives each (ticker, date) row what was known then."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from quantmini.paths import Lake
from quantmini.silver import point_in_time as pit
from quantmini.silver import pulls

from .test_silver import D, filing, put

Q = "quarterly_2023-06-01_2024-06-30"


@pytest.fixture()
def table(tmp_path):
    lake = Lake(str(tmp_path))
    first = put(lake, "fundamentals", "2024-03-03", Q,
                filing("ACME", "2023-09-30", "2023-11-02", 2023, "Q3", {"revenue": 90.0, "gross_profit": 30.0})
                + filing("ACME", "2023-12-31", "2024-02-01", 2023, "Q4", {"revenue": 100.0, "gross_profit": 40.0})
                + filing("BETA", "2023-12-31", "2024-02-20", 2023, "Q4", {"revenue": 7.0}))
    # A filing the vendor gives no filing date for: known from period end + 45 days.
    undated = [dict(r, filing_date=None) for r in filing("BETA", "2023-09-30", "2023-11-30", 2023, "Q3", {"revenue": 6.0})]
    second = put(lake, "fundamentals", "2024-06-02", Q,
                 # Q4 amended on 2024-03-15; Q1 filed 2024-05-01
                 filing("ACME", "2023-12-31", "2024-03-15", 2023, "Q4", {"revenue": 110.0, "gross_profit": 44.0})
                 + filing("ACME", "2024-03-31", "2024-05-01", 2024, "Q1", {"revenue": 120.0, "gross_profit": 60.0})
                 + undated)
    return pit.versions(pulls.load([first, second]).rows, "quarterly")


def test_every_version_is_kept_with_the_date_it_became_known(table):
    rows = [(r["ticker"], r["period_end"], r["known_date"], r["known_rule"], r["revenue"]) for r in table.to_pylist()]
    assert rows == [
        ("ACME", D("2023-09-30"), D("2023-11-02"), "filing_date", 90.0),
        ("ACME", D("2023-12-31"), D("2024-02-01"), "filing_date", 100.0),
        ("ACME", D("2023-12-31"), D("2024-03-15"), "filing_date", 110.0),
        ("ACME", D("2024-03-31"), D("2024-05-01"), "filing_date", 120.0),
        ("BETA", D("2023-09-30"), D("2023-11-14"), "period_end+45d", 6.0),
        ("BETA", D("2023-12-31"), D("2024-02-20"), "filing_date", 7.0),
    ]
    assert table.schema == pit.SCHEMA
    assert table.to_pylist()[2]["gross_margin"] == pytest.approx(0.4)  # the amendment's own ratio


@pytest.mark.parametrize("day, revenue, period", [
    ("2023-11-01", None, None),  # nothing filed yet
    ("2023-11-02", 90.0, "2023-09-30"),
    ("2024-02-10", 100.0, "2023-12-31"),  # the original Q4
    ("2024-03-14", 100.0, "2023-12-31"),
    ("2024-03-15", 110.0, "2023-12-31"),  # the amendment, from its filing date on
    ("2024-05-01", 120.0, "2024-03-31"),
])
def test_as_of_answers_with_what_was_known(table, day, revenue, period):
    got = pit.as_of(table, ["ACME"], day)
    if revenue is None:
        assert got.height == 0
    else:
        assert got.height == 1 and got["revenue"][0] == revenue and got["period_end"][0] == D(period)


def test_as_of_all_periods_and_the_undated_rule(table):
    got = pit.as_of(table, ["ACME", "BETA"], "2024-03-20", all_periods=True)
    assert [(r["ticker"], r["period_end"], r["revenue"]) for r in got.to_dicts()] == [
        ("ACME", D("2023-09-30"), 90.0), ("ACME", D("2023-12-31"), 110.0),
        ("BETA", D("2023-09-30"), 6.0), ("BETA", D("2023-12-31"), 7.0)]
    assert pit.as_of(table, ["BETA"], "2023-11-13").height == 0
    assert pit.as_of(table, ["BETA"], "2023-11-14")["known_rule"][0] == "period_end+45d"


def test_never_a_filing_after_the_as_of_date(table):
    rng = random.Random(7)
    for _ in range(200):
        day = dt.date(2023, 10, 1) + dt.timedelta(days=rng.randrange(300))
        got = pit.as_of(table, ["ACME", "BETA"], day, all_periods=rng.random() < 0.5)
        assert all(k <= day for k in got["known_date"].to_list()), day


def test_attach_gives_each_row_what_was_known_on_its_date(table):
    frame = pl.DataFrame({
        "ticker": ["ACME", "ACME", "BETA", "ACME", "ACME", "ZZZZ", "ACME"],
        "date": [D("2024-03-14"), D("2024-03-15"), D("2024-03-01"), D("2023-10-01"), D("2024-05-02"), D("2024-05-02"),
                 D("2024-04-30")],
        "close": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    })
    out = pit.attach(frame, table, columns=["revenue", "gross_margin"])
    assert out["close"].to_list() == frame["close"].to_list()  # the frame's rows, in its order
    assert out["revenue"].to_list() == [100.0, 110.0, 7.0, None, 120.0, None, 110.0]
    assert out["period_end"].to_list()[:2] == [D("2023-12-31"), D("2023-12-31")]
    assert out["gross_margin"][4] == pytest.approx(0.5)
    # a late amendment of an OLDER period does not replace the newer period already known
    late = pl.concat([pl.from_arrow(table), pl.from_arrow(table).filter(pl.col("period_end") == D("2023-09-30"))
                      .with_columns(pl.lit(D("2024-05-10")).alias("known_date"), pl.lit(95.0).alias("revenue"))])
    again = pit.attach(pl.DataFrame({"ticker": ["ACME"], "date": [D("2024-05-20")]}), late, columns=["revenue"])
    assert again["revenue"].to_list() == [120.0]


def test_trailing_twelve_months_as_known(tmp_path):
    lake = Lake(str(tmp_path))
    quarters = [("2023-06-30", "2023-08-01", 2023, "Q2", 1.0), ("2023-09-30", "2023-11-01", 2023, "Q3", 2.0),
                ("2023-12-31", "2024-02-01", 2023, "Q4", 3.0), ("2024-03-31", "2024-05-01", 2024, "Q1", 4.0)]
    rows = [r for end, filed, fy, fp, rev in quarters for r in filing("ACME", end, filed, fy, fp, {"revenue": rev})]
    rows += filing("ACME", "2023-09-30", "2024-05-20", 2023, "Q3", {"revenue": 2.5})  # a late amendment of Q3
    table = pit.versions(pulls.load([put(lake, "fundamentals", "2024-06-02", Q, rows)]).rows, "quarterly")
    st = pit.states(table)
    got = {r["known_date"]: r["revenue_ttm"] for r in st.to_dicts()}
    assert got[D("2024-02-01")] is None  # three quarters known
    assert got[D("2024-05-01")] == 10.0
    assert got[D("2024-05-20")] == 10.5  # the amendment changes the sum from its own date on


def test_valuation_from_what_was_known_and_the_raw_close(tmp_path):
    lake = Lake(str(tmp_path))
    rows = []
    for end, filed, fy, fp in [("2023-06-30", "2023-08-01", 2023, "Q2"), ("2023-09-30", "2023-11-01", 2023, "Q3"),
                               ("2023-12-31", "2024-02-01", 2023, "Q4"), ("2024-03-31", "2024-05-01", 2024, "Q1")]:
        rows += filing("ACME", end, filed, fy, fp, {"revenue": 100.0, "diluted_earnings_per_share": 0.5,
                                                    "basic_shares_outstanding": 1000.0, "total_equity": 4000.0})
    table = pit.versions(pulls.load([put(lake, "fundamentals", "2024-06-02", Q, rows)]).rows, "quarterly")
    splits = pl.DataFrame({"ticker": ["ACME"], "event_date": [D("2024-06-10")], "split_ratio": [4.0]})
    dividends = pl.DataFrame({"ticker": ["ACME", "ACME"], "event_date": [D("2024-02-15"), D("2024-06-12")],
                              "div_cash_amount": [0.40, 0.10], "div_type": ["CD", "CD"]})
    frame = pl.DataFrame({"ticker": ["ACME", "ACME", "ACME"], "date": [D("2024-06-14"), D("2024-05-02"), D("2024-04-01")],
                          "close": [10.0, 40.0, 38.0]})
    out = pit.valuation(frame, table, splits, dividends).to_dicts()
    after, before, early = out
    assert [r["date"] for r in out] == [D("2024-06-14"), D("2024-05-02"), D("2024-04-01")]  # the frame's order
    # before the split: 1000 shares x 40; EPS TTM 2.0
    assert before["market_cap"] == 40_000 and before["pe"] == 20.0 and before["pb"] == 10.0 and before["ps"] == 100.0
    assert before["dividend_yield"] == pytest.approx(0.40 / 40)
    # after the 4:1 split: 4000 shares x 10 (the same value), EPS 0.5, the old dividend a quarter per share
    assert after["market_cap"] == 40_000 and after["pe"] == 20.0
    assert after["dividend_yield"] == pytest.approx((0.40 / 4 + 0.10) / 10)
    assert early["pe"] is None and early["market_cap"] == 38_000  # Q4 known: three quarters, no TTM yet
