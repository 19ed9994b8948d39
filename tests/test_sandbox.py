"""The sandbox behaves like the vendor: real S3 protocol, 404 for non-sessions, Polygon's
error bodies, recorded responses replayed, deterministic data."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from quantmini.sandbox.market import SCRIPTED, Market, window_start_ns

from .conftest import API_KEY, S3_KEY, S3_SECRET, SANDBOX_TICKERS


def s3(sandbox):
    return boto3.client(
        "s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def test_objects_exist_only_for_sessions(sandbox):
    client = s3(sandbox)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/day_aggs_v1/2024/06/")["Contents"]]
    dates = [k.rsplit("/", 1)[1][:10] for k in keys]
    assert "2024-06-19" not in dates and "2024-06-15" not in dates and "2024-06-18" in dates
    assert keys[0] == "us_stocks_sip/day_aggs_v1/2024/06/2024-06-03.csv.gz"
    for missing in ("2024-06-19", "2024-06-22"):
        with pytest.raises(ClientError) as err:
            client.get_object(Bucket="flatfiles", Key=f"us_stocks_sip/day_aggs_v1/2024/06/{missing}.csv.gz")
        assert err.value.response["Error"]["Code"] == "NoSuchKey"


def test_flat_file_format(sandbox):
    body = s3(sandbox).get_object(Bucket="flatfiles", Key="us_stocks_sip/day_aggs_v1/2024/06/2024-06-11.csv.gz")["Body"].read()
    lines = gzip.decompress(body).decode().splitlines()
    assert lines[0] == "ticker,volume,open,close,high,low,window_start,transactions"
    rows = [line.split(",") for line in lines[1:]]
    assert 0.8 * SANDBOX_TICKERS < len(rows) <= SANDBOX_TICKERS
    assert {r[6] for r in rows} == {str(window_start_ns(dt.date(2024, 6, 11)))} == {"1718078400000000000"}
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert all("." not in r[1] for r in rows), "integer volumes before 2026-02-23"
    for r in rows:
        o, c, h, lo = map(float, r[2:6])
        assert lo <= min(o, c) <= max(o, c) <= h and lo > 0
    assert {"BRK.B", "ALLpB", "PRN"} <= {r[0] for r in rows}


def test_decimal_volumes_from_2026_02_23(sandbox):
    sandbox.post("/_sandbox/publish?date=2026-02-24")
    body = s3(sandbox).get_object(Bucket="flatfiles", Key="us_stocks_sip/day_aggs_v1/2026/02/2026-02-24.csv.gz")["Body"].read()
    vols = [line.split(",")[1] for line in gzip.decompress(body).decode().splitlines()[1:]]
    assert all(len(v.split(".")[1]) == 6 for v in vols)
    assert any(not v.endswith(".000000") for v in vols) and any(v.endswith(".000000") for v in vols)


def test_publish_refuses_non_session(sandbox):
    r = requests.post(sandbox.rest_url + "/_sandbox/publish?date=2024-06-19", timeout=10)
    assert r.status_code == 400 and "not an XNYS session" in r.json()["error"]


def test_rest_auth_errors_are_polygon_shaped(sandbox):
    r = requests.get(sandbox.rest_url + "/v3/reference/splits", timeout=10)
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == "ERROR" and body["error"] == "API Key was not provided" and len(body["request_id"]) == 32
    r = requests.get(sandbox.rest_url + "/v3/reference/splits", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "Unknown API Key"
    r = requests.get(sandbox.rest_url + "/v9/nothing", params={"apiKey": API_KEY}, timeout=10)
    assert r.status_code == 404 and r.json()["status"] == "NOT_FOUND" and "message" in r.json()
    assert requests.get(sandbox.rest_url + "/health", timeout=10).json()["status"] == "OK"


def test_recorded_responses_replayed_for_exact_requests(sandbox):
    if not sandbox.fixtures:
        pytest.skip("shared/fixtures/polygon is absent: no recorded responses to replay")
    from pathlib import Path

    base = Path(sandbox.fixtures) / "rest_mocks" / "client-python"
    cases = {
        "/v3/reference/splits": "v3/reference/splits.json",
        "/vX/reference/tickers/META/events?types=ticker_change": "vX/reference/tickers/META/events&types=ticker_change.json",
        "/v1/open-close/AAPL/2005-04-01?adjusted=true": "v1/open-close/AAPL/2005-04-01&adjusted=true.json",
    }
    for url, rel in cases.items():
        for auth in ({"headers": {"Authorization": f"Bearer {API_KEY}"}}, {"params": {"apiKey": API_KEY}}):
            r = requests.get(sandbox.rest_url + url, timeout=10, **auth)
            assert r.status_code == 200, url
            assert r.json() == json.loads((base / rel).read_text())


def test_market_is_deterministic_and_realistic():
    a, b = Market(500, seed=7), Market(500, seed=7)
    day = dt.date(2024, 6, 12)
    assert a.stocks_daily_gz(day) == b.stocks_daily_gz(day)
    assert Market(500, seed=8).stocks_daily_csv(day) != a.stocks_daily_csv(day)
    listings = a.listings()
    assert listings["ticker"].is_unique and listings["ticker"].str.lower().is_unique
    bars = a.day_bars(day)
    assert "QMIPO" in set(bars.ticker) and "QMIPO" not in set(a.day_bars(dt.date(2024, 6, 11)).ticker)
    assert "QMDL" in set(a.day_bars(dt.date(2024, 6, 14)).ticker) and "QMDL" not in set(a.day_bars(dt.date(2024, 6, 17)).ticker)
    splits = a.splits()
    assert ((splits.ticker == "QMRS") & (splits.split_from == 10) & (splits.split_to == 1)).any()
    assert len(a.dividends(dt.date(2024, 6, 1), dt.date(2024, 6, 30))) > 0
    assert {s.symbol for s in SCRIPTED} <= set(listings["ticker"])


def test_full_scale_universe_is_about_twelve_thousand_active():
    m = Market(12000, seed=42)
    n = len(m.day_bars(dt.date(2024, 6, 12)))
    assert 10500 < n < 12500
    # Names list and delist across the years.
    assert len(m.listings()) > 15000


@pytest.mark.sandbox
def test_decades_are_offered_and_published_on_first_request(tmp_path):
    """A sandbox of 2005-2024 starts without generating 5,000 files: each is published when a
    client first lists its prefix or asks for it, with the bytes the market generates, and a
    disk cache serves the same bytes to the next sandbox."""
    from quantmini.sandbox import control
    from quantmini.sessions import sessions_between

    def start(name):
        state = tmp_path / f"{name}.json"
        proc = control.launch(["--s3-port", str(control.free_port()), "--rest-port", str(control.free_port()),
                               "--tickers", "40", "--start", "2005-01-03", "--end", "2024-12-31", "--datasets", "stocks_daily",
                               "--no-fixtures", "--cache-dir", str(tmp_path / "cache")], state, tmp_path / f"{name}.log")
        return proc, control.wait_ready(proc, state, tmp_path / f"{name}.log", timeout=120)

    proc, state = start("first")
    try:
        sessions = sessions_between(dt.date(2005, 1, 3), dt.date(2024, 12, 31))
        assert state["objects"] == len(sessions) == 5033
        client = s3(type("S", (), {"s3_endpoint": state["s3_endpoint"]}))
        listed = client.list_objects_v2(Bucket="flatfiles", Prefix="us_stocks_sip/day_aggs_v1/2006/03/")["Contents"]
        march = [d for d in sessions if (d.year, d.month) == (2006, 3)]
        assert [o["Key"][-17:-7] for o in listed] == [d.isoformat() for d in march]
        key = "us_stocks_sip/day_aggs_v1/2013/07/2013-07-15.csv.gz"
        body = client.get_object(Bucket="flatfiles", Key=key)["Body"].read()
        assert body == Market(n_tickers=40, seed=42).stocks_daily_gz(dt.date(2013, 7, 15))
        assert client.head_object(Bucket="flatfiles", Key="us_stocks_sip/day_aggs_v1/2019/11/2019-11-20.csv.gz")["ContentLength"] > 0
        with pytest.raises(ClientError):  # a holiday is never offered
            client.head_object(Bucket="flatfiles", Key="us_stocks_sip/day_aggs_v1/2013/07/2013-07-04.csv.gz")
        cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.csv.gz"))
        assert cached == sorted([f"{d.isoformat()}.csv.gz" for d in march] + ["2013-07-15.csv.gz", "2019-11-20.csv.gz"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    proc, state = start("second")
    try:
        client = s3(type("S", (), {"s3_endpoint": state["s3_endpoint"]}))
        assert client.get_object(Bucket="flatfiles", Key=key)["Body"].read() == body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.sandbox
def test_a_listing_publishes_only_what_its_page_can_hold(tmp_path):
    """A one-key listing of the whole bucket (the workflow's endpoint check) publishes one
    file, not the range; pages after it find the rest, in order, as S3 lists them."""
    from quantmini.sandbox import control

    state_file = tmp_path / "state.json"
    proc = control.launch(["--s3-port", str(control.free_port()), "--rest-port", str(control.free_port()),
                           "--tickers", "40", "--start", "2024-01-02", "--end", "2024-03-28", "--datasets", "stocks_daily",
                           "--no-fixtures", "--cache-dir", str(tmp_path / "cache")], state_file, tmp_path / "log")
    try:
        state = control.wait_ready(proc, state_file, tmp_path / "log", timeout=120)
        client = s3(type("S", (), {"s3_endpoint": state["s3_endpoint"]}))
        one = client.list_objects_v2(Bucket="flatfiles", MaxKeys=1)
        assert [o["Key"] for o in one["Contents"]] == ["us_stocks_sip/day_aggs_v1/2024/01/2024-01-02.csv.gz"]
        assert len(list((tmp_path / "cache").rglob("*.csv.gz"))) == 1
        keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="flatfiles", PaginationConfig={"PageSize": 7})
                for o in page["Contents"]]
        assert len(keys) == state["objects"] == 61 and keys == sorted(keys)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


S3_FAULT_KEY = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-14.csv.gz"


def _one_try(sandbox):
    """A client that does not retry: each request sees exactly the answer the server gave."""
    return boto3.client(
        "s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                               retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.mark.parametrize("kind,code", [("403", "AccessDenied"), ("500", "InternalError"), ("503", "SlowDown")])
def test_s3_error_faults_answer_as_s3_does(quiet_sandbox, kind, code):
    client = _one_try(quiet_sandbox)
    whole = client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)["Body"].read()
    quiet_sandbox.s3_faults({"kind": kind, "path": f"/flatfiles/{S3_FAULT_KEY}"})
    with pytest.raises(ClientError) as err:
        client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == int(kind)
    # consumed: the next request gets the file
    assert client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)["Body"].read() == whole
    assert quiet_sandbox.s3_fault_counts() == {"queued": 0, "fired": {kind: 1}}


@pytest.mark.parametrize("kind", ["truncate", "reset"])
def test_s3_bodies_cut_short_or_reset_mid_download_fail_the_read(quiet_sandbox, kind):
    from botocore.exceptions import IncompleteReadError, ResponseStreamingError

    client = _one_try(quiet_sandbox)
    whole = client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)["Body"].read()
    quiet_sandbox.s3_faults({"kind": kind, "path": f"/flatfiles/{S3_FAULT_KEY}"})
    answer = client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)
    assert answer["ContentLength"] == len(whole)  # the headers promise the whole file
    with pytest.raises((IncompleteReadError, ResponseStreamingError)):
        answer["Body"].read()
    assert client.get_object(Bucket="flatfiles", Key=S3_FAULT_KEY)["Body"].read() == whole
    assert quiet_sandbox.s3_fault_counts()["fired"] == {kind: 1}


def test_s3_faults_of_an_unknown_kind_are_refused(quiet_sandbox):
    r = requests.post(quiet_sandbox.rest_url + "/_sandbox/s3_faults", json={"faults": [{"kind": "429"}]}, timeout=10)
    assert r.status_code == 400 and "fault kind must be one of" in r.json()["error"]


def test_a_withheld_dividend_is_missing_from_every_answer_until_announced(quiet_sandbox):
    """A late announcement (the soak's late_dividend event): the vendor lists the dividend
    only from the night it is announced, its ex-date already past."""
    url = quiet_sandbox.rest_url
    query = {"apiKey": API_KEY, "ex_dividend_date.gte": "2024-04-01", "ex_dividend_date.lte": "2024-06-28", "limit": 1000}
    victim = requests.get(url + "/v3/reference/dividends", params=query, timeout=30).json()["results"][0]
    query.update({"ticker": victim["ticker"], "ex_dividend_date.gte": "2023-01-01"})
    listed = requests.get(url + "/v3/reference/dividends", params=query, timeout=30).json()["results"]
    assert victim in listed and len(listed) >= 2
    where = {"kind": "dividend", "ticker": victim["ticker"], "date": victim["ex_dividend_date"]}
    try:
        assert requests.post(url + "/_sandbox/actions/withhold", params=where, timeout=10).status_code == 200
        hidden = requests.get(url + "/v3/reference/dividends", params=query, timeout=30).json()["results"]
        assert [r for r in listed if r["id"] != victim["id"]] == hidden
    finally:
        requests.post(url + "/_sandbox/actions/announce", params=where, timeout=10).raise_for_status()
    assert requests.get(url + "/v3/reference/dividends", params=query, timeout=30).json()["results"] == listed
    bad = requests.post(url + "/_sandbox/actions/withhold", params={"kind": "merger"}, timeout=10)
    assert bad.status_code == 400 and "kind=split|dividend|ticker_change" in bad.json()["error"]


def test_a_withheld_ticker_change_is_missing_from_the_events_until_announced(quiet_sandbox):
    """The soak's ticker_change event: the flat files switch from QMOLD to QMNEW on
    2024-06-20, the vendor's events list the change only from the night it is announced."""
    url = quiet_sandbox.rest_url
    events = url + "/vX/reference/tickers/QMNEW/events"
    listed = requests.get(events, params={"apiKey": API_KEY}, timeout=30).json()["results"]["events"]
    change = {"type": "ticker_change", "date": "2024-06-20", "ticker_change": {"ticker": "QMNEW"}}
    assert change in listed and len(listed) == 2
    where = {"kind": "ticker_change", "ticker": "QMNEW", "date": "2024-06-20"}
    try:
        requests.post(url + "/_sandbox/actions/withhold", params=where, timeout=10).raise_for_status()
        hidden = requests.get(events, params={"apiKey": API_KEY}, timeout=30).json()["results"]["events"]
        assert hidden == [e for e in listed if e != change]
    finally:
        requests.post(url + "/_sandbox/actions/announce", params=where, timeout=10).raise_for_status()
    assert requests.get(events, params={"apiKey": API_KEY}, timeout=30).json()["results"]["events"] == listed
