"""Point-in-time fundamentals: what the filings said about a ticker on a given date.

``silver/fundamentals`` keeps one row per period, the latest filing (an amendment replaces
the original): right for "what are the numbers", wrong for a backtest, where it leaks the
amendment back to dates before it was filed. This table keeps **every version**: one row per
(ticker, period end, filing), each with the date it became known:

- ``known_date`` = the filing date; where the vendor gives none, the period end plus a lag
  (45 days for quarters, 90 for years: the SEC's 10-Q and 10-K deadlines for large filers,
  rounded up), and ``known_rule`` says which (``filing_date`` or ``period_end+45d``), so the
  assumption is a column, not a hidden choice.
- the concepts as that filing stated them, and the ratios computable from one filing
  (margins, returns, liquidity, leverage, turnover).

``as_of(table, tickers, date)`` answers from filings known on or before ``date`` only;
``attach(frame, table)`` gives every (ticker, date) row of any frame the latest period known
on that date, as that period's latest version known then.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from . import conform
from .fundamentals import CONCEPT_COLUMNS, ID_FIELDS, LINEAGE, RATIOS, id_aggregations, ratio_exprs

LAG_DAYS = {"quarterly": 45, "annual": 90}
SCHEMA = pa.schema([
    *ID_FIELDS,
    pa.field("known_date", pa.date32(), nullable=False),
    pa.field("known_rule", pa.string(), nullable=False),
    *(pa.field(c, pa.float64()) for c in CONCEPT_COLUMNS),
    *(pa.field(r, pa.float64()) for r in RATIOS),
    *LINEAGE,
])


def versions(rows: pl.DataFrame, timeframe: str) -> pa.Table:
    """Every filing of every period of ``timeframe`` (long bronze rows, as loaded by
    ``silver.pulls.load``), one row each; a filing pulled twice counts once (its latest pull)."""
    if rows.height == 0:
        return SCHEMA.empty_table()
    rows = rows.filter((pl.col("timeframe") == timeframe) & pl.col("ticker").is_not_null() & pl.col("period_end").is_not_null())
    if rows.height == 0:
        return SCHEMA.empty_table()
    lag = LAG_DAYS[timeframe]
    rows = rows.with_columns(
        pl.coalesce(pl.col("filing_date"), pl.col("period_end") + pl.duration(days=lag)).alias("known_date"),
        pl.when(pl.col("filing_date").is_null()).then(pl.lit(f"period_end+{lag}d")).otherwise(pl.lit("filing_date"))
        .alias("known_rule"),
    )
    key = ["ticker", "period_end", "known_date"]
    latest = rows.group_by(key).agg(pl.col("_seq").max())
    chosen = rows.join(latest, on=[*key, "_seq"], how="inner")
    ids = chosen.group_by(key).agg(*id_aggregations(), pl.col("known_rule").first())
    known = chosen.filter(pl.col("concept").is_in(CONCEPT_COLUMNS))
    if known.height:
        wide = known.pivot(on="concept", index=key, values="value", aggregate_function="last")
        ids = ids.join(wide, on=key, how="left")
    for c in CONCEPT_COLUMNS:
        if c not in ids.columns:
            ids = ids.with_columns(pl.lit(None, pl.Float64).alias(c))
    out = ids.with_columns(pl.lit(timeframe).alias("timeframe"))
    out = out.with_columns(*(e.alias(r) for r, e in ratio_exprs().items()))
    return conform(out.sort(["ticker", "period_end", "known_date"]).to_arrow(), SCHEMA)


def _frame(table) -> pl.DataFrame:
    return table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)


def as_of(table, tickers, date: dt.date | str, all_periods: bool = False) -> pl.DataFrame:
    """What the filings known on ``date`` said about ``tickers``: per ticker its latest period
    (or every period, ``all_periods``), each as its latest version known on ``date``. A
    filing known after ``date`` is never used; an amendment shows from its own known date."""
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    frame = _frame(table).filter(pl.col("ticker").is_in(list(tickers)) & (pl.col("known_date") <= day))
    frame = frame.sort(["ticker", "period_end", "known_date"]).group_by("ticker", "period_end", maintain_order=True).last()
    if not all_periods:
        frame = frame.group_by("ticker", maintain_order=True).last()
    return frame.sort(["ticker", "period_end"])


TTM_ITEMS = {"revenue_ttm": "revenue", "net_income_ttm": "consolidated_net_income_loss",
             "diluted_eps_ttm": "diluted_earnings_per_share", "operating_cash_flow_ttm": "net_cash_from_operating_activities",
             "free_cash_flow_ttm": "free_cash_flow"}


def states(table) -> pl.DataFrame:
    """Per ticker, the answer of ``as_of`` from each known date on: at each filing event the
    latest period known so far, as its latest version then, with the trailing twelve months
    of its flow items from the latest known versions of the last four quarters (null when
    one is missing or they are not consecutive). ``known_date`` is when the state begins."""
    frame = _frame(table).sort(["ticker", "known_date", "period_end"])
    out: list[dict] = []
    for _, group in frame.group_by("ticker", maintain_order=True):
        known: dict = {}
        for row in group.iter_rows(named=True):
            known[row["period_end"]] = row
            state = dict(known[max(known)])
            state["version_known_date"], state["known_date"] = state["known_date"], row["known_date"]
            last4 = [known[p] for p in sorted(known)[-4:]]
            quarterly = str(state["timeframe"]) == "quarterly"
            complete = quarterly and len(last4) == 4 and 250 <= (last4[-1]["period_end"] - last4[0]["period_end"]).days <= 300
            for name, column in TTM_ITEMS.items():
                values = [r.get(column) for r in last4]
                if not quarterly:
                    state[name] = state.get(column)
                else:
                    state[name] = sum(values) if complete and all(v is not None for v in values) else None
            if out and out[-1]["ticker"] == state["ticker"] and out[-1]["known_date"] == state["known_date"]:
                out[-1] = state  # two filings known the same day: the state after both
            else:
                out.append(state)
    if not out:
        return frame.head(0).with_columns(pl.lit(None, pl.Date).alias("version_known_date"),
                                          *(pl.lit(None, pl.Float64).alias(n) for n in TTM_ITEMS))
    return pl.DataFrame(out, schema_overrides={n: pl.Float64 for n in TTM_ITEMS}, infer_schema_length=None)


def attach(frame: pl.DataFrame, table, columns: list[str] | None = None, date_column: str = "date",
           prefix: str = "") -> pl.DataFrame:
    """``frame`` (any rows with ``ticker`` and a date column, e.g. bronze or gold stocks
    daily) with the fundamentals known on each row's date: the latest period's latest
    version known then (``known_date`` <= the row's date; null before the first filing)."""
    return _attach_states(frame, states(table), columns or [*CONCEPT_COLUMNS, *RATIOS], date_column, prefix)


def _attach_states(frame: pl.DataFrame, st: pl.DataFrame, keep: list[str], date_column: str = "date",
                   prefix: str = "") -> pl.DataFrame:
    right = st.select("ticker", "known_date", "period_end", "fiscal_year", "fiscal_period", "filing_date",
                      "known_rule", *keep)
    if prefix:
        right = right.rename({c: f"{prefix}{c}" for c in right.columns if c not in ("ticker", "known_date")})
    left = frame.with_row_index("_row").sort(date_column)
    out = left.join_asof(right.sort("known_date"), left_on=date_column, right_on="known_date", by="ticker",
                         strategy="backward", check_sortedness=False)
    return out.sort("_row").drop("_row")


def _split_factor(splits: dict[str, list[tuple[dt.date, float]]], ticker: str, after: dt.date | None,
                  upto: dt.date) -> float:
    """The product of the ticker's split ratios with ex-date in (after, upto]."""
    factor = 1.0
    for ex, ratio in splits.get(ticker, ()):
        if (after is None or ex > after) and ex <= upto:
            factor *= ratio
    return factor


def valuation(frame: pl.DataFrame, table, splits: pl.DataFrame | None = None, dividends: pl.DataFrame | None = None,
              date_column: str = "date", close_column: str = "close") -> pl.DataFrame:
    """Price-based ratios of each (ticker, session) row from its raw close and what the
    filings known that day said:

    - ``market_cap`` = close x basic shares of the latest known period, the shares multiplied
      by every split with ex-date after that period's end and on or before the row's date
      (a 10-for-1 split between a filing and today is not a 90 % drop in value);
    - ``pe`` = close / trailing-twelve-month diluted EPS, split-adjusted the same way (null
      when EPS <= 0); ``pb`` = market cap / total equity (null when <= 0); ``ps`` = market
      cap / trailing-twelve-month revenue;
    - ``dividend_yield`` = regular cash dividends with ex-date in the 365 days up to the row's
      date, each divided by the splits after it, over the close.

    ``splits`` and ``dividends`` are silver corporate-actions rows (``ticker``, ``event_date``,
    ``split_ratio`` / ``div_cash_amount``, ``div_type``), flagged rows already left out."""
    from ..rest.datasets import REGULAR_DIVIDEND_TYPES

    known = _attach_states(frame.with_row_index("_orig"), states(table),
                           ["basic_shares_outstanding", "diluted_shares_outstanding", "total_equity", *TTM_ITEMS],
                           date_column)
    by_ticker: dict[str, list[tuple[dt.date, float]]] = {}
    if splits is not None and splits.height:
        for t, ex, ratio in splits.select("ticker", "event_date", "split_ratio").drop_nulls().iter_rows():
            by_ticker.setdefault(t, []).append((ex, float(ratio)))
    divs: dict[str, list[tuple[dt.date, float]]] = {}
    if dividends is not None and dividends.height:
        types = [t for t in REGULAR_DIVIDEND_TYPES if t is not None]
        regular = dividends.filter(pl.col("div_type").is_null() | pl.col("div_type").is_in(types))
        for t, ex, cash in regular.select("ticker", "event_date", "div_cash_amount").drop_nulls().iter_rows():
            divs.setdefault(t, []).append((ex, float(cash)))
    factors, yields = [], []
    for t, day, period_end, close in known.select("ticker", date_column, "period_end", close_column).iter_rows():
        factors.append(_split_factor(by_ticker, t, period_end, day) if period_end is not None else None)
        paid = sum(cash / _split_factor(by_ticker, t, ex, day)
                   for ex, cash in divs.get(t, ()) if day - dt.timedelta(days=365) < ex <= day)
        yields.append(paid / close if close else None)
    c = pl.col
    shares = pl.coalesce(c("basic_shares_outstanding"), c("diluted_shares_outstanding")) * c("_factor")
    out = known.with_columns(pl.Series("_factor", factors, pl.Float64), pl.Series("dividend_yield", yields, pl.Float64))
    out = out.with_columns((c(close_column) * shares).alias("market_cap"),
                           (c("diluted_eps_ttm") / c("_factor")).alias("_eps"))
    out = out.with_columns(
        pl.when(c("_eps") > 0).then(c(close_column) / c("_eps")).otherwise(None).alias("pe"),
        pl.when(c("total_equity") > 0).then(c("market_cap") / c("total_equity")).otherwise(None).alias("pb"),
        pl.when(c("revenue_ttm") > 0).then(c("market_cap") / c("revenue_ttm")).otherwise(None).alias("ps"),
    )
    keep = [*frame.columns, "period_end", "known_date", "market_cap", "pe", "pb", "ps", "dividend_yield"]
    return out.sort("_orig").select(keep)
