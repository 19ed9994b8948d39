"""gold/stocks_minute: each bronze minute bar with its New York session and running VWAP.

Columns added to the bar (ticker, date, open, high, low, close, volume, transactions,
window_start as in bronze):

- ``session``: ``pre`` (04:00 to the open), ``regular`` (09:30 to the XNYS close: 16:00, or
  13:00 on early-close days such as the day after Thanksgiving), ``post`` (the close to
  20:00), in New York time, so daylight-saving changes move the UTC bounds; null for a bar
  outside 04:00–20:00 (counted in the sidecar).
- ``minute_return``: close / the ticker's previous bar's close that day − 1 (null on its
  first bar of the day).
- ``cum_volume``, ``vwap``: volume and VWAP accumulated over the ticker's bars of the same
  session label, restarting at each label; the bar's price is its typical price
  (high + low + close) / 3, since the vendor's minute aggregates carry no per-minute VWAP.
  The last regular bar's ``vwap`` is the session VWAP of gold stocks_daily and of Qlib's
  ``$vwap``. Null while the session's volume is still zero.
- ``vwap_distance_bps``: (close / vwap − 1) × 10,000.

Bronze is sorted by ticker then time, so each (ticker, session) run is contiguous and every
running value is a segmented cumulative sum: one vectorised pass over millions of bars.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..sessions import NEW_YORK
from ..sessions import regular_session_bounds

SESSIONS = ("pre", "regular", "post")
DICTIONARY_COLUMNS = ["ticker", "date", "volume", "transactions", "session"]
EXTENDED_OPEN = dt.time(4, 0)
EXTENDED_CLOSE = dt.time(20, 0)


def session_bounds(day: dt.date) -> tuple[int, int, int, int]:
    """UTC nanoseconds of 04:00, the open, the close and 20:00 New York time on ``day``."""
    tz = ZoneInfo(NEW_YORK)

    def ns(t: dt.time) -> int:
        return int(dt.datetime.combine(day, t, tz).timestamp()) * 1_000_000_000

    open_ns, close_ns = regular_session_bounds(day)
    return ns(EXTENDED_OPEN), open_ns, close_ns, ns(EXTENDED_CLOSE)


def session_codes(window_start_ns: np.ndarray, day: dt.date) -> np.ndarray:
    """0 pre, 1 regular, 2 post, -1 outside 04:00–20:00, for each bar's start."""
    pre, open_, close, end = session_bounds(day)
    codes = np.searchsorted(np.array([pre, open_, close, end]), window_start_ns, side="right").astype(np.int8) - 1
    codes[codes > 2] = -1
    return codes


def _segment_cumsum(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` restarting at each index where ``starts`` is True, summed
    within each segment (a global cumsum minus its value at the segment's start would lose
    ~10 digits to cancellation once the running total of a day's dollar volume is large)."""
    import pandas as pd

    seg = np.cumsum(starts) - 1
    return pd.Series(x).groupby(seg, sort=False).cumsum().to_numpy()


CHUNK_ROWS = 256 * 1024  # about; chunks end at a ticker's last bar (running values never cross one)


def chunk_bounds(bars: pa.Table, rows: int = CHUNK_ROWS) -> list[tuple[int, int]]:
    """[start, stop) row ranges of about ``rows`` bars that never split a ticker."""
    n = bars.num_rows
    if n == 0:
        return [(0, 0)]
    tick = pc.dictionary_encode(bars.column("ticker")).combine_chunks().indices.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, tick[1:] != tick[:-1]])
    # the first ticker start at or after each multiple of ``rows`` (none past the last start)
    at = np.searchsorted(starts, np.arange(rows, n, rows))
    cuts = np.unique(starts[at[at < len(starts)]])
    edges = [0, *[int(c) for c in cuts if 0 < c < n], n]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [(0, 0)]


def enrich_chunks(bars: pa.Table, day: dt.date, stats: dict):
    """:func:`enrich` over ticker-aligned chunks, for a writer that overlaps with it;
    ``stats`` accumulates the counts."""
    stats.update(tickers=0, outside_session_rows=0, session_rows={name: 0 for name in SESSIONS}, null_vwap=0)
    for a, b in chunk_bounds(bars):
        table, st = enrich(bars.slice(a, b - a), day)
        for key in ("tickers", "outside_session_rows", "null_vwap"):
            stats[key] += st[key]
        for name in SESSIONS:
            stats["session_rows"][name] += st["session_rows"][name]
        yield table


def enrich(bars: pa.Table, day: dt.date) -> tuple[pa.Table, dict]:
    """The gold table of one day of bronze minute bars (sorted by ticker, window_start)."""
    n = bars.num_rows
    ws = pc.cast(bars.column("window_start"), pa.int64()).to_numpy()
    codes = session_codes(ws, day)
    tick = pc.dictionary_encode(bars.column("ticker")).combine_chunks().indices.to_numpy(zero_copy_only=False)
    close = bars.column("close").to_numpy()
    high = bars.column("high").to_numpy()
    low = bars.column("low").to_numpy()
    volume = bars.column("volume").to_numpy()

    new_ticker = np.ones(n, dtype=bool)
    new_ticker[1:] = tick[1:] != tick[:-1]
    new_segment = new_ticker.copy()
    new_segment[1:] |= codes[1:] != codes[:-1]

    with np.errstate(divide="ignore", invalid="ignore"):
        prev_close = np.empty(n)
        prev_close[0] = np.nan
        prev_close[1:] = close[:-1]
        minute_return = np.where(new_ticker, np.nan, close / prev_close - 1.0)
        typical = (high + low + close) / 3.0
        cum_v = _segment_cumsum(volume, new_segment)
        cum_pv = _segment_cumsum(typical * volume, new_segment)
        vwap = np.where(cum_v > 0, cum_pv / np.where(cum_v > 0, cum_v, 1.0), np.nan)
        distance = (close / vwap - 1.0) * 10_000.0
    outside = codes < 0
    cum_v = np.where(outside, np.nan, cum_v)
    vwap = np.where(outside, np.nan, vwap)
    distance = np.where(outside, np.nan, distance)

    def nullable(a: np.ndarray) -> pa.Array:
        return pa.array(a, type=pa.float64(), from_pandas=True)  # NaN -> null

    labels = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8(), mask=outside), pa.array(SESSIONS))
    out = bars.select(["ticker", "date", "window_start", "open", "high", "low", "close", "volume", "transactions"])
    out = out.append_column("session", labels)
    out = out.append_column("minute_return", nullable(minute_return))
    out = out.append_column("cum_volume", nullable(cum_v))
    out = out.append_column("vwap", nullable(vwap))
    out = out.append_column("vwap_distance_bps", nullable(distance))
    counts = np.bincount(codes[~outside].astype(np.int64), minlength=3)
    stats = {
        "tickers": int(tick.max()) + 1 if n else 0,
        "outside_session_rows": int(outside.sum()),
        "session_rows": {name: int(c) for name, c in zip(SESSIONS, counts)},
        "null_vwap": int(out.column("vwap").null_count),
    }
    return out, stats
