"""Silver transforms on hand-made bronze pulls: the latest pull wins, withdrawn events go,
amendments replace filings, derived fields and ratios have exact values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.paths import Lake
from quantmini.rest.datasets import REST_DATASETS
from quantmini.silver import corporate_actions, fundamentals, pulls

D = dt.date.fromisoformat


def put(lake: Lake, dataset: str, pull_date: str, window: str, rows: list[dict], hour: int = 12) -> str:
    """A bronze partition as the REST job writes it."""
    schema = REST_DATASETS[dataset].schema
    at = dt.datetime.fromisoformat(f"{pull_date}T{hour:02d}:00:00+00:00")
    table = pa.Table.from_pylist([{**{n: None for n in schema.names}, **r, "pulled_at": at} for r in rows], schema=schema)
    path = Path(lake.bronze_rest(dataset, pull_date, window))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return str(path)


def div(id_, ticker, ex, cash, freq=4, dtype="CD"):
    return {"id": id_, "ticker": ticker, "ex_dividend_date": D(ex), "cash_amount": cash, "frequency": freq,
            "dividend_type": dtype, "currency": "USD"}


def test_dividends_latest_pull_wins_and_withdrawn_events_go(tmp_path):
    lake = Lake(str(tmp_path))
    old = put(lake, "dividends", "2024-05-01", "2024-04-01_2024-07-30", [div("d4", "IBM", "2024-04-05", 1.67)])
    a = put(lake, "dividends", "2024-06-01", "2024-05-02_2024-08-30", [
        div("d1", "AAPL", "2024-06-10", 0.25), div("d2", "MSFT", "2024-06-20", 0.75),
        div("d3", "XYZ", "2024-08-01", 2.0, freq=0, dtype="SC")])
    b = put(lake, "dividends", "2024-06-02", "2024-05-03_2024-08-31", [
        div("d1", "AAPL", "2024-06-10", 0.26), div("d2", "MSFT", "2024-06-20", 0.75)])
    table = corporate_actions.build("dividend", [b, old, a])  # input order does not matter
    assert table.schema == corporate_actions.SCHEMA
    rows = table.to_pylist()
    assert [r["ticker"] for r in rows] == ["AAPL", "IBM", "MSFT"]  # XYZ withdrawn by the later pull
    aapl = rows[0]
    assert aapl["div_cash_amount"] == 0.26 and aapl["div_annualized_amount"] == pytest.approx(1.04)
    assert aapl["div_quarter"] == 2 and aapl["div_is_special"] is False and aapl["source_pull_date"] == D("2024-06-02")
    assert rows[1]["source_pull_date"] == D("2024-05-01")  # outside the later windows: kept from the old pull
    assert all(r["event_type"] == "dividend" and r["split_ratio"] is None for r in rows)


def test_special_dividend_has_no_annualized_amount(tmp_path):
    lake = Lake(str(tmp_path))
    p = put(lake, "dividends", "2024-06-01", "2024-05-02_2024-08-30", [div("s", "XYZ", "2024-08-01", 2.0, freq=0, dtype="SC")])
    row = corporate_actions.build("dividend", [p]).to_pylist()[0]
    assert row["div_is_special"] is True and row["div_annualized_amount"] is None and row["div_quarter"] == 3


def test_two_pulls_of_one_date_order_by_pull_time(tmp_path):
    """The 1st of a month pulls a 2-year backfill and the daily window: the later one wins."""
    lake = Lake(str(tmp_path))
    early = put(lake, "dividends", "2024-05-01", "2022-05-01_2024-04-30", [div("d", "AAPL", "2024-04-15", 0.24)], hour=11)
    late = put(lake, "dividends", "2024-05-01", "2024-04-01_2024-07-30", [div("d", "AAPL", "2024-04-15", 0.25)], hour=12)
    rows = corporate_actions.build("dividend", [late, early]).to_pylist()
    assert [r["div_cash_amount"] for r in rows] == [0.25]


def test_splits_ratio_and_reverse(tmp_path):
    lake = Lake(str(tmp_path))
    p = put(lake, "splits", "2024-06-10", "2024-05-11_2024-09-08", [
        {"id": "s1", "ticker": "NVDA", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 10.0},
        {"id": "s2", "ticker": "ABC", "execution_date": D("2024-06-12"), "split_from": 20.0, "split_to": 1.0}])
    rows = {r["ticker"]: r for r in corporate_actions.build("split", [p]).to_pylist()}
    assert rows["NVDA"]["split_ratio"] == 10.0 and rows["NVDA"]["split_is_reverse"] is False
    assert rows["ABC"]["split_ratio"] == 0.05 and rows["ABC"]["split_is_reverse"] is True
    assert rows["ABC"]["event_date"] == D("2024-06-12")


def test_ticker_changes_name_the_previous_symbol(tmp_path):
    lake = Lake(str(tmp_path))
    events = [
        {"requested": "QMNEW", "event_type": "ticker_change", "event_date": D("2019-01-02"), "ticker": "QMOLD", "cik": "1"},
        {"requested": "QMNEW", "event_type": "ticker_change", "event_date": D("2024-06-20"), "ticker": "QMNEW", "cik": "1"},
    ]
    first = put(lake, "ticker_events", "2024-06-23", "all", events)
    again = put(lake, "ticker_events", "2024-06-30", "all", events)
    rows = corporate_actions.build("ticker_change", [first, again]).to_pylist()
    assert [(r["ticker"], r["event_date"], r["tc_previous_ticker"], r["tc_new_ticker"]) for r in rows] == [
        ("QMNEW", D("2019-01-02"), None, "QMOLD"), ("QMNEW", D("2024-06-20"), "QMOLD", "QMNEW")]
    assert rows[1]["source_pull_date"] == D("2024-06-30")


def test_empty_sources_give_empty_tables_with_the_schema():
    for event in corporate_actions.EVENT_TYPES:
        table = corporate_actions.build(event, [])
        assert table.num_rows == 0 and table.schema == corporate_actions.SCHEMA


def test_a_path_that_is_not_a_pull_is_named():
    with pytest.raises(pulls.BadPullPath, match="not-a-pull.parquet"):
        pulls.Pull.from_path("/lake/bronze/dividends/not-a-pull.parquet")


def filing(ticker, end, filed, fy, fp, values, timeframe="quarterly"):
    base = {"ticker": ticker, "tickers": [ticker], "cik": "1", "filing_date": D(filed), "period_end": D(end),
            "fiscal_year": fy, "fiscal_period": fp, "timeframe": timeframe}
    return [{**base, "statement": "income_statement", "concept": c, "value": v, "unit": "USD"} for c, v in values.items()]


def test_fundamentals_flatten_keeps_the_amendment_and_ratios_are_exact(tmp_path):
    lake = Lake(str(tmp_path))
    q = "quarterly_2023-12-01_2024-05-29"
    p1 = put(lake, "fundamentals", "2024-06-02", q,
             filing("AAPL", "2023-06-30", "2023-08-01", 2023, "Q3", {"revenue": 80.0, "consolidated_net_income_loss": 20.0})
             + filing("AAPL", "2024-03-31", "2024-05-01", 2024, "Q2", {"revenue": 90.0, "gross_profit": 40.0,
                                                                       "consolidated_net_income_loss": -10.0})
             + filing("AAPL", "2024-06-30", "2024-08-01", 2024, "Q3", {"revenue": 100.0, "gross_profit": 45.0,
                                                                       "consolidated_net_income_loss": -5.0, "total_equity": 0.0}))
    # An amendment of Q3 2024 filed later, pulled the next week: it replaces the original.
    p2 = put(lake, "fundamentals", "2024-06-09", q,
             filing("AAPL", "2024-06-30", "2024-08-15", 2024, "Q3", {"revenue": 110.0, "gross_profit": 44.0,
                                                                     "consolidated_net_income_loss": -5.0, "total_equity": 0.0}))
    flat = fundamentals.build([p1, p2], "quarterly")
    assert flat.schema == fundamentals.SCHEMA
    rows = flat.to_pylist()
    assert [(r["period_end"], r["filing_date"]) for r in rows] == [
        (D("2023-06-30"), D("2023-08-01")), (D("2024-03-31"), D("2024-05-01")), (D("2024-06-30"), D("2024-08-15"))]
    assert rows[2]["revenue"] == 110.0 and rows[2]["source_pull_date"] == D("2024-06-09")
    assert rows[0]["gross_profit"] is None  # not filed: null, not zero
    assert fundamentals.build([p1, p2], "annual").num_rows == 0

    r = {x["period_end"]: x for x in fundamentals.ratios(flat).to_pylist()}
    q3 = r[D("2024-06-30")]
    assert q3["gross_margin"] == pytest.approx(0.4) and q3["net_margin"] == pytest.approx(-5 / 110)
    assert q3["return_on_equity"] is None  # equity 0: no ratio, not infinity
    assert q3["revenue_growth_qoq"] == pytest.approx(110 / 90 - 1)
    assert q3["net_income_growth_qoq"] == pytest.approx(0.5)  # a loss halving is growth
    assert q3["revenue_growth_yoy"] == pytest.approx(110 / 80 - 1)
    q2 = r[D("2024-03-31")]
    assert q2["revenue_growth_qoq"] is None  # the previous row is three quarters back, not adjacent
    assert q2["revenue_growth_yoy"] is None  # no Q2 2023 filing


def test_an_empty_pull_withdraws_what_its_window_covers(tmp_path):
    """A later pull that finds nothing in its window still says the window's events are gone."""
    lake = Lake(str(tmp_path))
    first = put(lake, "splits", "2024-06-10", "2024-05-11_2024-09-08", [
        {"id": "s1", "ticker": "NVDA", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 10.0},
        {"id": "s0", "ticker": "OLD", "execution_date": D("2024-05-11"), "split_from": 1.0, "split_to": 2.0}])
    empty = put(lake, "splits", "2024-06-11", "2024-05-12_2024-09-09", [])
    rows = corporate_actions.build("split", [first, empty]).to_pylist()
    assert [r["event_id"] for r in rows] == ["s0"]  # s0 is before the empty pull's window
