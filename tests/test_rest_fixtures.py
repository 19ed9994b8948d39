"""The real recorded responses (and the vendor's documented examples) parse into bronze
field by field. They are read from ../shared (never copied into the repository)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from quantmini.rest.client import RestClient, RestSettings
from quantmini.rest.datasets import CONCEPTS, REST_DATASETS, Request, concept_unit
from quantmini.rest.pull import build_table
from quantmini.rest.ratelimit import RateLimiter
from quantmini.sandbox.fixtures import fixtures_dir

from .conftest import API_KEY

FIXTURES = fixtures_dir()
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="../shared/fixtures/polygon is absent (CI has it): recorded responses cannot be replayed")
PULLED = dt.datetime(2024, 6, 14, 12, tzinfo=dt.timezone.utc)


def _norm(v):
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _client(sandbox, tmp_path, monkeypatch) -> RestClient:
    monkeypatch.setenv("MASSIVE_API_KEY", API_KEY)
    return RestClient(RestSettings(base_url=sandbox.rest_url, rate_limit_calls=0), RateLimiter(tmp_path / "l.json", 0))


def _recorded(rel: str) -> dict:
    return json.loads((Path(FIXTURES) / "rest_mocks" / "client-python" / rel).read_text())


def _bronze(dataset: str, style: str, records: list[dict], req: Request) -> list[dict]:
    spec = REST_DATASETS[dataset]
    rows = [row for r in records for row in spec.rows(style, r, req)]
    table = build_table(spec, rows, PULLED)
    assert table.schema == spec.schema
    return [{k: _norm(v) for k, v in row.items()} for row in table.to_pylist()]


def _same_scalars(source: dict, row: dict, skip=()) -> None:
    for key, value in source.items():
        if key in skip or isinstance(value, (dict, list)):
            continue
        if key in row:
            expected = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(row[key], float) else value
            assert row[key] == expected, (key, row[key], value)


@pytest.mark.parametrize("dataset, path, params", [
    ("dividends", "/v3/reference/dividends", {}),
    ("splits", "/v3/reference/splits", {}),
    ("tickers", "/v3/reference/tickers", {}),
    ("news", "/v2/reference/news", {"ticker": "NFLX"}),
])
def test_recorded_list_responses_parse_field_by_field(sandbox, tmp_path, monkeypatch, dataset, path, params):
    c = _client(sandbox, tmp_path, monkeypatch)
    records = list(c.results(path, params))
    rel = path.lstrip("/") + ("&" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "") + ".json"
    expected = _recorded(rel)["results"]
    if dataset == "tickers":  # two recorded pages, joined by next_url -> cursor
        cursor = [p for p in (Path(FIXTURES) / "rest_mocks/client-python/v3/reference").glob("tickers&cursor=*.json")]
        expected = expected + json.loads(cursor[0].read_text())["results"]
        assert c.stats.pages == 2
    assert records == expected
    rows = _bronze(dataset, "legacy", records, Request(path, params))
    key = {"dividends": ("ticker", "ex_dividend_date"), "splits": ("ticker", "execution_date"),
           "tickers": ("ticker",), "news": ("id",)}[dataset]
    by_key = {tuple(r[k] for k in key): r for r in rows}
    assert len(by_key) == len(records)
    for rec in records:
        row = by_key[tuple(rec[k] for k in key)]
        _same_scalars(rec, row)
        assert row["pulled_at"] == "2024-06-14T12:00:00Z"
        if dataset == "dividends":
            assert row["distribution_type"] == {"CD": "recurring", "SC": "special"}.get(rec["dividend_type"], row["distribution_type"])
        if dataset == "splits":
            assert row["adjustment_type"] == ("forward_split" if rec["split_to"] > rec["split_from"] else "reverse_split")
        if dataset == "news":
            assert row["tickers"] == rec["tickers"] and row["keywords"] == rec.get("keywords", [])
            assert json.loads(row["publisher"]) == rec["publisher"] and row["publisher_name"] == rec["publisher"]["name"]
            assert json.loads(row["insights"]) == rec.get("insights") if rec.get("insights") else row["insights"] is None


def test_recorded_ticker_events_parse(sandbox, tmp_path, monkeypatch):
    c = _client(sandbox, tmp_path, monkeypatch)
    req = REST_DATASETS["ticker_events"].plan("legacy", None, ["META"])[0]
    assert (req.path, req.params) == ("/vX/reference/tickers/META/events", {"types": "ticker_change"})
    records = list(c.results(req.path, req.params))
    rec = _recorded("vX/reference/tickers/META/events&types=ticker_change.json")["results"]
    assert records == [rec]
    rows = _bronze("ticker_events", "legacy", records, req)
    assert [(r["event_date"], r["ticker"]) for r in rows] == sorted((e["date"], e["ticker_change"]["ticker"]) for e in rec["events"])
    assert {(r["requested"], r["name"], r["cik"], r["composite_figi"], r["event_type"]) for r in rows} == {
        ("META", rec["name"], rec["cik"], rec["composite_figi"], "ticker_change")}


def test_recorded_financials_parse_every_data_point(sandbox, tmp_path, monkeypatch):
    c = _client(sandbox, tmp_path, monkeypatch)
    records = list(c.results("/vX/reference/financials"))
    assert records == _recorded("vX/reference/financials.json")["results"]
    rows = _bronze("fundamentals", "legacy", records, Request("/vX/reference/financials", {}, ticker="NXPI"))
    points = [(st, key, p) for r in records for st, items in r["financials"].items() for key, p in items.items()]
    assert len(rows) == len(points)
    index = {(r["statement"], r["concept"]): r for r in rows}
    for statement, key, point in points:
        row = index[(statement, CONCEPTS.get(statement, {}).get(key, key))]
        assert (row["value"], row["unit"], row["label"]) == (float(point["value"]), point["unit"], point["label"])
    rec = records[0]
    for row in rows:
        assert (row["cik"], row["company_name"], row["fiscal_period"], row["fiscal_year"]) == (rec["cik"], rec["company_name"], rec["fiscal_period"], int(rec["fiscal_year"]))
        assert (row["filing_date"], row["period_start"], row["period_end"]) == (rec["filing_date"], rec["start_date"], rec["end_date"])


def _doc(rel: str) -> list[dict]:
    return json.loads((Path(FIXTURES) / "doc_examples" / rel).read_text())["results"]


@pytest.mark.parametrize("dataset, rel", [
    ("dividends", "stocks/v1/dividends.json"),
    ("splits", "stocks/v1/splits.json"),
    ("ipos", "vX/reference/ipos.json"),
    ("short_interest", "stocks/v1/short-interest.json"),
    ("short_volume", "stocks/v1/short-volume.json"),
])
def test_documented_examples_of_current_endpoints_parse(dataset, rel):
    records = _doc(rel)
    style = "legacy" if rel.startswith("vX") else "current"
    rows = _bronze(dataset, style, records, Request("/" + rel[:-5], {}))
    assert len(rows) == len(records)
    for rec, row in zip(sorted(records, key=lambda r: json.dumps(r, sort_keys=True)), sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))):
        _same_scalars(rec, row)


@pytest.mark.parametrize("statement, slug", [("balance_sheet", "balance-sheets"), ("income_statement", "income-statements"),
                                              ("cash_flow_statement", "cash-flow-statements")])
def test_documented_financial_statements_parse(statement, slug):
    records = _doc(f"stocks/financials/v1/{slug}.json")
    rows = _bronze("fundamentals", "current", records, Request(f"/stocks/financials/v1/{slug}", {}, context={"statement": statement}))
    values = [(k, v) for r in records for k, v in r.items()
              if k not in ("cik", "tickers", "period_end", "filing_date", "fiscal_year", "fiscal_quarter", "timeframe") and v is not None]
    assert len(rows) == len(values)
    got = {(r["concept"], r["value"]) for r in rows}
    assert got == {(k, float(v)) for k, v in values}
    for r in rows:
        assert r["unit"] == concept_unit(r["concept"]) and r["statement"] == statement
        assert r["fiscal_period"] in ("Q1", "Q2", "Q3", "Q4", "FY")
