"""The REST client against the sandbox over real sockets: pages, auth, faults, retries."""

from __future__ import annotations

import logging

import pytest

from quantmini.rest.client import ApiError, RestClient, RestSettings
from quantmini.rest.ratelimit import RateLimiter

from .conftest import API_KEY

pytestmark = pytest.mark.usefixtures("quiet_sandbox")
TICKERS = ("/v3/reference/tickers", {"market": "stocks", "active": "true", "sort": "ticker", "order": "asc"})


def client(sandbox, tmp_path, monkeypatch, **overrides) -> RestClient:
    monkeypatch.setenv("MASSIVE_API_KEY", API_KEY)
    kw = {"rate_limit_calls": 0, "backoff_factor": 0.01, "timeout_s": 5.0, **overrides}
    settings = RestSettings(base_url=sandbox.rest_url, **kw)
    return RestClient(settings, RateLimiter(tmp_path / "limit.json", settings.rate_limit_calls))


@pytest.mark.parametrize("auth", ["header", "query"])
def test_many_pages_return_every_row_once(sandbox, tmp_path, monkeypatch, auth):
    c = client(sandbox, tmp_path, monkeypatch, auth=auth)
    whole = list(c.results(TICKERS[0], {**TICKERS[1], "limit": 1000}))
    assert c.stats.pages == 1 and len(whole) > 200
    c2 = client(sandbox, tmp_path, monkeypatch, auth=auth)
    paged = list(c2.results(TICKERS[0], {**TICKERS[1], "limit": 7}))
    # Pages after the first carry only the cursor (the sandbox answers 400 to anything else).
    assert c2.stats.pages == -(-len(whole) // 7)
    assert [r["ticker"] for r in paged] == [r["ticker"] for r in whole]
    assert len({r["ticker"] for r in paged}) == len(paged)
    assert c2.api_calls == c2.stats.pages


def test_next_url_never_carries_the_key(sandbox, tmp_path, monkeypatch):
    c = client(sandbox, tmp_path, monkeypatch, auth="query")
    pages = list(c.iter_pages(TICKERS[0], {**TICKERS[1], "limit": 50}))
    urls = [p["next_url"] for p in pages if "next_url" in p]
    assert urls and all(API_KEY not in u and "apiKey" not in u for u in urls)


def test_wrong_key_is_a_clear_error_without_the_key(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", "qm-wrong-key-0042")
    c = RestClient(RestSettings(base_url=sandbox.rest_url, auth="query", rate_limit_calls=0), RateLimiter(tmp_path / "l.json", 0))
    with pytest.raises(ApiError) as err:
        list(c.results(*TICKERS))
    assert err.value.status == 401 and "Unknown API Key" in str(err.value)
    assert "qm-wrong-key-0042" not in str(err.value)


def test_limit_above_the_endpoint_maximum_is_refused(sandbox, tmp_path, monkeypatch):
    c = client(sandbox, tmp_path, monkeypatch)
    with pytest.raises(ApiError, match="HTTP 400: limit must be between 1 and 1000"):
        c.get_json("/v3/reference/dividends", {"limit": 5000})


FAULTS = [
    {"kind": "429", "retry_after": 1},
    {"kind": "429", "count": 3},
    {"kind": "500"},
    {"kind": "502"},
    {"kind": "503", "count": 2},
    {"kind": "reset"},
    {"kind": "truncate"},
    {"kind": "malformed"},
    {"kind": "slow", "delay": 3},
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f['kind']}x{f.get('count', 1)}" + ("+retry-after" if "retry_after" in f else ""))
def test_each_fault_is_retried_to_the_clean_answer(sandbox, tmp_path, monkeypatch, fault, caplog):
    clean = list(client(sandbox, tmp_path, monkeypatch).results(TICKERS[0], {**TICKERS[1], "limit": 40}))
    sandbox.faults({**fault, "path": "/v3/reference/tickers"})
    c = client(sandbox, tmp_path, monkeypatch, timeout_s=1.5, auth="query")
    with caplog.at_level(logging.WARNING):
        got = list(c.results(TICKERS[0], {**TICKERS[1], "limit": 40}))
    assert got == clean
    assert sandbox.calls()["faults"]["fired"] == {fault["kind"]: fault.get("count", 1)}
    assert c.api_calls == c.stats.pages + fault.get("count", 1)
    assert API_KEY not in caplog.text


def test_retry_after_is_honoured(sandbox, tmp_path, monkeypatch):
    import time

    sandbox.faults({"kind": "429", "retry_after": 2, "path": "/v3/reference/splits"})
    c = client(sandbox, tmp_path, monkeypatch)
    t0 = time.monotonic()
    c.get_json("/v3/reference/splits", {"limit": 10})
    assert time.monotonic() - t0 >= 1.9


def test_retries_are_bounded_and_the_error_is_clear(sandbox, tmp_path, monkeypatch):
    sandbox.faults({"kind": "500", "count": 10, "path": "/v3/reference/splits"})
    c = client(sandbox, tmp_path, monkeypatch, max_retries=2, auth="query")
    with pytest.raises(ApiError) as err:
        c.get_json("/v3/reference/splits", {"limit": 10})
    assert "HTTP 500" in str(err.value) and "after 2 retries" in str(err.value)
    assert c.api_calls == 3 and API_KEY not in str(err.value)


def test_malformed_bodies_are_retried_a_bounded_number_of_times(sandbox, tmp_path, monkeypatch):
    sandbox.faults({"kind": "malformed", "count": 10, "path": "/v3/reference/splits"})
    c = client(sandbox, tmp_path, monkeypatch, max_retries=2)
    with pytest.raises(ApiError, match="no complete JSON body after 3 attempts"):
        c.get_json("/v3/reference/splits", {"limit": 10})


def test_rate_limiter_spaces_calls_across_processes(sandbox, tmp_path):
    """Four processes share one limit file: the sandbox never counts more than the limit."""
    import subprocess
    import sys

    sandbox.rate_limit(4, 1.5)
    code = (
        "import os,sys\n"
        "from quantmini.rest.client import RestClient, RestSettings\n"
        "from quantmini.rest.ratelimit import RateLimiter\n"
        f"s = RestSettings(base_url={sandbox.rest_url!r}, rate_limit_calls=4, rate_limit_period_s=1.5, rate_limit_margin_s=0.2, max_retries=0)\n"
        f"c = RestClient(s, RateLimiter({str(tmp_path / 'shared.json')!r}, 4, 1.5, 0.2))\n"
        "for _ in range(4): c.get_json('/v3/reference/splits', {'limit': 5})\n"
    )
    env = {"MASSIVE_API_KEY": API_KEY, "PATH": ""}
    procs = [subprocess.Popen([sys.executable, "-c", code], env={**__import__("os").environ, **env}) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    calls = sandbox.calls()
    assert calls["rate_limited"] == 0 and calls["max_in_window"] <= 4


def test_not_entitled_is_not_retried_and_names_the_reason(sandbox, tmp_path, monkeypatch):
    sandbox.faults({"kind": "403", "path": "/stocks/v1/short-volume"})
    c = client(sandbox, tmp_path, monkeypatch)
    with pytest.raises(ApiError) as err:
        c.get_json("/stocks/v1/short-volume", {"limit": 10})
    assert err.value.status == 403 and "You are not entitled to this data" in str(err.value)
    assert c.api_calls == 1  # an entitlement answer does not change on retry
