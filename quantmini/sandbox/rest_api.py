"""The sandbox's dataset endpoints: Polygon's query dialects, sorting, limits and cursors.

Each endpoint generates its candidate records from :class:`RefData` for the date range its
filters name (a bounded default when they name none), filters them with the vendor's dialect
(``field``, ``field.gt/.gte/.lt/.lte``, ``field.any_of``; array fields match by containment),
sorts them (legacy ``sort`` + ``order``; current ``sort=field.asc,other.desc``), and answers a
page of ``limit`` (400 above the endpoint's maximum) with a ``next_url`` whose ``cursor``
encodes the whole query, and no key. A request with a cursor must carry nothing else.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from ..rest.datasets import CONCEPTS, STATEMENTS, concept_unit
from .refdata import RefData

OPS = ("gt", "gte", "lt", "lte", "any_of")
RESERVED = {"limit", "sort", "order", "cursor", "apiKey"}
DEFAULT_SPAN = (730, 180)  # days back/ahead of the sandbox's date when a query names no range


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    path: str
    style: str  # legacy | current
    limit_default: int
    limit_max: int
    sort_default: str  # legacy: a field; current: "field.asc"
    key: tuple[str, ...]  # unique tiebreak, so pages are stable
    range_field: str | None  # the date field bounding generation
    source: Callable[[RefData, dt.date, dt.date, dict], list[dict]]
    aliases: dict = field(default_factory=dict)  # query field -> record field
    ignore_ticker: bool = False  # the endpoint returns all tickers whatever is asked
    format: Callable[[dict, dict], dict] | None = None


def encode_cursor(query: list[tuple[str, str]], offset: int) -> str:
    raw = json.dumps({"q": query, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[list[tuple[str, str]], int]:
    try:
        pad = "=" * (-len(cursor) % 4)
        obj = json.loads(base64.urlsafe_b64decode(cursor + pad))
        return [tuple(p) for p in obj["q"]], int(obj["o"])
    except Exception:
        raise BadRequest("invalid cursor") from None


def _bounds(params: dict, fld: str, today: dt.date) -> tuple[dt.date, dt.date]:
    lo, hi = today - dt.timedelta(days=DEFAULT_SPAN[0]), today + dt.timedelta(days=DEFAULT_SPAN[1])
    try:
        if fld in params:
            d = dt.date.fromisoformat(params[fld][:10])
            return d, d
        for op in ("gte", "gt"):
            if f"{fld}.{op}" in params:
                lo = dt.date.fromisoformat(params[f"{fld}.{op}"][:10])
        for op in ("lte", "lt"):
            if f"{fld}.{op}" in params:
                hi = dt.date.fromisoformat(params[f"{fld}.{op}"][:10])
    except ValueError as exc:
        raise BadRequest(f"invalid date for {fld}: {exc}") from None
    if (hi - lo).days > 3700:
        raise BadRequest(f"{fld} range is too wide for the sandbox ({lo} .. {hi})")
    return lo, hi


def _cmp_value(record_value, query_value: str):
    if isinstance(record_value, bool):
        return record_value, query_value.lower() == "true"
    if isinstance(record_value, (int, float)):
        try:
            return record_value, float(query_value)
        except ValueError:
            raise BadRequest(f"{query_value!r} is not a number") from None
    return str(record_value), query_value


def matches(record: dict, params: dict, aliases: dict) -> bool:
    for name, value in params.items():
        fld, _, op = name.partition(".")
        if op and op not in OPS:
            continue
        fld = aliases.get(fld, fld)
        if fld not in record:
            continue  # unknown filters are ignored, as the vendor does
        rv = record[fld]
        if rv is None:
            return False
        if isinstance(rv, list):
            wanted = value.split(",") if op == "any_of" else [value]
            if not set(wanted) & set(map(str, rv)):
                return False
            continue
        if op == "any_of":
            if str(rv) not in value.split(","):
                return False
            continue
        a, b = _cmp_value(rv, value)
        if not {"": a == b, "gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]:
            return False
    return True


def sort_records(records: list[dict], ep: Endpoint, params: dict) -> list[dict]:
    keys: list[tuple[str, bool]] = []
    if ep.style == "legacy":
        fld = params.get("sort", ep.sort_default)
        desc = params.get("order", "asc").lower() == "desc"
        keys.append((ep.aliases.get(fld, fld), desc))
    else:
        for part in params.get("sort", ep.sort_default).split(","):
            fld, _, direction = part.partition(".")
            if direction not in ("", "asc", "desc"):
                raise BadRequest(f"sort direction must be asc or desc, got {part!r}")
            keys.append((ep.aliases.get(fld, fld), direction == "desc"))
    for fld, _ in keys:
        if records and fld not in records[0]:
            raise BadRequest(f"cannot sort by {fld!r}")
    out = sorted(records, key=lambda r: tuple(str(r.get(k)) for k in ep.key))
    for fld, desc in reversed(keys):
        out.sort(key=lambda r: (r.get(fld) is None, r.get(fld) if r.get(fld) is not None else ""), reverse=desc)
    return out


# -- sources and formats -----------------------------------------------------------------------
def _dividends(ref, lo, hi, params):
    return ref.dividends(lo, hi)


def _legacy_dividend(r, ctx):
    return {k: v for k, v in r.items() if k not in ("distribution_type", "historical_adjustment_factor", "split_adjusted_cash_amount")}


def _current_dividend(r, ctx):
    return {k: v for k, v in r.items() if k != "dividend_type"}


def _legacy_split(r, ctx):
    return {k: v for k, v in r.items() if k not in ("adjustment_type", "historical_adjustment_factor")}


def _filings(ref, lo, hi, params):
    out = []
    for f in ref.filings(lo, hi):
        out.append({
            "ticker": f["ticker"], "tickers": f["tickers"], "cik": f["cik"], "filing_date": f["filing_date"].isoformat(),
            "period_end": f["period_end"].isoformat(), "period_of_report_date": f["period_end"].isoformat(),
            "timeframe": f["timeframe"], "fiscal_year": float(f["fiscal_year"]), "fiscal_quarter": float(f["fiscal_quarter"]),
            "_filing": f,
        })
    return out


_VX_KEY = {st: {cur: vx for vx, cur in m.items()} for st, m in CONCEPTS.items()}


def _legacy_financials(r, ctx):
    f = r["_filing"]
    financials = {}
    for statement, values in f["values"].items():
        items = {}
        for order, (concept, value) in enumerate(values.items()):
            key = _VX_KEY[statement][concept]
            items[key] = {"label": key.replace("_", " ").title(), "value": float(value), "unit": concept_unit(concept), "order": (order + 1) * 100}
        financials[statement] = items
    return {
        "cik": f["cik"], "company_name": f["company_name"], "tickers": f["tickers"], "sic": "3674",
        "start_date": f["period_start"].isoformat(), "end_date": f["period_end"].isoformat(),
        "filing_date": f["filing_date"].isoformat(),
        "acceptance_datetime": f["filing_date"].strftime("%Y%m%d") + "160512",
        "fiscal_period": "FY" if f["timeframe"] == "annual" else f"Q{f['fiscal_quarter']}",
        "fiscal_year": str(f["fiscal_year"]), "timeframe": f["timeframe"],
        "source_filing_url": f"https://api.polygon.io/v1/reference/sec/filings/{f['cik']}-{f['filing_date']:%Y%m%d}",
        "financials": financials,
    }


def _current_statement(statement):
    def fmt(r, ctx):
        f = r["_filing"]
        out = {"cik": f["cik"], "tickers": f["tickers"], "period_end": f["period_end"].isoformat(),
               "filing_date": f["filing_date"].isoformat(), "fiscal_year": float(f["fiscal_year"]),
               "fiscal_quarter": float(f["fiscal_quarter"]), "timeframe": f["timeframe"]}
        out.update({k: float(v) for k, v in f["values"][statement].items()})
        return out
    return fmt


def _strip_private(r, ctx):
    return {k: v for k, v in r.items() if not k.startswith("_")}


def endpoints() -> dict[str, Endpoint]:
    eps = [
        Endpoint("/v3/reference/dividends", "legacy", 10, 1000, "ex_dividend_date", ("ticker", "ex_dividend_date"), "ex_dividend_date", _dividends, format=_legacy_dividend),
        Endpoint("/stocks/v1/dividends", "current", 100, 5000, "ticker.asc", ("ticker", "ex_dividend_date"), "ex_dividend_date", _dividends, format=_current_dividend),
        Endpoint("/v3/reference/splits", "legacy", 10, 1000, "execution_date", ("ticker", "execution_date"), "execution_date", lambda ref, lo, hi, p: ref.splits(lo, hi), format=_legacy_split),
        Endpoint("/stocks/v1/splits", "current", 100, 5000, "execution_date.desc", ("ticker", "execution_date"), "execution_date", lambda ref, lo, hi, p: ref.splits(lo, hi)),
        Endpoint("/vX/reference/ipos", "legacy", 10, 1000, "listing_date", ("ticker",), "listing_date", lambda ref, lo, hi, p: ref.ipos(lo, hi)),
        Endpoint("/v1/reference/ipos", "current", 10, 1000, "listing_date.desc", ("ticker",), "listing_date", lambda ref, lo, hi, p: ref.ipos(lo, hi)),
        Endpoint("/vX/reference/financials", "legacy", 10, 100, "period_of_report_date", ("cik", "filing_date", "timeframe"), "filing_date", _filings,
                 aliases={"ticker": "tickers"}, format=_legacy_financials),
        Endpoint("/v2/reference/news", "legacy", 10, 1000, "published_utc", ("id",), "published_utc", lambda ref, lo, hi, p: ref.news(lo, hi)),
        Endpoint("/stocks/v1/short-interest", "current", 10, 50000, "ticker.asc", ("ticker", "settlement_date"), "settlement_date",
                 lambda ref, lo, hi, p: ref.short_interest(lo, hi), ignore_ticker=True),
        Endpoint("/stocks/v1/short-volume", "current", 10, 50000, "ticker.asc", ("ticker", "date"), "date",
                 lambda ref, lo, hi, p: ref.short_volume(lo, hi), ignore_ticker=True),
        Endpoint("/v3/reference/tickers", "legacy", 100, 1000, "ticker", ("ticker", "delisted_utc"), None, lambda ref, lo, hi, p: ref.tickers()),
    ]
    for statement, slug in STATEMENTS.items():
        eps.append(Endpoint(f"/stocks/financials/v1/{slug}", "current", 100, 50000, "period_end.asc", ("cik", "period_end", "timeframe"), "filing_date",
                            _filings, format=_current_statement(statement)))
    return {e.path: e for e in eps}


class Api:
    def __init__(self, ref: RefData):
        self.ref = ref
        self.endpoints = endpoints()
        self._records = lru_cache(maxsize=16)(self._records_uncached)
        # Generated candidates by (source, date range): per-ticker queries over the same
        # window (vX financials, one call per ticker) filter one generated set.
        self._generated = lru_cache(maxsize=16)(self._generate)

    def forget(self) -> None:
        """Drop the generated answers: the reference data changed (an action withheld or
        announced)."""
        self._records.cache_clear()
        self._generated.cache_clear()

    def _generate(self, source, lo, hi) -> tuple[dict, ...]:
        return tuple(source(self.ref, lo, hi, {}))

    def _records_uncached(self, path: str, query: tuple[tuple[str, str], ...]) -> tuple[dict, ...]:
        ep = self.endpoints[path]
        params = dict(query)
        if ep.ignore_ticker:
            params = {k: v for k, v in params.items() if not k.startswith("ticker")}
        filters = {k: v for k, v in params.items() if k not in RESERVED}
        lo, hi = _bounds(filters, ep.range_field, self.ref.as_of) if ep.range_field else (None, None)
        records = self._generated(ep.source, lo, hi)
        records = [r for r in records if matches(r, filters, ep.aliases)]
        return tuple(sort_records(records, ep, params))

    def page(self, path: str, args: list[tuple[str, str]], base_url: str) -> dict:
        ep = self.endpoints[path]
        args = [(k, v) for k, v in args if k != "apiKey"]
        names = {k for k, _ in args}
        if "cursor" in names:
            if len(args) != 1:
                raise BadRequest("a cursor request takes no other query parameters (the cursor holds the query)")
            query, offset = decode_cursor(args[0][1])
        else:
            query, offset = args, 0
        params = dict(query)
        try:
            limit = int(params.get("limit", ep.limit_default))
        except ValueError:
            raise BadRequest(f"limit must be an integer, got {params.get('limit')!r}") from None
        if not 1 <= limit <= ep.limit_max:
            raise BadRequest(f"limit must be between 1 and {ep.limit_max}, got {limit}")
        records = self._records(path, tuple(sorted(query)))
        chunk = records[offset : offset + limit]
        fmt = ep.format or _strip_private
        body = {"status": "OK", "request_id": None, "count": len(chunk), "results": [fmt(r, params) for r in chunk]}
        if offset + limit < len(records):
            body["next_url"] = f"{base_url.rstrip('/')}{path}?cursor={encode_cursor(list(query), offset + limit)}"
        return body
