"""silver/fundamentals (flattened statements) and silver/financial_ratios (derived).

Bronze fundamentals are long: one row per filing, statement and concept, concepts named as
the current API names them. Silver flattens them to one row per ticker, timeframe and fiscal
period end, a column per concept, keeping the latest filing of each period (an amendment,
10-Q/A, replaces the original) and, for one filing pulled twice, the latest pull.

Financial ratios are computed from the flattened rows, per period and without prices, so
they change only when filings do (weekly, with fundamentals): margins, returns, leverage,
liquidity, turnover, and growth against the previous quarter and the same period a year
earlier (the guide's ``--include-growth``). A ratio whose denominator is missing or zero is
null, never infinite.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from ..rest.datasets import CONCEPTS
from . import HIVE_KEY_TYPE, conform, pulls

TIMEFRAMES = ("quarterly", "annual")
CONCEPT_COLUMNS = tuple(sorted({c for names in CONCEPTS.values() for c in names.values()}))
ID_FIELDS = [
    pa.field("ticker", pa.string(), nullable=False),
    pa.field("cik", pa.string()),
    pa.field("company_name", pa.string()),
    pa.field("timeframe", HIVE_KEY_TYPE, nullable=False),
    pa.field("fiscal_year", pa.int64()),
    pa.field("fiscal_period", pa.string()),
    pa.field("period_start", pa.date32()),
    pa.field("period_end", pa.date32(), nullable=False),
    pa.field("filing_date", pa.date32()),
]
LINEAGE = [pa.field("source_pull_date", pa.date32(), nullable=False), pa.field("pulled_at", pa.timestamp("us", tz="UTC"))]
SCHEMA = pa.schema([*ID_FIELDS, *(pa.field(c, pa.float64()) for c in CONCEPT_COLUMNS), *LINEAGE])

RATIOS = {
    # name: (numerator, denominator)
    "gross_margin": ("gross_profit", "revenue"),
    "operating_margin": ("operating_income", "revenue"),
    "net_margin": ("consolidated_net_income_loss", "revenue"),
    "return_on_equity": ("consolidated_net_income_loss", "total_equity"),
    "return_on_assets": ("consolidated_net_income_loss", "total_assets"),
    "debt_to_equity": ("total_liabilities", "total_equity"),
    "current_ratio": ("total_current_assets", "total_current_liabilities"),
    "asset_turnover": ("revenue", "total_assets"),
    "operating_cash_flow_to_net_income": ("net_cash_from_operating_activities", "consolidated_net_income_loss"),
}
GROWTH = {"revenue": "revenue", "net_income": "consolidated_net_income_loss", "diluted_eps": "diluted_earnings_per_share"}
RATIO_SCHEMA = pa.schema(
    [*ID_FIELDS, pa.field("diluted_eps", pa.float64()),
     *(pa.field(r, pa.float64()) for r in RATIOS),
     *(pa.field(f"{g}_growth_qoq", pa.float64()) for g in GROWTH),
     *(pa.field(f"{g}_growth_yoy", pa.float64()) for g in GROWTH),
     *LINEAGE]
)


def flatten(rows: pl.DataFrame, timeframe: str) -> pa.Table:
    """One row per (ticker, period end) of ``timeframe``: the latest filing, then latest pull."""
    if rows.height == 0:
        return SCHEMA.empty_table()
    rows = rows.filter((pl.col("timeframe") == timeframe) & pl.col("ticker").is_not_null() & pl.col("period_end").is_not_null())
    if rows.height == 0:
        return SCHEMA.empty_table()
    versions = (
        rows.group_by("ticker", "period_end", "filing_date", "_seq")
        .agg(pl.len())
        .sort(["filing_date", "_seq"], nulls_last=False)
        .group_by("ticker", "period_end", maintain_order=True)
        .last()
        .select("ticker", "period_end", "filing_date", "_seq")
    )
    chosen = rows.join(versions, on=["ticker", "period_end", "filing_date", "_seq"], how="inner")
    ids = chosen.group_by("ticker", "period_end").agg(
        pl.col("cik").drop_nulls().first(),
        pl.col("company_name").drop_nulls().first(),
        pl.col("fiscal_year").drop_nulls().first(),
        pl.col("fiscal_period").drop_nulls().first(),
        pl.col("period_start").drop_nulls().first(),
        pl.col("filing_date").first(),
        pl.col("_pull_date").first().alias("source_pull_date"),
        pl.col("pulled_at").max(),
    )
    known = chosen.filter(pl.col("concept").is_in(CONCEPT_COLUMNS))
    if known.height:
        wide = known.pivot(on="concept", index=["ticker", "period_end"], values="value", aggregate_function="last")
        ids = ids.join(wide, on=["ticker", "period_end"], how="left")
    out = ids.with_columns(pl.lit(timeframe).alias("timeframe")).sort(["ticker", "period_end"])
    return conform(out.to_arrow(), SCHEMA)


def _safe_div(num: str, den: str) -> pl.Expr:
    return pl.when(pl.col(den).is_not_null() & (pl.col(den) != 0)).then(pl.col(num) / pl.col(den)).otherwise(None)


def _growth(now: pl.Expr, before: pl.Expr) -> pl.Expr:
    """(now - before) / |before|: a loss narrowing from -10 to -5 is +50%, not -50%."""
    return pl.when(before.is_not_null() & (before != 0)).then((now - before) / before.abs()).otherwise(None)


def ratios(flat: pa.Table) -> pa.Table:
    """Financial ratios of flattened fundamentals (one timeframe)."""
    frame = pl.from_arrow(flat)
    if frame.height == 0:
        return RATIO_SCHEMA.empty_table()
    frame = frame.sort(["ticker", "period_end"])
    exprs = [_safe_div(n, d).alias(name) for name, (n, d) in RATIOS.items()]
    for g, concept in GROWTH.items():
        prev = pl.col(concept).shift(1).over("ticker")
        gap = (pl.col("period_end") - pl.col("period_end").shift(1).over("ticker")).dt.total_days()
        adjacent = gap.is_between(75, 105)  # the previous quarter, not a missing one
        exprs.append(pl.when(adjacent & (pl.col("timeframe") == "quarterly")).then(_growth(pl.col(concept), prev)).otherwise(None).alias(f"{g}_growth_qoq"))
    out = frame.with_columns(*exprs, pl.col("diluted_earnings_per_share").alias("diluted_eps"))
    # Year over year: the same fiscal period of the previous fiscal year.
    last_year = frame.select(
        "ticker", "fiscal_period", (pl.col("fiscal_year") + 1).alias("fiscal_year"),
        *(pl.col(c).alias(f"_prev_{g}") for g, c in GROWTH.items()),
    ).unique(subset=["ticker", "fiscal_period", "fiscal_year"], keep="last")
    out = out.join(last_year, on=["ticker", "fiscal_period", "fiscal_year"], how="left")
    out = out.with_columns(*(_growth(pl.col(c), pl.col(f"_prev_{g}")).alias(f"{g}_growth_yoy") for g, c in GROWTH.items()))
    return conform(out.sort(["ticker", "period_end"]).to_arrow(), RATIO_SCHEMA)


def build(partitions: list[str], timeframe: str) -> pa.Table:
    return flatten(pulls.load(partitions).rows, timeframe)
