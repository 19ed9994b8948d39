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
# Concepts only the current endpoints (/stocks/financials/v1/*) name: the cash, receivables,
# short-term debt and capital expenditure the liquidity, efficiency and cash-flow ratios need.
EXTRA_CONCEPTS = ("cash_and_equivalents", "receivables", "debt_current", "purchase_of_property_plant_and_equipment",
                  "depreciation_depletion_and_amortization", "ebitda", "property_plant_equipment_net")
CONCEPT_COLUMNS = tuple(sorted({c for names in CONCEPTS.values() for c in names.values()} | set(EXTRA_CONCEPTS)))
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

GROWTH = {"revenue": "revenue", "net_income": "consolidated_net_income_loss", "diluted_eps": "diluted_earnings_per_share"}
# Flow items summed over the last four quarters (null when one of them is missing).
TTM = {"revenue": "revenue", "gross_profit": "gross_profit", "operating_income": "operating_income",
       "net_income": "consolidated_net_income_loss", "operating_cash_flow": "net_cash_from_operating_activities",
       "free_cash_flow": "free_cash_flow", "diluted_eps": "diluted_earnings_per_share"}
DAYS_A_YEAR = 365.0


def _div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null when either is null or den is 0 (never infinite)."""
    return pl.when(num.is_not_null() & den.is_not_null() & (den != 0)).then(num / den).otherwise(None)


def _per_year() -> pl.Expr:
    """Periods a year: a quarter's flows x 4 annualise it against a balance (turnovers, DSO)."""
    return pl.when(pl.col("timeframe").cast(pl.String) == "quarterly").then(4.0).otherwise(1.0)


def ratio_exprs() -> dict[str, pl.Expr]:
    """The guide's ratio set, per period, from one filing's concepts (no prices):
    profitability, liquidity, leverage, efficiency (turnovers annualised for quarters, days
    sales outstanding on 365 days) and cash flow. "Debt" in the leverage ratios is total
    liabilities. Free cash flow = operating cash flow - |capital expenditure| (the vendor
    reports capex as a negative cash flow), null when capex is unknown."""
    c = pl.col
    capex = c("purchase_of_property_plant_and_equipment").abs()
    receivables_turnover = _div(c("revenue") * _per_year(), c("receivables"))
    return {
        "gross_margin": _div(c("gross_profit"), c("revenue")),
        "operating_margin": _div(c("operating_income"), c("revenue")),
        "net_margin": _div(c("consolidated_net_income_loss"), c("revenue")),
        "return_on_assets": _div(c("consolidated_net_income_loss"), c("total_assets")),
        "return_on_equity": _div(c("consolidated_net_income_loss"), c("total_equity")),
        "current_ratio": _div(c("total_current_assets"), c("total_current_liabilities")),
        "quick_ratio": _div(c("total_current_assets") - c("inventories"), c("total_current_liabilities")),
        "cash_ratio": _div(c("cash_and_equivalents"), c("total_current_liabilities")),
        "working_capital": c("total_current_assets") - c("total_current_liabilities"),
        "debt_to_equity": _div(c("total_liabilities"), c("total_equity")),
        "debt_to_assets": _div(c("total_liabilities"), c("total_assets")),
        "equity_multiplier": _div(c("total_assets"), c("total_equity")),
        "interest_coverage": _div(c("operating_income"), c("interest_expense").abs()),
        "asset_turnover": _div(c("revenue") * _per_year(), c("total_assets")),
        "inventory_turnover": _div(c("cost_of_revenue") * _per_year(), c("inventories")),
        "receivables_turnover": receivables_turnover,
        "days_sales_outstanding": _div(pl.lit(DAYS_A_YEAR), receivables_turnover),
        "operating_cash_flow_ratio": _div(c("net_cash_from_operating_activities"), c("total_current_liabilities")),
        "operating_cash_flow_to_net_income": _div(c("net_cash_from_operating_activities"), c("consolidated_net_income_loss")),
        "free_cash_flow": c("net_cash_from_operating_activities") - capex,
    }


RATIOS = tuple(ratio_exprs())
RATIO_SCHEMA = pa.schema(
    [*ID_FIELDS, pa.field("diluted_eps", pa.float64()),
     *(pa.field(r, pa.float64()) for r in RATIOS),
     *(pa.field(f"{g}_growth_qoq", pa.float64()) for g in GROWTH),
     *(pa.field(f"{g}_growth_yoy", pa.float64()) for g in GROWTH),
     *(pa.field(f"{t}_ttm", pa.float64()) for t in TTM),
     *LINEAGE]
)


def id_aggregations() -> list[pl.Expr]:
    """A filing's identifying fields from its long rows (the first non-null of each), and
    its lineage: the pull it came from and the latest pull time."""
    return [
        pl.col("cik").drop_nulls().first(),
        pl.col("company_name").drop_nulls().first(),
        pl.col("fiscal_year").drop_nulls().first(),
        pl.col("fiscal_period").drop_nulls().first(),
        pl.col("period_start").drop_nulls().first(),
        pl.col("filing_date").first(),
        pl.col("_pull_date").first().alias("source_pull_date"),
        pl.col("pulled_at").max(),
    ]


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
    ids = chosen.group_by("ticker", "period_end").agg(*id_aggregations())
    known = chosen.filter(pl.col("concept").is_in(CONCEPT_COLUMNS))
    if known.height:
        wide = known.pivot(on="concept", index=["ticker", "period_end"], values="value", aggregate_function="last")
        ids = ids.join(wide, on=["ticker", "period_end"], how="left")
    out = ids.with_columns(pl.lit(timeframe).alias("timeframe")).sort(["ticker", "period_end"])
    return conform(out.to_arrow(), SCHEMA)


def _growth(now: pl.Expr, before: pl.Expr) -> pl.Expr:
    """(now - before) / |before|: a loss narrowing from -10 to -5 is +50%, not -50%."""
    return pl.when(before.is_not_null() & (before != 0)).then((now - before) / before.abs()).otherwise(None)


def ratios(flat: pa.Table) -> pa.Table:
    """Financial ratios of flattened fundamentals (one timeframe)."""
    frame = pl.from_arrow(flat)
    if frame.height == 0:
        return RATIO_SCHEMA.empty_table()
    frame = frame.sort(["ticker", "period_end"]).with_columns(*(e.alias(n) for n, e in ratio_exprs().items()))
    exprs = []
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
    return conform(_ttm(out.sort(["ticker", "period_end"])).to_arrow(), RATIO_SCHEMA)


def _ttm(frame: pl.DataFrame) -> pl.DataFrame:
    """Trailing twelve months of the flow items, on quarterly rows: this quarter and the three
    before it, all present (the fourth row back ends 250-300 days earlier, so no quarter is
    missing) and none null; otherwise null. Annual rows: the year itself."""
    quarterly = pl.col("timeframe").cast(pl.String) == "quarterly"
    span = (pl.col("period_end") - pl.col("period_end").shift(3).over("ticker")).dt.total_days()
    complete = span.is_between(250, 300)
    exprs = []
    for name, column in TTM.items():
        col = pl.col(column)
        total = col + col.shift(1).over("ticker") + col.shift(2).over("ticker") + col.shift(3).over("ticker")
        exprs.append(pl.when(quarterly).then(pl.when(complete).then(total).otherwise(None)).otherwise(col).alias(f"{name}_ttm"))
    return frame.with_columns(*exprs)


def build(partitions: list[str], timeframe: str) -> pa.Table:
    return flatten(pulls.load(partitions).rows, timeframe)
