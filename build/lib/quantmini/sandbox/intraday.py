"""Minute bars that aggregate exactly to given day bars (stocks and options alike).

For each day bar (open O, high H, low L, close C, volume V, transactions T) the bar's
minutes are chosen, a Brownian bridge from O to C is drawn through them and clipped to
[L, H], one minute touches H and one touches L, and V and T are split across the minutes:
first open = O, last close = C, max high = H, min low = L, sum volume = V, sum trades = T.
Everything is vectorised over all bars of the day (millions of minutes).
"""

from __future__ import annotations

import numpy as np

SLOTS = 960  # 04:00-20:00 New York, one per minute
REGULAR = slice(330, 720)  # 09:30-16:00


def choose_minutes(rng: np.random.Generator, p_regular: np.ndarray, p_extended: np.ndarray, cap: np.ndarray):
    """Traded minutes as (bar, slot) sorted by bar then slot: at least one (the opening
    minute), at most ``cap`` per bar. Dense draw: for thousands of bars (stocks)."""
    n = p_regular.size
    prob = np.repeat(p_extended[:, None], SLOTS, axis=1).astype(np.float32)
    prob[:, REGULAR] = p_regular[:, None]
    mask = rng.random((n, SLOTS), dtype=np.float32) < prob
    mask[:, 330] = True
    mask &= np.cumsum(mask, axis=1) <= np.maximum(cap, 1)[:, None]
    return np.nonzero(mask)


def sample_regular_minutes(rng: np.random.Generator, counts: np.ndarray):
    """About ``counts`` distinct regular-session minutes per bar, as (bar, slot) sorted.
    Sparse draw: for millions of bars (options), where a dense matrix would not fit."""
    counts = np.maximum(counts, 1)
    bar = np.repeat(np.arange(counts.size), counts)
    slot = rng.integers(REGULAR.start, REGULAR.stop, bar.size)
    key = np.unique(bar.astype(np.int64) * SLOTS + slot)  # sorts and drops repeats
    return key // SLOTS, key % SLOTS


def _round_price(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 1, np.round(x, 2), np.round(x, 4))


def split_bars(rng: np.random.Generator, bar: np.ndarray, slot: np.ndarray, o, h, l, c, v, t, decimal_volume: bool):
    """Minute rows (bar index, slot, open, high, low, close, volume, transactions) for the
    traded minutes (bar, slot), sorted by bar then slot, every bar present."""
    counts = np.bincount(bar, minlength=o.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = np.arange(bar.size) - starts[bar] + 1  # 1..m within the bar
    m = counts[bar]
    # Brownian bridge through the bar's minutes, from O (k=0) to C (k=m).
    e = rng.standard_normal(bar.size)
    cs = np.cumsum(e)
    base = np.concatenate([[0.0], cs])[starts][bar]
    w = cs - base
    w_end = w[starts + counts - 1][bar]
    bridge = w - (k / m) * w_end
    scale = (h - l)[bar] * 0.35 / np.sqrt(np.maximum(m, 1))
    close = o[bar] + (c - o)[bar] * (k / m) + scale * bridge
    close = np.clip(_round_price(close), l[bar], h[bar])
    last = k == m
    close[last] = c[bar][last]
    open_ = np.empty_like(close)
    open_[1:] = close[:-1]
    first = k == 1
    open_[first] = o[bar][first]
    wiggle = np.abs(rng.standard_normal(bar.size)) * (h - l)[bar] * 0.05
    high = np.minimum(_round_price(np.maximum(open_, close) + wiggle), h[bar])
    low = np.maximum(_round_price(np.minimum(open_, close) - wiggle), l[bar])
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))
    # One minute of each bar reaches the day's high, one the day's low.
    pick_h = starts + (rng.random(counts.size) * counts).astype(np.int64)
    pick_l = starts + (rng.random(counts.size) * counts).astype(np.int64)
    high[pick_h] = h
    low[pick_l] = l
    # Volume and trades split so that they sum back exactly.
    weights = rng.exponential(1.0, bar.size)
    wsum = np.bincount(bar, weights, minlength=counts.size)
    share = weights / wsum[bar]
    # Every minute trades at least one share (callers cap minutes at min(V, T)).
    spare = np.maximum(v - counts, 0)
    if decimal_volume:
        vol = np.round(1 + spare[bar] * share, 6)
        diff = v - np.bincount(bar, vol, minlength=counts.size)
        vol[starts] = np.round(vol[starts] + diff, 6)
    else:
        vol = 1 + np.floor(spare[bar] * share)
        diff = v - np.bincount(bar, vol, minlength=counts.size)
        vol[starts] += diff
    extra = np.maximum(t - counts, 0)
    trades = 1 + np.floor(extra[bar] * share).astype(np.int64)
    tdiff = t - np.bincount(bar, trades, minlength=counts.size).astype(np.int64)
    trades[starts] += tdiff
    return bar, slot, open_, high, low, close, vol, trades
