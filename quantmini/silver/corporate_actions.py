"""silver/corporate_actions: dividends, splits, IPOs and ticker changes in one schema.

Built from every bronze pull of ``dividends``, ``splits``, ``ipos`` and ``ticker_events``
(see :mod:`quantmini.silver.pulls` for how overlapping pulls settle). All event types share
one schema: a common base (``ticker``, ``event_type``, ``event_date``, ``event_id``) and
nullable type-specific columns (``div_*``, ``split_*``, ``ipo_*``, ``tc_*``), so the four
files concatenate into one table. Derived columns, as the operations guide lists them:
``div_annualized_amount`` (cash x payments a year), ``div_is_special``, ``div_quarter``,
``split_ratio`` (to / from) and ``split_is_reverse`` (ratio < 1).

One file per event type, sorted by ticker and date in small row groups: a single ticker's
history is read through the row-group statistics (one group), without the 10,000s of tiny
per-ticker files a ``ticker=`` partitioning would rewrite on every pull.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from . import HIVE_KEY_TYPE, conform, pulls

EVENT_TYPES = ("dividend", "split", "ipo", "ticker_change")
SOURCES = {"dividend": "dividends", "split": "splits", "ipo": "ipos", "ticker_change": "ticker_events"}
PAYMENTS_A_YEAR = (1, 2, 4, 12)  # the vendor's `frequency`; 0 is a one-time payment

SCHEMA = pa.schema(
    [
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("event_type", HIVE_KEY_TYPE, nullable=False),
        pa.field("event_date", pa.date32()),
        pa.field("event_id", pa.string()),
        # dividends
        pa.field("div_cash_amount", pa.float64()),
        pa.field("div_currency", pa.string()),
        pa.field("div_declaration_date", pa.date32()),
        pa.field("div_record_date", pa.date32()),
        pa.field("div_pay_date", pa.date32()),
        pa.field("div_frequency", pa.int64()),
        pa.field("div_type", pa.string()),
        pa.field("div_distribution_type", pa.string()),
        pa.field("div_annualized_amount", pa.float64()),
        pa.field("div_is_special", pa.bool_()),
        pa.field("div_quarter", pa.int8()),
        # splits
        pa.field("split_from", pa.float64()),
        pa.field("split_to", pa.float64()),
        pa.field("split_ratio", pa.float64()),
        pa.field("split_is_reverse", pa.bool_()),
        # IPOs
        pa.field("ipo_issuer_name", pa.string()),
        pa.field("ipo_status", pa.string()),
        pa.field("ipo_issue_price", pa.float64()),
        pa.field("ipo_shares_offered", pa.float64()),
        pa.field("ipo_exchange", pa.string()),
        pa.field("ipo_announced_date", pa.date32()),
        # ticker changes
        pa.field("tc_new_ticker", pa.string()),
        pa.field("tc_previous_ticker", pa.string()),
        pa.field("tc_cik", pa.string()),
        pa.field("tc_composite_figi", pa.string()),
        # cleansing: reasons a row is suspect (quantmini.silver.cleansing), empty when clean
        pa.field("flags", pa.list_(pa.string()), nullable=False),
        # lineage
        pa.field("source_pull_date", pa.date32(), nullable=False),
        pa.field("pulled_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def _finish(frame: pl.DataFrame, event_type: str) -> pa.Table:
    """Every column of SCHEMA (nulls for other event types), sorted by ticker and date."""
    frame = frame.with_columns(pl.lit(event_type).alias("event_type"), pl.col("_pull_date").alias("source_pull_date"))
    return conform(frame.sort(["ticker", "event_date", "event_id"], nulls_last=False).to_arrow(), SCHEMA)


def _current_by_id(ps: pulls.PullSet, date_column: str) -> pl.DataFrame:
    """Current events keyed by the vendor's ``id`` (ticker and date where it has none)."""
    fallback = pl.concat_str(["ticker", pl.col(date_column).cast(pl.String)], separator="|")
    rows = ps.rows.with_columns(pl.coalesce("id", fallback).alias("_key"))
    return pulls.current(ps, ["_key"], date_column, rows).filter(pl.col("ticker").is_not_null())


