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
from .fundamentals import CONCEPT_COLUMNS, ID_FIELDS, LINEAGE, RATIOS, ratio_exprs

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
    ids = chosen.group_by(key).agg(
        pl.col("cik").drop_nulls().first(),
        pl.col("company_name").drop_nulls().first(),
        pl.col("fiscal_year").drop_nulls().first(),
        pl.col("fiscal_period").drop_nulls().first(),
        pl.col("period_start").drop_nulls().first(),
        pl.col("filing_date").first(),
        pl.col("known_rule").first(),
        pl.col("_pull_date").first().alias("source_pull_date"),
        pl.col("pulled_at").max(),
    )
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


def states(table) -> pl.DataFrame:
    """Per ticker, the answer of ``as_of`` from each known date on: at each filing event the
    latest period known so far, as its latest version. An amendment of an older period does
    not change the answer (a newer period is already known), so it adds no state."""
    frame = _frame(table).sort(["ticker", "known_date", "period_end"])
    # the latest period known at each event, and the latest version of it known by then
    frame = frame.with_columns(pl.col("period_end").cum_max().over("ticker").alias("_latest_period"))
    current = frame.filter(pl.col("period_end") == pl.col("_latest_period"))
    return current.group_by("ticker", "known_date", maintain_order=True).last().drop("_latest_period")


def attach(frame: pl.DataFrame, table, columns: list[str] | None = None, date_column: str = "date",
           prefix: str = "") -> pl.DataFrame:
    """``frame`` (any rows with ``ticker`` and a date column, e.g. bronze or gold stocks
    daily) with the fundamentals known on each row's date: the latest period's latest
    version known then (``known_date`` <= the row's date; null before the first filing)."""
    keep = columns or [c for c in (*CONCEPT_COLUMNS, *RATIOS)]
    right = states(table).select("ticker", "known_date", "period_end", "fiscal_year", "fiscal_period", "filing_date",
                                 "known_rule", *keep)
    if prefix:
        right = right.rename({c: f"{prefix}{c}" for c in right.columns if c not in ("ticker", "known_date")})
    left = frame.with_row_index("_row").sort(date_column)
    out = left.join_asof(right.sort("known_date"), left_on=date_column, right_on="known_date", by="ticker",
                         strategy="backward", check_sortedness=False)
    return out.sort("_row").drop("_row")
