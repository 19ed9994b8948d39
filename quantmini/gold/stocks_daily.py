"""gold/stocks_daily: per ticker and session, the bar with its returns, ranges, volatility,
volume measures and true session VWAP.

Every look-back is counted in the ticker's own bars (a session it did not trade is skipped,
as ``groupby(ticker).pct_change(n)`` would) within the last ``lookback`` XNYS sessions of the
lake (config ``gold_lookback_sessions``, default 30, at least 21). A daily run reads those
sessions from bronze, so a value is null only when the ticker has too few bars there (a new
listing, a long halt), never because the run started that day.

Prices compared across days are adjusted *as of the session*: the session's own bar is raw,
earlier bars are scaled by the splits (and, with ``qlib_adjustment: total``, the cash
dividends) whose ex-date falls after them and on or before the session, with the Qlib
store's factors and its checks (:mod:`quantmini.gold.actions`; a contradicted action is not
applied and is listed in the sidecar). Volume is adjusted for splits only. So a day depends
only on the actions inside its own window: a late split recomputes exactly the sessions
from its ex-date to ``lookback`` sessions later.

Columns (see README, "Gold datasets"): the raw bar; ``vwap``; ``ret_1d/5d/20d`` and
``log_ret_1d/5d/20d``; ``gap`` (open / previous close − 1) and ``intraday_ret``
(close / open − 1); ``true_range`` (max(high, previous close) − min(low, previous close);
high − low on a ticker's first bar) and ``atr_14`` (the mean of the last 14 true ranges:
a simple mean, not Wilder's recursion, which would tie each day to the whole history);
``realized_vol_20`` (sample standard deviation of the last 20 daily log returns × √252);
``dollar_volume`` (close × volume); ``avg_volume_20`` and ``avg_dollar_volume_20`` (means
over the last 20 bars, this one included); ``rel_volume_20`` (volume / the mean volume of
the 20 bars before this one); ``history_bars`` (the ticker's bars in the window).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ..bronze import _BAR_FIELDS as BAR_FIELDS
from . import actions as adj

MIN_LOOKBACK = 21  # 20-bar returns and volatility need 21 bars
DEFAULT_LOOKBACK = 30
BAR_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "volume", "transactions"]

SCHEMA = pa.schema(
    [
        pa.field("ticker", pa.string(), nullable=False),
        *[f for f in BAR_FIELDS if f.name != "window_start"],  # the raw bar, as bronze types it
        pa.field("vwap", pa.float64()),
        pa.field("ret_1d", pa.float64()),
        pa.field("ret_5d", pa.float64()),
        pa.field("ret_20d", pa.float64()),
        pa.field("log_ret_1d", pa.float64()),
        pa.field("log_ret_5d", pa.float64()),
        pa.field("log_ret_20d", pa.float64()),
        pa.field("gap", pa.float64()),
        pa.field("intraday_ret", pa.float64()),
        pa.field("true_range", pa.float64()),
        pa.field("atr_14", pa.float64()),
        pa.field("realized_vol_20", pa.float64()),
        pa.field("dollar_volume", pa.float64()),
        pa.field("avg_volume_20", pa.float64()),
        pa.field("avg_dollar_volume_20", pa.float64()),
        pa.field("rel_volume_20", pa.float64()),
        pa.field("history_bars", pa.int32(), nullable=False),
    ]
)
NULL_COUNTED = ("vwap", "ret_1d", "ret_20d", "atr_14", "realized_vol_20", "rel_volume_20")


@dataclass
class Adjusted:
    """The window's bars, sorted by ticker then date, with as-of-the-session factors."""

    ticker: np.ndarray  # int codes, contiguous per ticker
    names: list[str]
    ords: np.ndarray  # date ordinals
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # split-adjusted
    volume_raw: np.ndarray
    transactions: np.ndarray
    price_factor: np.ndarray
    applied: list[adj.Action] = field(default_factory=list)
    skipped: list[adj.Skipped] = field(default_factory=list)


def window_actions(all_actions: dict[str, list[adj.Action]], first: dt.date, day: dt.date) -> dict[str, list[adj.Action]]:
    """The actions that change a session's features: ex-date after the window's first
    session (nothing earlier to scale) and on or before the session."""
    out = {}
    for ticker, acts in all_actions.items():
        inside = [a for a in acts if first < a.ex_date <= day]
        if inside:
            out[ticker] = inside
    return out


SORT_KEYS = [("ticker", "ascending"), ("date", "ascending")]