def dividends(ps: pulls.PullSet) -> pa.Table:
    """Current dividends; withdrawn ones dropped (their ex-date window was pulled again without them)."""
    cur = _current_by_id(ps, "ex_dividend_date")
    freq = pl.col("frequency")
    out = cur.select(
        "ticker",
        pl.col("ex_dividend_date").alias("event_date"),
        pl.col("id").alias("event_id"),
        pl.col("cash_amount").alias("div_cash_amount"),
        pl.col("currency").alias("div_currency"),
        pl.col("declaration_date").alias("div_declaration_date"),
        pl.col("record_date").alias("div_record_date"),
        pl.col("pay_date").alias("div_pay_date"),
        freq.alias("div_frequency"),
        pl.col("dividend_type").alias("div_type"),
        pl.col("distribution_type").alias("div_distribution_type"),
        pl.when(freq.is_in(PAYMENTS_A_YEAR)).then(pl.col("cash_amount") * freq).otherwise(None).alias("div_annualized_amount"),
        ((pl.col("distribution_type") == "special") | (pl.col("dividend_type") == "SC")).fill_null(False).alias("div_is_special"),
        pl.col("ex_dividend_date").dt.quarter().cast(pl.Int8).alias("div_quarter"),
        "pulled_at",
        "_pull_date",
    )
    return _finish(out, "dividend")


def splits(ps: pulls.PullSet) -> pa.Table:
    cur = _current_by_id(ps, "execution_date")
    ratio = pl.when(pl.col("split_from") > 0).then(pl.col("split_to") / pl.col("split_from")).otherwise(None)
    out = cur.select(
        "ticker",
        pl.col("execution_date").alias("event_date"),
        pl.col("id").alias("event_id"),
        pl.col("split_from"),
        pl.col("split_to"),
        ratio.alias("split_ratio"),
        (ratio < 1.0).alias("split_is_reverse"),
        "pulled_at",
        "_pull_date",
    )
    return _finish(out, "split")


def ipos(ps: pulls.PullSet) -> pa.Table:
    cur = pulls.current(ps, ["ticker", "listing_date"], "listing_date").filter(pl.col("ticker").is_not_null())
    out = cur.select(
        "ticker",
        pl.col("listing_date").alias("event_date"),
        pl.lit(None, pl.String).alias("event_id"),
        pl.col("issuer_name").alias("ipo_issuer_name"),
        pl.col("ipo_status"),
        pl.col("final_issue_price").alias("ipo_issue_price"),
        pl.coalesce("max_shares_offered", "min_shares_offered").alias("ipo_shares_offered"),
        pl.col("primary_exchange").alias("ipo_exchange"),
        pl.col("announced_date").alias("ipo_announced_date"),
        "pulled_at",
        "_pull_date",
    )
    return _finish(out, "ipo")


def ticker_changes(ps: pulls.PullSet) -> pa.Table:
    """Ticker changes filed under the name's current ticker (the one asked for): each event
    is the symbol adopted on that date, with the symbol it replaced."""
    rows = ps.rows.filter(pl.col("event_type") == "ticker_change")
    cur = pulls.current(ps, ["requested", "event_date", "ticker"], None, rows).sort(["requested", "event_date"])
    out = cur.select(
        pl.col("requested").alias("ticker"),
        "event_date",
        pl.lit(None, pl.String).alias("event_id"),
        pl.col("ticker").alias("tc_new_ticker"),
        pl.col("ticker").shift(1).over("requested").alias("tc_previous_ticker"),
        pl.col("cik").alias("tc_cik"),
        pl.col("composite_figi").alias("tc_composite_figi"),
        "pulled_at",
        "_pull_date",
    )
    return _finish(out, "ticker_change")


BUILDERS = {"dividend": dividends, "split": splits, "ipo": ipos, "ticker_change": ticker_changes}


def build(event_type: str, partitions: list[str], bars: pl.DataFrame | None = None) -> pa.Table:
    """The silver table of one event type from its bronze partitions, each row flagged
    against ``bars`` (ticker, date, close of bronze stocks daily; see silver.cleansing)."""
    from .cleansing import bars_from, flag

    loaded = pulls.load(partitions)
    if loaded.rows.height == 0:
        return SCHEMA.empty_table()
    return flag(BUILDERS[event_type](loaded), bars if bars is not None else bars_from([]))
