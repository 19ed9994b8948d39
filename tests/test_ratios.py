"""The guide's ratio set, each against a hand computation on a real recorded financials
response (../shared/fixtures/polygon: Apple's fiscal Q3 2025 statements as the current
endpoints document them, and the legacy /vX/reference/financials response), growth matched
by fiscal period, and trailing twelve months null when a quarter is missing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quantmini.paths import Lake
from quantmini.rest.datasets import REST_DATASETS, Request
from quantmini.rest.pull import build_table
from quantmini.sandbox.fixtures import fixtures_dir
from quantmini.silver import fundamentals

from .test_silver import D, filing, put

FIXTURES = fixtures_dir()
needs_fixtures = pytest.mark.skipif(FIXTURES is None, reason="../shared/fixtures/polygon is absent (CI has it): "
                                                               "the recorded financials cannot be read")
PULLED = dt.datetime(2025, 8, 10, 12, tzinfo=dt.timezone.utc)


def _lake_pull(tmp_path, rows: list[dict]) -> str:
    spec = REST_DATASETS["fundamentals"]
    table = build_table(spec, rows, PULLED)
    path = Path(Lake(str(tmp_path)).bronze_rest("fundamentals", "2025-08-10", "quarterly_2025-02-11_2025-08-10"))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return str(path)


@needs_fixtures
def test_every_ratio_on_apples_recorded_statements(tmp_path):
    spec = REST_DATASETS["fundamentals"]
    raw, rows = {}, []
    for statement, slug in (("balance_sheet", "balance-sheets"), ("income_statement", "income-statements"),
                            ("cash_flow_statement", "cash-flow-statements")):
        records = json.loads((Path(FIXTURES) / "doc_examples" / "stocks" / "financials" / "v1" / f"{slug}.json")
                             .read_text())["results"]
        raw.update(records[0])
        req = Request(f"/stocks/financials/v1/{slug}", {}, context={"statement": statement})
        rows += [row for r in records for row in spec.rows("current", r, req)]
    flat = fundamentals.build([_lake_pull(tmp_path, rows)], "quarterly")
    r = fundamentals.ratios(flat).to_pylist()[0]
    assert (r["ticker"], r["period_end"], r["fiscal_period"]) == ("AAPL", D("2025-06-28"), "Q3")
    v = {k: float(x) for k, x in raw.items() if isinstance(x, (int, float)) and not isinstance(x, bool)}
    net, rev, tcl = v["consolidated_net_income_loss"], v["revenue"], v["total_current_liabilities"]
    ocf, capex = v["net_cash_from_operating_activities"], v["purchase_of_property_plant_and_equipment"]
    expected = {
        "gross_margin": v["gross_profit"] / rev,
        "operating_margin": v["operating_income"] / rev,
        "net_margin": net / rev,
        "return_on_assets": net / v["total_assets"],
        "return_on_equity": net / v["total_equity"],
        "current_ratio": v["total_current_assets"] / tcl,
        "quick_ratio": (v["total_current_assets"] - v["inventories"]) / tcl,
        "cash_ratio": v["cash_and_equivalents"] / tcl,
        "working_capital": v["total_current_assets"] - tcl,
        "debt_to_equity": v["total_liabilities"] / v["total_equity"],
        "debt_to_assets": v["total_liabilities"] / v["total_assets"],
        "equity_multiplier": v["total_assets"] / v["total_equity"],
        "asset_turnover": 4 * rev / v["total_assets"],
        "inventory_turnover": 4 * v["cost_of_revenue"] / v["inventories"],
        "receivables_turnover": 4 * rev / v["receivables"],
        "days_sales_outstanding": 365 * v["receivables"] / (4 * rev),
        "operating_cash_flow_ratio": ocf / tcl,
        "operating_cash_flow_to_net_income": ocf / net,
        "free_cash_flow": ocf - abs(capex),
    }
    assert capex < 0  # the vendor reports capex as an outflow
    for name, value in expected.items():
        assert r[name] == pytest.approx(value, rel=1e-12), name
    assert r["interest_coverage"] is None  # the current income statement names no interest expense
    assert r["revenue_ttm"] is None  # one quarter held: no trailing twelve months
    assert set(expected) | {"interest_coverage"} == set(fundamentals.RATIOS)


@needs_fixtures
def test_interest_coverage_on_the_legacy_recorded_response(tmp_path):
    spec = REST_DATASETS["fundamentals"]
    records = json.loads((Path(FIXTURES) / "rest_mocks" / "client-python" / "vX" / "reference" / "financials.json")
                         .read_text())["results"]
    req = Request("/vX/reference/financials", {"timeframe": "quarterly"}, ticker="NXPI")
    rows = [dict(row, timeframe=row["timeframe"] or "quarterly") for r in records for row in spec.rows("legacy", r, req)]
    flat = fundamentals.build([_lake_pull(tmp_path, rows)], "quarterly")
    r = fundamentals.ratios(flat).to_pylist()[0]
    inc = records[0]["financials"]["income_statement"]
    expected = inc["operating_income_loss"]["value"] / abs(inc["interest_expense_operating"]["value"])
    assert r["interest_coverage"] == pytest.approx(expected, rel=1e-12)
    assert r["gross_margin"] == pytest.approx(inc["gross_profit"]["value"] / inc["revenues"]["value"], rel=1e-12)


def _quarters(tmp_path, periods):
    lake = Lake(str(tmp_path))
    rows = []
    for end, fy, fp, revenue in periods:
        filed = (D(end) + dt.timedelta(days=30)).isoformat()
        rows += filing("ACME", end, filed, fy, fp, {"revenue": revenue, "consolidated_net_income_loss": revenue / 10})
    return fundamentals.ratios(fundamentals.build([put(lake, "fundamentals", "2025-06-01", "quarterly_2023-01-01_2025-06-01",
                                                      rows)], "quarterly")).to_pylist()


def test_year_over_year_pairs_the_same_fiscal_quarter_when_one_is_missing(tmp_path):
    # Q2 2024 is missing: Q3 2024's y/y still pairs with Q3 2023, its q/q has no adjacent quarter
    rows = _quarters(tmp_path, [("2023-06-30", 2023, "Q2", 80.0), ("2023-09-30", 2023, "Q3", 90.0),
                                ("2024-03-31", 2024, "Q1", 100.0), ("2024-09-30", 2024, "Q3", 117.0)])
    q3 = rows[-1]
    assert q3["revenue_growth_yoy"] == pytest.approx(117 / 90 - 1)
    assert q3["revenue_growth_qoq"] is None


def test_trailing_twelve_months_needs_four_consecutive_quarters(tmp_path):
    full = _quarters(tmp_path / "a", [("2023-09-30", 2023, "Q3", 1.0), ("2023-12-31", 2023, "Q4", 2.0),
                                      ("2024-03-31", 2024, "Q1", 3.0), ("2024-06-30", 2024, "Q2", 4.0),
                                      ("2024-09-30", 2024, "Q3", 5.0)])
    assert [r["revenue_ttm"] for r in full] == [None, None, None, 10.0, 14.0]
    assert full[-1]["net_income_ttm"] == pytest.approx(1.4)
    gap = _quarters(tmp_path / "b", [("2023-09-30", 2023, "Q3", 1.0), ("2023-12-31", 2023, "Q4", 2.0),
                                     ("2024-06-30", 2024, "Q2", 4.0), ("2024-09-30", 2024, "Q3", 5.0),
                                     ("2024-12-31", 2024, "Q4", 6.0)])
    assert [r["revenue_ttm"] for r in gap] == [None, None, None, None, None]  # Q1 2024 missing
