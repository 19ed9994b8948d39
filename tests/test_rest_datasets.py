"""REST datasets from the sandbox: one bronze schema for legacy and current endpoints, and
data that agrees with the flat files (splits, dividends, IPOs, ticker changes, volumes)."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from quantmini.rest.client import RestClient, RestSettings
from quantmini.rest.datasets import REST_DATASETS
from quantmini.rest.pull import pull
from quantmini.rest.ratelimit import RateLimiter
from quantmini.rest.windows import Window
from quantmini.sandbox.fixtures import real_stock_day_rows
from quantmini.sandbox.market import Market
from quantmini.sessions import sessions_between

from .conftest import API_KEY, SANDBOX_END, SANDBOX_START, SANDBOX_TICKERS

WINDOW = Window(None, dt.date(2024, 6, 1), dt.date(2024, 6, 28))
TICKERS = ["AAPL", "MSFT", "NVDA", "GE", "QMNEW", "QMFS"]


@pytest.fixture()
def client(quiet_sandbox, tmp_path, monkeypatch):
    sandbox = quiet_sandbox
    monkeypatch.setenv("MASSIVE_API_KEY", API_KEY)
    return RestClient(RestSettings(base_url=sandbox.rest_url, rate_limit_calls=0), RateLimiter(tmp_path / "l.json", 0))


@pytest.fixture(scope="module")
def market(sandbox):
    """The sandbox's market, built the same way (with the real rows it serves, if any)."""
    return Market(SANDBOX_TICKERS, real_rows=real_stock_day_rows(sandbox.fixtures))


def _pull(client, tmp_path, name, style, window, tickers=()):
    out = tmp_path / f"{name}-{style}-{window.name}.parquet"
    res = pull(client, REST_DATASETS[name], style, window, list(tickers), out)
    table = pq.read_table(out)
    assert table.schema == REST_DATASETS[name].schema and table.num_rows == res.rows
    return table


@pytest.mark.parametrize("name, window, tickers", [
    ("dividends", Window(None, dt.date(2024, 5, 15), dt.date(2024, 9, 12)), ()),
    ("splits", Window(None, dt.date(2022, 6, 14), dt.date(2024, 9, 12)), ()),
    ("ipos", Window(None, dt.date(2023, 6, 14), dt.date(2024, 6, 28)), ()),
    ("fundamentals", Window("quarterly", dt.date(2023, 12, 17), dt.date(2024, 6, 14)), TICKERS),
    ("fundamentals", Window("annual", dt.date(2023, 6, 14), dt.date(2024, 6, 14)), TICKERS),
])
def test_legacy_and_current_endpoints_give_the_same_bronze_rows(client, tmp_path, name, window, tickers):
    spec = REST_DATASETS[name]
    legacy = _pull(client, tmp_path, name, "legacy", window, tickers)
    current = _pull(client, tmp_path, name, "current", window, tickers)
    assert legacy.num_rows > 0
    shared = [c for c in spec.schema.names if c not in spec.legacy_only + spec.current_only + ("pulled_at",)]
    assert legacy.select(shared).to_pylist() == current.select(shared).to_pylist()
    for col in spec.current_only:
        assert legacy[col].null_count == legacy.num_rows and current[col].null_count == 0
    for col in spec.legacy_only:
        assert current[col].null_count == current.num_rows and legacy[col].null_count == 0


