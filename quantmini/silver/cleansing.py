"""Cleansing flags for silver corporate actions: marked, never silently deleted.

Each row gets ``flags``, a list of reasons (empty when clean):

- ``duplicate_ex_date``: two different regular cash dividends of one ticker on one ex-date;
- ``split_without_price_jump``: a split whose ex-date's raw close, against the session
  before, does not move by its ratio (within a factor of ``SPLIT_TOLERANCE``), from bronze
  stocks daily (not checked where either close is not held);
- ``after_last_trade`` / ``before_first_trade``: an action dated after the ticker's last
  bar or before its first, within the sessions the lake holds (an announced future dividend
  is not "after the last trade": it lies beyond the lake's last session);
- ``split_ratio_out_of_range``: split to/from outside ``SPLIT_RATIO_RANGE``;
- ``dividend_exceeds_close``: a cash dividend larger than the previous session's close.

The Qlib adjustment and the gold features skip flagged rows (quantmini.gold.actions).
"""

from __future__ import annotations

import math
from collections import Counter

import polars as pl
import pyarrow as pa

SPLIT_RATIO_RANGE = (1 / 1000, 100.0)  # 1-for-1000 reverse .. 100-for-1
SPLIT_TOLERANCE = 1.5  # the raw close moves by the ratio within x1.5 either way
REASONS = ("duplicate_ex_date", "split_without_price_jump", "after_last_trade", "before_first_trade",
           "split_ratio_out_of_range", "dividend_exceeds_close")


def bars_from(paths: list[str]) -> pl.DataFrame:
    """ticker, date, close of the given bronze stocks_daily partitions (three columns each)."""
    if not paths:
        return pl.DataFrame(schema={"ticker": pl.String, "date": pl.Date, "close": pl.Float64})
    return pl.scan_parquet(paths).select("ticker", "date", "close").collect()


def _previous_close(bars: pl.DataFrame) -> pl.DataFrame:
    """Per (ticker, date) held: that close and the close of the ticker's previous held session."""
    return bars.sort("ticker", "date").with_columns(pl.col("close").shift(1).over("ticker").alias("prev_close"),
                                                    pl.col("date").shift(1).over("ticker").alias("prev_date"))


def flag(table: pa.Table, bars: pl.DataFrame) -> pa.Table:
    """``table`` (one event type's silver rows, schema of corporate_actions) with ``flags``."""
    frame = pl.from_arrow(table).with_row_index("_row")
    reasons: dict[int, list[str]] = {}

    def mark(rows: pl.DataFrame, reason: str) -> None:
        for r in rows["_row"].to_list():
            reasons.setdefault(r, []).append(reason)

    if frame.height:
        kind = str(frame["event_type"][0])
        if kind == "dividend":
            regular = frame.filter((pl.col("div_type") == "CD") & pl.col("event_date").is_not_null())
            amounts = regular.group_by("ticker", "event_date").agg(pl.col("div_cash_amount").n_unique().alias("_n"))
            mark(regular.join(amounts.filter(pl.col("_n") > 1), on=["ticker", "event_date"]), "duplicate_ex_date")
        if kind == "split":
            lo, hi = SPLIT_RATIO_RANGE
            mark(frame.filter(pl.col("split_ratio").is_not_null() & ~pl.col("split_ratio").is_between(lo, hi)),
                 "split_ratio_out_of_range")
        if bars.height and kind in ("dividend", "split"):
            # only the actions' tickers: a year of bars is millions of rows, the actions' few
            first_held, last_held = bars["date"].min(), bars["date"].max()
            bars = bars.join(frame.select("ticker").unique(), on="ticker", how="semi")
            priced = frame.join(_previous_close(bars), left_on=["ticker", "event_date"], right_on=["ticker", "date"],
                                how="inner")
            if kind == "split":
                move = pl.col("prev_close") / pl.col("close")
                off = (move / pl.col("split_ratio")).log().abs() > math.log(SPLIT_TOLERANCE)
                mark(priced.filter(pl.col("prev_close").is_not_null() & (pl.col("close") > 0) & off),
                     "split_without_price_jump")
            if kind == "dividend":
                mark(priced.filter(pl.col("prev_close").is_not_null() & (pl.col("div_cash_amount") > pl.col("prev_close"))),
                     "dividend_exceeds_close")
            span = bars.group_by("ticker").agg(pl.col("date").min().alias("_first"), pl.col("date").max().alias("_last"))
            dated = frame.join(span, on="ticker", how="inner")
            mark(dated.filter((pl.col("event_date") > pl.col("_last")) & (pl.col("event_date") <= last_held)),
                 "after_last_trade")
            mark(dated.filter((pl.col("event_date") < pl.col("_first")) & (pl.col("event_date") >= first_held)),
                 "before_first_trade")
    flags = pa.array([sorted(set(reasons.get(i, []))) for i in range(frame.height)], type=pa.list_(pa.string()))
    index = table.schema.get_field_index("flags")
    field = pa.field("flags", pa.list_(pa.string()), nullable=False)
    return table.set_column(index, field, flags) if index >= 0 else table.append_column(field, flags)


def counts(table: pa.Table) -> dict[str, int]:
    """Flagged rows by reason, for the silver sidecar."""
    c = Counter(reason for row in table.column("flags").to_pylist() for reason in row)
    return {r: c[r] for r in REASONS if c[r]}