def adjust(bars: pa.Table, actions: dict[str, list[adj.Action]], presorted: bool = False) -> Adjusted:
    """Sort the window's bars and compute each bar's price factor (splits and dividends) and
    split-adjusted volume, per ticker, as of the window's last session. ``presorted``: the
    bars are in SORT_KEYS order already (one (ticker, date) per bar, so the order is unique)."""
    if not presorted:
        bars = bars.sort_by(SORT_KEYS)
    enc = bars.column("ticker").combine_chunks().dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names = enc.dictionary.to_pylist()
    ords = bars.column("date").cast(pa.int32()).to_numpy().astype(np.int64) + dt.date(1970, 1, 1).toordinal()
    close = bars.column("close").to_numpy().astype(np.float64, copy=True)
    price_factor = np.ones(len(codes))
    volume_raw = bars.column("volume").to_numpy()
    volume = volume_raw.astype(np.float64, copy=True)
    out = Adjusted(codes, names, ords, bars.column("open").to_numpy(), bars.column("high").to_numpy(),
                   bars.column("low").to_numpy(), close, volume, volume_raw,
                   bars.column("transactions").to_numpy(), price_factor)
    if not actions or not len(codes):
        return out
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    for s, e in zip(starts, ends):
        name = names[codes[s]]
        acts = adj.in_range(actions.get(name) or [], dt.date.fromordinal(int(ords[s])))
        if not acts:
            continue
        applied, skipped = adj.resolve(acts, ords[s:e], close[s:e])
        out.skipped.extend(skipped)
        if not applied:
            continue
        refused = {sk.action for sk in skipped}
        used = [a for a in acts if a not in refused and a.ex_date.toordinal() > ords[s]]
        out.applied.extend(used)
        price_factor[s:e] = adj.factors(ords[s:e], applied)
        splits = [(a.ex_date.toordinal(), 1.0 / a.value) for a in used if a.kind == "split"]
        if splits:
            volume[s:e] = volume[s:e] / adj.factors(ords[s:e], splits)
    return out


def _back(idx: np.ndarray, n: int, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ``n`` bars before each row of ``idx`` and whether it is the same ticker's."""
    j = idx - n
    return np.maximum(j, 0), j >= start


def features(a: Adjusted, day: dt.date, vwap: dict[str, float] | None) -> pa.Table:
    """The gold rows of ``day``: one per ticker with a bar on that session."""
    n = len(a.ticker)
    starts_mask = np.r_[True, a.ticker[1:] != a.ticker[:-1]] if n else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(starts_mask, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    rows = np.flatnonzero(a.ords == day.toordinal())
    start = group_start[rows]
    o, h, lo, c = a.open * a.price_factor, a.high * a.price_factor, a.low * a.price_factor, a.close * a.price_factor
    v = a.volume
    raw_dv = a.close * a.volume_raw  # split-invariant: raw price times raw shares
    nan = np.nan

    def ret(k: int) -> tuple[np.ndarray, np.ndarray]:
        j, ok = _back(rows, k, start)
        with np.errstate(divide="ignore", invalid="ignore"):
            simple = np.where(ok, c[rows] / c[j] - 1.0, nan)
            log = np.where(ok, np.log(c[rows] / c[j]), nan)
        return simple, log

    r1, l1 = ret(1)
    r5, l5 = ret(5)
    r20, l20 = ret(20)
    prev, has_prev = _back(rows, 1, start)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(has_prev, o[rows] / c[prev] - 1.0, nan)
        intraday = c[rows] / o[rows] - 1.0

    # True range of every bar (needed over 14 bars), with the previous close when the
    # ticker has one in the window.
    all_idx = np.arange(n)
    pj, pok = _back(all_idx, 1, group_start)
    pc_ = np.where(pok, c[pj], nan)
    tr_all = np.where(pok, np.maximum(h, pc_) - np.minimum(lo, pc_), h - lo)

    def window(values: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(len(rows), k) matrix of the k values ending ``offset`` bars before each row, and
        whether all k belong to the row's ticker."""
        last = rows - offset
        idx = last[:, None] - np.arange(k - 1, -1, -1)[None, :]
        ok = idx[:, 0] >= start
        return values[np.maximum(idx, 0)], ok

    tr14, ok14 = window(tr_all, 14)
    atr = np.where(ok14, tr14.mean(axis=1), nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logret_all = np.where(pok, np.log(c / np.where(pok, c[pj], 1.0)), nan)
    lr20, ok_rv = window(logret_all, 20)
    ok_rv &= (rows - 20) >= start  # 20 returns need 21 bars
    rv = np.full(len(rows), nan)
    if ok_rv.any():
        rv[ok_rv] = lr20[ok_rv].std(axis=1, ddof=1) * np.sqrt(252.0)
    v20, okv = window(v, 20)
    avg_v = np.where(okv, v20.mean(axis=1), nan)
    dv20, _ = window(raw_dv, 20)
    avg_dv = np.where(okv, dv20.mean(axis=1), nan)
    pv20, okp = window(v, 20, offset=1)
    okp &= rows - 1 >= start
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_prev = pv20.mean(axis=1)
        rel = np.where(okp & (mean_prev > 0), v[rows] / mean_prev, nan)

    names = [a.names[t] for t in a.ticker[rows]]
    vw = np.array([vwap.get(t, nan) for t in names], dtype=np.float64) if vwap is not None else np.full(len(rows), nan)
    raw_v = a.volume_raw

    def col(x: np.ndarray) -> pa.Array:
        return pa.array(x, type=pa.float64(), from_pandas=True)

    arrays = [
        pa.array(names, pa.string()),
        pa.array(np.full(len(rows), day.toordinal() - dt.date(1970, 1, 1).toordinal(), np.int32), pa.int32()).cast(pa.date32()),
        col(a.open[rows]), col(a.high[rows]), col(a.low[rows]), col(a.close[rows]), col(raw_v[rows]),
        pa.array(a.transactions[rows], pa.int64()),
        col(vw), col(r1), col(r5), col(r20), col(l1), col(l5), col(l20), col(gap), col(intraday),
        col(tr_all[rows]), col(atr), col(rv), col(raw_dv[rows]), col(avg_v), col(avg_dv), col(rel),
        pa.array((rows - start + 1).astype(np.int32), pa.int32()),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
