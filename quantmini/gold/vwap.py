"""The true session VWAP of each ticker from one day of bronze minute bars.

VWAP = sum(p * v) / sum(v) over the regular-session minutes (09:30 to the XNYS close:
16:00, or 13:00 on early-close days), with p the minute's typical price (high + low +
close) / 3 because the vendor's minute aggregates carry no per-minute VWAP. Pre- and
post-market minutes are left out. A ticker without a regular-session minute, or with zero
volume in them, has no VWAP (NaN).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..sessions import regular_session_bounds


def session_vwap(minute_file: str | Path, day: dt.date, tickers: list[str] | None = None) -> pa.Table:
    """``ticker``, ``vwap`` (float64) for every ticker with regular-session volume, or only
    for ``tickers`` (vendor spellings): a file sorted by ticker then reads only the row groups
    that can hold them (a symbol rewritten in the Qlib store needs a few names of each day's
    millions of minutes). Each ticker's sums run over its own minutes in the file's order,
    so its VWAP is the same bits either way."""
    start, end = regular_session_bounds(day)
    columns = ["ticker", "window_start", "high", "low", "close", "volume"]
    if tickers is None:
        t = pq.read_table(minute_file, columns=columns)
    else:
        t = pq.read_table(minute_file, columns=columns, filters=[("ticker", "in", sorted(set(tickers)))])
    ws = pc.cast(t.column("window_start"), pa.int64())
    keep = pc.and_(pc.greater_equal(ws, start), pc.less(ws, end))
    t = t.filter(keep)
    typical = pc.divide(pc.add(pc.add(t.column("high"), t.column("low")), t.column("close")), 3.0)
    pv = pc.multiply(typical, t.column("volume"))
    g = pa.table({"ticker": t.column("ticker"), "pv": pv, "v": t.column("volume")}).group_by("ticker", use_threads=False).aggregate(
        [("pv", "sum"), ("v", "sum")]
    )
    v = g.column("v_sum").to_numpy(zero_copy_only=False)
    pvs = g.column("pv_sum").to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(v > 0, pvs / np.where(v > 0, v, 1.0), np.nan)
    return pa.table({"ticker": g.column("ticker"), "vwap": pa.array(vwap, pa.float64())}).sort_by("ticker")