def test_a_multi_page_pull_returns_every_row_once(client, tmp_path, sandbox):
    before = sandbox.calls()["by_path"].get("/v2/reference/news", 0)
    table = _pull(client, tmp_path, "news", "legacy", Window(None, dt.date(2024, 1, 1), dt.date(2024, 6, 28)))
    pages = sandbox.calls()["by_path"]["/v2/reference/news"] - before
    per_day = max(5, SANDBOX_TICKERS // 20)
    assert table.num_rows == per_day * 180 and pages == -(-table.num_rows // 1000) and pages > 1
    assert len(set(table["id"].to_pylist())) == table.num_rows


def test_splits_are_the_jumps_in_the_raw_prices(client, tmp_path, market):
    table = _pull(client, tmp_path, "splits", "legacy", Window(None, dt.date.fromisoformat(SANDBOX_START), dt.date.fromisoformat(SANDBOX_END)))
    splits = table.to_pylist()
    assert {(s["ticker"], s["execution_date"].isoformat()) for s in splits} >= {("QMFS", "2024-06-12"), ("QMRS", "2024-06-17")}
    sessions = sessions_between(dt.date.fromisoformat(SANDBOX_START), dt.date.fromisoformat(SANDBOX_END))
    for s in splits:
        day = s["execution_date"]
        if day not in sessions or sessions.index(day) == 0:
            continue
        before = market.day_bars(sessions[sessions.index(day) - 1]).set_index("ticker")
        after = market.day_bars(day).set_index("ticker")
        if s["ticker"] in before.index and s["ticker"] in after.index:
            jump = before.loc[s["ticker"], "close"] / after.loc[s["ticker"], "open"]
            assert jump == pytest.approx(s["split_to"] / s["split_from"], rel=0.3)


def test_dividends_ipos_and_ticker_changes_match_the_flat_files(client, tmp_path, market):
    window = Window(None, dt.date.fromisoformat(SANDBOX_START), dt.date.fromisoformat(SANDBOX_END))
    sessions = sessions_between(window.start, window.end)
    divs = _pull(client, tmp_path, "dividends", "legacy", window).to_pylist()
    assert divs and all(d["ex_dividend_date"] in sessions for d in divs)
    listed = market.listings().set_index("ticker")
    for d in divs:  # ex-dates fall while the name is listed
        assert listed.loc[d["ticker"], "list_date"] < d["ex_dividend_date"] <= listed.loc[d["ticker"], "delist_date"]
    ipos = _pull(client, tmp_path, "ipos", "legacy", window).to_pylist()
    assert "QMIPO" in {i["ticker"] for i in ipos}
    for ipo in ipos:
        day = ipo["listing_date"]
        traded_before = any(ipo["ticker"] in set(market.day_bars(d)["ticker"]) for d in sessions if d < day)
        assert ipo["ticker"] in set(market.day_bars(day)["ticker"]) and not traded_before
    events = _pull(client, tmp_path, "ticker_events", "legacy", Window("all"), ["QMNEW"]).to_pylist()
    change = [e for e in events if e["ticker"] == "QMNEW"][0]["event_date"]
    first_new = min(d for d in sessions if "QMNEW" in set(market.day_bars(d)["ticker"]))
    last_old = max(d for d in sessions if "QMOLD" in set(market.day_bars(d)["ticker"]))
    assert first_new == change and last_old < change


def test_short_volume_totals_are_the_day_volumes_and_filters_are_ignored(client, tmp_path, sandbox, market):
    day = dt.date(2024, 6, 14)
    c = client
    asked = list(c.results("/stocks/v1/short-volume", {"date": day.isoformat(), "ticker": "AAPL", "limit": 50000}))
    bars = market.published_day_bars(day)
    assert len(asked) == len(bars)  # the ticker filter is ignored, as the vendor does
    vol = dict(zip(bars["ticker"], bars["volume"]))
    assert all(r["total_volume"] == int(vol[r["ticker"]]) for r in asked)


def test_a_pull_kept_to_some_tickers_is_the_whole_pull_filtered(client, tmp_path):
    """Short data: the records of tickers not kept are dropped as they arrive; the file holds
    exactly the whole pull's rows of the kept tickers, and the count downloaded is the whole's."""
    ds, window = REST_DATASETS["short_volume"], Window(None, dt.date(2024, 6, 10), dt.date(2024, 6, 14))
    whole = pull(client, ds, "current", window, [], tmp_path / "whole.parquet", pulled_at=dt.datetime(2024, 6, 15))
    keep = {"AAPL", "MSFT", "NOSUCH"}
    kept = pull(client, ds, "current", window, [], tmp_path / "kept.parquet", keep_tickers=keep,
                pulled_at=dt.datetime(2024, 6, 15))
    table = pq.read_table(tmp_path / "whole.parquet")
    expected = [r for r in table.to_pylist() if r["ticker"] in keep]
    assert kept.rows_downloaded == whole.rows_downloaded == whole.rows == table.num_rows
    assert 0 < kept.rows == len(expected) < table.num_rows
    assert pq.read_table(tmp_path / "kept.parquet").to_pylist() == expected


def test_unknown_ticker_events_are_counted_not_fatal(client, tmp_path):
    out = tmp_path / "ev.parquet"
    res = pull(client, REST_DATASETS["ticker_events"], "legacy", Window("all"), ["AAPL", "NOSUCH"], out)
    assert res.not_found == ["NOSUCH"] and res.rows == 1
