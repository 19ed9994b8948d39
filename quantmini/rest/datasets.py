"""The REST datasets: for each, the endpoint(s), the requests a pull makes, and its bronze rows.

Each dataset has one bronze schema whichever endpoint filled it: the guide's legacy endpoint
(``/v3/reference/dividends``, ``/vX/reference/financials`` ...) or the vendor's current one
(``/stocks/v1/dividends``, ``/stocks/financials/v1/*`` ...). Fields only one endpoint has are
listed in ``legacy_only`` / ``current_only`` and are null when the other one filled the
partition. Scalars are typed columns; nested objects are compact JSON strings; ticker lists
are ``list<string>``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import pyarrow as pa

from .windows import Window

STYLES = ("legacy", "current")
# The vendor's `dividend_type`: CD regular cash, SC special cash, LT/ST a fund's long/short-term
# capital gains (not dividends). Null: the vendor did not say (treated as regular cash). Here,
# not in silver, so that gold jobs read them without importing polars (0.16 s a job).
CASH_DIVIDEND_TYPES = ("CD", "SC", None)  # what price adjustment takes
REGULAR_DIVIDEND_TYPES = ("CD", None)  # what a dividend yield takes (specials are one-off)


def dump_json(obj) -> str | None:
    """Nested values are kept as compact JSON strings, keys sorted, so the bronze schema is
    stable whatever keys a pull returns."""
    if obj is None:
        return None
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Request:
    path: str
    params: dict
    ticker: str | None = None  # the ticker a per-ticker request is for
    context: dict = field(default_factory=dict)  # passed to the row builder


@dataclass(frozen=True)
class RestDataset:
    name: str
    description: str
    schema: pa.Schema
    endpoints: dict[str, str]  # style -> endpoint path (template) for docs and the sandbox
    plan: Callable[[str, Window, list[str]], list[Request]]
    rows: Callable[[str, dict, Request], Iterable[dict]]
    sort_by: tuple[str, ...]
    legacy_only: tuple[str, ...] = ()
    current_only: tuple[str, ...] = ()
    per_ticker: bool = False
    filter_after_download: bool = False  # the endpoint ignores ticker filters

    def styles(self) -> tuple[str, ...]:
        return tuple(s for s in STYLES if s in self.endpoints)


# -- value helpers ---------------------------------------------------------------------------
def _date(v) -> dt.date | None:
    if v in (None, ""):
        return None
    s = str(v)
    if len(s) == 8 and s.isdigit():  # vX financials: YYYYMMDD
        return dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    return dt.date.fromisoformat(s[:10])


def _ts(v) -> dt.datetime | None:
    if v in (None, ""):
        return None
    s = str(v).replace("Z", "+00:00")
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _float(v) -> float | None:
    return None if v is None or v == "" else float(v)


def _int(v) -> int | None:
    return None if v is None or v == "" else int(round(float(v)))


def _range(field_name: str, w: Window) -> dict:
    return {f"{field_name}.gte": w.start.isoformat(), f"{field_name}.lte": w.end.isoformat()}


PULLED_AT = pa.field("pulled_at", pa.timestamp("us", tz="UTC"), nullable=False)
DATE = pa.date32()
STR = pa.string()
F64 = pa.float64()
I64 = pa.int64()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields] + [PULLED_AT])


# -- dividends -------------------------------------------------------------------------------
DIVIDEND_TYPE_TO_DISTRIBUTION = {"CD": "recurring", "SC": "special", "LT": "irregular", "ST": "irregular"}
DISTRIBUTION_TO_DIVIDEND_TYPE = {"recurring": "CD", "special": "SC"}


def _plan_dividends(style: str, w: Window, tickers: list[str]) -> list[Request]:
    if style == "legacy":
        return [Request("/v3/reference/dividends", {**_range("ex_dividend_date", w), "limit": 1000, "sort": "ex_dividend_date", "order": "asc"})]
    return [Request("/stocks/v1/dividends", {**_range("ex_dividend_date", w), "limit": 5000, "sort": "ex_dividend_date.asc"})]


def _rows_dividends(style: str, r: dict, req: Request) -> Iterator[dict]:
    dtype = r.get("dividend_type")
    dist = r.get("distribution_type")
    if style == "legacy":
        dist = DIVIDEND_TYPE_TO_DISTRIBUTION.get(dtype)
    else:
        dtype = DISTRIBUTION_TO_DIVIDEND_TYPE.get(dist)
    yield {
        "id": r.get("id"),
        "ticker": r.get("ticker"),
        "ex_dividend_date": _date(r.get("ex_dividend_date")),
        "declaration_date": _date(r.get("declaration_date")),
        "record_date": _date(r.get("record_date")),
        "pay_date": _date(r.get("pay_date")),
        "cash_amount": _float(r.get("cash_amount")),
        "currency": r.get("currency"),
        "frequency": _int(r.get("frequency")),
        "dividend_type": dtype,
        "distribution_type": dist,
        "historical_adjustment_factor": _float(r.get("historical_adjustment_factor")),
        "split_adjusted_cash_amount": _float(r.get("split_adjusted_cash_amount")),
    }


DIVIDENDS = RestDataset(
    "dividends",
    "cash dividends by ex-dividend date",
    _schema(("id", STR), ("ticker", STR), ("ex_dividend_date", DATE), ("declaration_date", DATE), ("record_date", DATE),
            ("pay_date", DATE), ("cash_amount", F64), ("currency", STR), ("frequency", I64), ("dividend_type", STR),
            ("distribution_type", STR), ("historical_adjustment_factor", F64), ("split_adjusted_cash_amount", F64)),
    {"legacy": "/v3/reference/dividends", "current": "/stocks/v1/dividends"},
    _plan_dividends, _rows_dividends, ("ex_dividend_date", "ticker", "id"),
    current_only=("historical_adjustment_factor", "split_adjusted_cash_amount"),
)


# -- splits ----------------------------------------------------------------------------------
def _plan_splits(style: str, w: Window, tickers: list[str]) -> list[Request]:
    if style == "legacy":
        return [Request("/v3/reference/splits", {**_range("execution_date", w), "limit": 1000, "sort": "execution_date", "order": "asc"})]
    return [Request("/stocks/v1/splits", {**_range("execution_date", w), "limit": 5000, "sort": "execution_date.asc"})]


def _rows_splits(style: str, r: dict, req: Request) -> Iterator[dict]:
    split_from, split_to = _float(r.get("split_from")), _float(r.get("split_to"))
    kind = r.get("adjustment_type")
    if style == "legacy" and split_from and split_to:
        kind = "reverse_split" if split_from > split_to else "forward_split"
    yield {
        "id": r.get("id"),
        "ticker": r.get("ticker"),
        "execution_date": _date(r.get("execution_date")),
        "split_from": split_from,
        "split_to": split_to,
        "adjustment_type": kind,
        "historical_adjustment_factor": _float(r.get("historical_adjustment_factor")),
    }


SPLITS = RestDataset(
    "splits",
    "stock splits by execution date",
    _schema(("id", STR), ("ticker", STR), ("execution_date", DATE), ("split_from", F64), ("split_to", F64),
            ("adjustment_type", STR), ("historical_adjustment_factor", F64)),
    {"legacy": "/v3/reference/splits", "current": "/stocks/v1/splits"},
    _plan_splits, _rows_splits, ("execution_date", "ticker", "id"),
    current_only=("historical_adjustment_factor",),
)


# -- IPOs ------------------------------------------------------------------------------------
IPO_FIELDS = (
    ("ticker", STR), ("issuer_name", STR), ("ipo_status", STR), ("announced_date", DATE), ("listing_date", DATE),
    ("issue_start_date", DATE), ("issue_end_date", DATE), ("last_updated", DATE), ("currency_code", STR),
    ("final_issue_price", F64), ("lowest_offer_price", F64), ("highest_offer_price", F64),
    ("min_shares_offered", F64), ("max_shares_offered", F64), ("total_offer_size", F64), ("shares_outstanding", F64),
    ("lot_size", F64), ("primary_exchange", STR), ("security_type", STR), ("security_description", STR),
    ("isin", STR), ("us_code", STR),
)


def _plan_ipos(style: str, w: Window, tickers: list[str]) -> list[Request]:
    if style == "legacy":
        return [Request("/vX/reference/ipos", {**_range("listing_date", w), "limit": 1000, "sort": "listing_date", "order": "asc"})]
    return [Request("/v1/reference/ipos", {**_range("listing_date", w), "limit": 1000, "sort": "listing_date.asc"})]


def _rows_ipos(style: str, r: dict, req: Request) -> Iterator[dict]:
    out = {}
    for name, typ in IPO_FIELDS:
        v = r.get(name)
        out[name] = _date(v) if typ == DATE else _float(v) if typ == F64 else v
    yield out


IPOS = RestDataset(
    "ipos", "IPOs by listing date", _schema(*IPO_FIELDS),
    {"legacy": "/vX/reference/ipos", "current": "/v1/reference/ipos"},
    _plan_ipos, _rows_ipos, ("listing_date", "ticker"),
)


# -- ticker events ---------------------------------------------------------------------------
def _plan_ticker_events(style: str, w: Window, tickers: list[str]) -> list[Request]:
    return [Request(f"/vX/reference/tickers/{t}/events", {"types": "ticker_change"}, ticker=t) for t in tickers]


def _rows_ticker_events(style: str, r: dict, req: Request) -> Iterator[dict]:
    for ev in r.get("events") or []:
        yield {
            "requested": req.ticker,
            "name": r.get("name"),
            "composite_figi": r.get("composite_figi"),
            "cik": r.get("cik"),
            "event_type": ev.get("type"),
            "event_date": _date(ev.get("date")),
            "ticker": (ev.get(ev.get("type") or "") or {}).get("ticker"),
        }


TICKER_EVENTS = RestDataset(
    "ticker_events", "ticker changes of the fundamental tickers",
    _schema(("requested", STR), ("name", STR), ("composite_figi", STR), ("cik", STR), ("event_type", STR),
            ("event_date", DATE), ("ticker", STR)),
    {"legacy": "/vX/reference/tickers/{id}/events"},
    _plan_ticker_events, _rows_ticker_events, ("requested", "event_date", "ticker"), per_ticker=True,
)


# -- fundamentals ----------------------------------------------------------------------------
STATEMENTS = {
    "balance_sheet": "balance-sheets",
    "income_statement": "income-statements",
    "cash_flow_statement": "cash-flow-statements",
}
# vX key -> current field name, per statement: the bronze `concept` is the current name.
CONCEPTS = {
    "balance_sheet": {
        "assets": "total_assets", "current_assets": "total_current_assets", "liabilities": "total_liabilities",
        "current_liabilities": "total_current_liabilities", "equity": "total_equity",
        "equity_attributable_to_parent": "total_equity_attributable_to_parent",
        "liabilities_and_equity": "total_liabilities_and_equity", "inventory": "inventories",
        "accounts_payable": "accounts_payable", "long_term_debt": "long_term_debt_and_capital_lease_obligations",
        "other_current_assets": "other_current_assets", "other_noncurrent_liabilities": "other_noncurrent_liabilities",
        "commitments_and_contingencies": "commitments_and_contingencies",
    },
    "income_statement": {
        "revenues": "revenue", "cost_of_revenue": "cost_of_revenue", "gross_profit": "gross_profit",
        "operating_income_loss": "operating_income", "operating_expenses": "total_operating_expenses",
        "research_and_development": "research_development",
        "selling_general_and_administrative_expenses": "selling_general_administrative",
        "income_loss_from_continuing_operations_before_tax": "income_before_income_taxes",
        "income_tax_expense_benefit": "income_taxes", "net_income_loss": "consolidated_net_income_loss",
        "net_income_loss_available_to_common_stockholders_basic": "net_income_loss_attributable_common_shareholders",
        "basic_earnings_per_share": "basic_earnings_per_share", "diluted_earnings_per_share": "diluted_earnings_per_share",
        "basic_average_shares": "basic_shares_outstanding", "diluted_average_shares": "diluted_shares_outstanding",
        "interest_expense_operating": "interest_expense",
    },
    "cash_flow_statement": {
        "net_cash_flow_from_operating_activities": "net_cash_from_operating_activities",
        "net_cash_flow_from_investing_activities": "net_cash_from_investing_activities",
        "net_cash_flow_from_financing_activities": "net_cash_from_financing_activities",
        "net_cash_flow": "change_in_cash_and_equivalents",
        "exchange_gains_losses": "effect_of_currency_exchange_rate",
    },
}
CURRENT_KEYS = {"cik", "tickers", "period_end", "filing_date", "fiscal_year", "fiscal_quarter", "timeframe"}
TICKERS_PER_REQUEST = 100  # current endpoints take tickers.any_of=...


def concept_unit(concept: str) -> str:
    """Units the current endpoints leave implicit: per-share, share counts, else dollars."""
    if concept.endswith("earnings_per_share"):
        return "USD / shares"
    if concept.endswith("shares_outstanding"):
        return "shares"
    return "USD"


def _plan_fundamentals(style: str, w: Window, tickers: list[str]) -> list[Request]:
    timeframe = w.label or "quarterly"
    rng = _range("filing_date", w)
    if style == "legacy":
        return [
            Request("/vX/reference/financials", {"ticker": t, "timeframe": timeframe, **rng, "limit": 100, "sort": "filing_date", "order": "asc"}, ticker=t)
            for t in tickers
        ]
    out = []
    for statement, slug in STATEMENTS.items():
        for i in range(0, len(tickers), TICKERS_PER_REQUEST):
            chunk = tickers[i : i + TICKERS_PER_REQUEST]
            out.append(Request(f"/stocks/financials/v1/{slug}", {"tickers.any_of": ",".join(chunk), "timeframe": timeframe, **rng, "limit": 50000, "sort": "period_end.asc"}, context={"statement": statement}))
    return out


def _fiscal_period(timeframe, quarter) -> str | None:
    if timeframe == "annual":
        return "FY"
    q = _int(quarter)
    return f"Q{q}" if q else None


def _rows_fundamentals(style: str, r: dict, req: Request) -> Iterator[dict]:
    tickers = list(r.get("tickers") or ([req.ticker] if req.ticker else []))
    base = {
        "ticker": tickers[0] if tickers else req.ticker,
        "tickers": tickers,
        "cik": r.get("cik"),
        "filing_date": _date(r.get("filing_date")),
        "timeframe": r.get("timeframe") or (req.params.get("timeframe") if req.params else None),
    }
    if style == "legacy":
        base.update(
            period_end=_date(r.get("end_date")),
            fiscal_year=_int(r.get("fiscal_year")),
            fiscal_period=r.get("fiscal_period"),
            company_name=r.get("company_name"),
            period_start=_date(r.get("start_date")),
        )
        for statement, items in (r.get("financials") or {}).items():
            names = CONCEPTS.get(statement, {})
            for key, point in (items or {}).items():
                yield {**base, "statement": statement, "concept": names.get(key, key),
                       "value": _float(point.get("value")), "unit": point.get("unit"), "label": point.get("label")}
        return
    base.update(
        period_end=_date(r.get("period_end")),
        fiscal_year=_int(r.get("fiscal_year")),
        fiscal_period=_fiscal_period(r.get("timeframe"), r.get("fiscal_quarter")),
        company_name=None,
        period_start=None,
    )
    statement = req.context["statement"]
    for key, value in r.items():
        if key in CURRENT_KEYS or value is None:
            continue
        yield {**base, "statement": statement, "concept": key, "value": _float(value), "unit": concept_unit(key), "label": None}


FUNDAMENTALS = RestDataset(
    "fundamentals", "financial statements (long: one row per filing, statement and concept)",
    _schema(("ticker", STR), ("tickers", pa.list_(STR)), ("cik", STR), ("company_name", STR), ("filing_date", DATE),
            ("period_start", DATE), ("period_end", DATE), ("fiscal_year", I64), ("fiscal_period", STR), ("timeframe", STR),
            ("statement", STR), ("concept", STR), ("value", F64), ("unit", STR), ("label", STR)),
    {"legacy": "/vX/reference/financials", "current": "/stocks/financials/v1/{statement}"},
    _plan_fundamentals, _rows_fundamentals, ("ticker", "period_end", "filing_date", "statement", "concept"),
    legacy_only=("company_name", "period_start", "label"), per_ticker=True,
)


# -- news ------------------------------------------------------------------------------------
def _plan_news(style: str, w: Window, tickers: list[str]) -> list[Request]:
    return [Request("/v2/reference/news", {"published_utc.gte": f"{w.start.isoformat()}T00:00:00Z",
                                           "published_utc.lte": f"{w.end.isoformat()}T23:59:59Z",
                                           "limit": 1000, "sort": "published_utc", "order": "asc"})]


def _rows_news(style: str, r: dict, req: Request) -> Iterator[dict]:
    pub = r.get("publisher") or {}
    yield {
        "id": r.get("id"),
        "published_utc": _ts(r.get("published_utc")),
        "publisher_name": pub.get("name"),
        "publisher": dump_json(pub) if pub else None,
        "title": r.get("title"),
        "author": r.get("author"),
        "article_url": r.get("article_url"),
        "amp_url": r.get("amp_url"),
        "image_url": r.get("image_url"),
        "description": r.get("description"),
        "tickers": list(r.get("tickers") or []),
        "keywords": list(r.get("keywords") or []),
        "insights": dump_json(r.get("insights")),
    }


NEWS = RestDataset(
    "news", "news articles by publication time",
    _schema(("id", STR), ("published_utc", pa.timestamp("us", tz="UTC")), ("publisher_name", STR), ("publisher", STR),
            ("title", STR), ("author", STR), ("article_url", STR), ("amp_url", STR), ("image_url", STR),
            ("description", STR), ("tickers", pa.list_(STR)), ("keywords", pa.list_(STR)), ("insights", STR)),
    {"legacy": "/v2/reference/news"},
    _plan_news, _rows_news, ("published_utc", "id"),
)


# -- short interest / short volume -----------------------------------------------------------
def _plan_short_interest(style: str, w: Window, tickers: list[str]) -> list[Request]:
    # No ticker filter: the endpoint returns every ticker whatever is asked (see the guide);
    # rows are filtered after download.
    return [Request("/stocks/v1/short-interest", {**_range("settlement_date", w), "limit": 50000, "sort": "settlement_date.asc"})]


def _rows_short_interest(style: str, r: dict, req: Request) -> Iterator[dict]:
    yield {
        "ticker": r.get("ticker"),
        "settlement_date": _date(r.get("settlement_date")),
        "short_interest": _int(r.get("short_interest")),
        "avg_daily_volume": _int(r.get("avg_daily_volume")),
        "days_to_cover": _float(r.get("days_to_cover")),
    }


SHORT_INTEREST = RestDataset(
    "short_interest", "FINRA short interest (twice a month)",
    _schema(("ticker", STR), ("settlement_date", DATE), ("short_interest", I64), ("avg_daily_volume", I64), ("days_to_cover", F64)),
    {"current": "/stocks/v1/short-interest"},
    _plan_short_interest, _rows_short_interest, ("ticker", "settlement_date"), filter_after_download=True,
)

SHORT_VOLUME_INTS = (
    "short_volume", "total_volume", "exempt_volume", "non_exempt_volume", "adf_short_volume", "adf_short_volume_exempt",
    "nasdaq_carteret_short_volume", "nasdaq_carteret_short_volume_exempt", "nasdaq_chicago_short_volume",
    "nasdaq_chicago_short_volume_exempt", "nyse_short_volume", "nyse_short_volume_exempt",
)


def _plan_short_volume(style: str, w: Window, tickers: list[str]) -> list[Request]:
    return [Request("/stocks/v1/short-volume", {**_range("date", w), "limit": 50000, "sort": "date.asc"})]


def _rows_short_volume(style: str, r: dict, req: Request) -> Iterator[dict]:
    out = {"ticker": r.get("ticker"), "date": _date(r.get("date")), "short_volume_ratio": _float(r.get("short_volume_ratio"))}
    out.update({k: _int(r.get(k)) for k in SHORT_VOLUME_INTS})
    yield out


SHORT_VOLUME = RestDataset(
    "short_volume", "FINRA daily short volume by venue",
    _schema(("ticker", STR), ("date", DATE), ("short_volume_ratio", F64), *[(k, I64) for k in SHORT_VOLUME_INTS]),
    {"current": "/stocks/v1/short-volume"},
    _plan_short_volume, _rows_short_volume, ("ticker", "date"), filter_after_download=True,
)


# -- reference tickers -----------------------------------------------------------------------
TICKER_STR = ("ticker", "name", "market", "locale", "primary_exchange", "type", "currency_name", "currency_symbol",
              "base_currency_name", "base_currency_symbol", "cik", "composite_figi", "share_class_figi")


def _plan_tickers(style: str, w: Window, tickers: list[str]) -> list[Request]:
    active = {"active": "true", "delisted": "false"}.get(w.label or "")
    if active is None:
        raise ValueError(f"tickers window must be 'active' or 'delisted', got {w.name!r}")
    return [Request("/v3/reference/tickers", {"market": "stocks", "active": active, "limit": 1000, "sort": "ticker", "order": "asc"})]


def _rows_tickers(style: str, r: dict, req: Request) -> Iterator[dict]:
    out = {k: r.get(k) for k in TICKER_STR}
    out.update(active=r.get("active"), last_updated_utc=_ts(r.get("last_updated_utc")), delisted_utc=_ts(r.get("delisted_utc")))
    yield out


TICKERS = RestDataset(
    "tickers", "reference tickers, active and delisted",
    _schema(*[(k, STR) for k in TICKER_STR], ("active", pa.bool_()), ("last_updated_utc", pa.timestamp("us", tz="UTC")),
            ("delisted_utc", pa.timestamp("us", tz="UTC"))),
    {"legacy": "/v3/reference/tickers"},
    _plan_tickers, _rows_tickers, ("ticker", "delisted_utc"),
)


REST_DATASETS: dict[str, RestDataset] = {
    d.name: d for d in (DIVIDENDS, SPLITS, IPOS, TICKER_EVENTS, FUNDAMENTALS, NEWS, SHORT_INTEREST, SHORT_VOLUME, TICKERS)
}


def style_for(dataset: RestDataset, configured: str | None) -> str:
    """The endpoint style a dataset uses: the configured one if it has it, else its only one."""
    styles = dataset.styles()
    if configured in styles:
        return configured
    return styles[0]
