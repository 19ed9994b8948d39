"""Listed option chains over the synthetic stocks, priced each session.

The optionable underlyings are the most liquid listed names (plus SPY-like scripted ones);
each has weekly expiries for five weeks, monthly (third-Friday) expiries for six months and
two January LEAPs, and strikes around the spot. Adjusted contracts after a split trade under
a root with a digit (``NVDA1``), as OCC does; BRK.B's root is ``BRKB``. About three quarters of
the contracts trade on a given day; the day aggregates list only those.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

ROOT_OVERRIDES = {"BRK.B": "BRKB", "BRK.A": "BRKA"}


def _third_friday(year: int, month: int) -> dt.date:
    d = dt.date(year, month, 15)
    return d + dt.timedelta(days=(4 - d.weekday()) % 7)


def expiries(day: dt.date) -> list[dt.date]:
    out = set()
    friday = day + dt.timedelta(days=(4 - day.weekday()) % 7)
    for w in range(5):
        out.add(friday + dt.timedelta(weeks=w))
    y, m = day.year, day.month
    for i in range(7):
        mm = (m - 1 + i) % 12 + 1
        yy = y + (m - 1 + i) // 12
        tf = _third_friday(yy, mm)
        if tf >= day:
            out.add(tf)
    out.add(_third_friday(y + 1, 1))
    out.add(_third_friday(y + 2, 1))
    return sorted(e for e in out if e >= day)


def strike_grid(spot: float) -> np.ndarray:
    step = 0.5 if spot < 25 else 1.0 if spot < 60 else 2.5 if spot < 150 else 5.0 if spot < 600 else 10.0
    lo = max(step, np.floor(spot * 0.75 / step) * step)
    hi = np.ceil(spot * 1.25 / step) * step
    grid = np.arange(lo, hi + step / 2, step)
    if grid.size > 40:  # keep chains a realistic size around the money
        centre = np.argmin(np.abs(grid - spot))
        grid = grid[max(0, centre - 20) : centre + 20]
    return grid


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26 via erf; accurate to ~1e-7, plenty for synthetic quotes.
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def black_scholes(spot, strike, years, vol, call: np.ndarray) -> np.ndarray:
    years = np.maximum(years, 1.0 / 365)
    sd = vol * np.sqrt(years)
    d1 = (np.log(spot / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    c = spot * _norm_cdf(d1) - strike * _norm_cdf(d2)
    p = c - spot + strike
    return np.where(call, c, p)


def contracts(underlyings: list[str], spots: np.ndarray, day: dt.date, adjusted: dict[str, str]) -> pd.DataFrame:
    """Every listed contract on ``day``: ticker, root, index of the underlying, expiry, type, strike."""
    rows_u, rows_root, rows_exp, rows_k = [], [], [], []
    exps = expiries(day)
    for i, (sym, spot) in enumerate(zip(underlyings, spots)):
        root = ROOT_OVERRIDES.get(sym, sym)
        grid = strike_grid(float(spot))
        for e in exps:
            rows_u.append(np.full(grid.size, i))
            rows_root.append(np.full(grid.size, root, dtype=object))
            rows_exp.append(np.full(grid.size, e.toordinal()))
            rows_k.append(grid)
        if sym in adjusted:  # an adjusted chain: a few expiries, fewer strikes
            g = grid[::4]
            for e in exps[5:8]:
                rows_u.append(np.full(g.size, i))
                rows_root.append(np.full(g.size, adjusted[sym], dtype=object))
                rows_exp.append(np.full(g.size, e.toordinal()))
                rows_k.append(g)
    u = np.concatenate(rows_u)
    root = np.concatenate(rows_root)
    exp = np.concatenate(rows_exp)
    k = np.concatenate(rows_k)
    n = u.size
    u, root, exp, k = (np.concatenate([x, x]) for x in (u, root, exp, k))
    call = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    exp_str = pd.Series([dt.date.fromordinal(int(o)).strftime("%y%m%d") for o in np.unique(exp)], index=np.unique(exp))
    strike_str = pd.Series(np.round(k * 1000).astype(np.int64)).map("{:08d}".format).to_numpy()
    ticker = "O:" + pd.Series(root).astype(str) + exp_str.loc[exp].to_numpy() + np.where(call, "C", "P") + strike_str
    return pd.DataFrame({"ticker": ticker.to_numpy(), "u": u, "expiry_ord": exp, "call": call, "strike": k})
