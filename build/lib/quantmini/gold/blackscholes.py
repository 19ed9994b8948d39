"""Black–Scholes(–Merton) prices, greeks and implied volatility, vectorised over arrays.

European exercise, continuous dividend yield ``q`` and risk-free rate ``r`` (both annual,
continuously compounded), time ``t`` in years. Listed US equity options are American; for
calls on non-dividend payers the two coincide, elsewhere the European IV is the usual
research convention (and what the vendor's own snapshot greeks are quoted against).

The implied-volatility solver is a bracketed Newton iteration: each step is Newton's unless it
would leave the bracket that the price's monotonicity in sigma keeps, in which case it
bisects. It runs a fixed maximum of iterations on the still-unconverged contracts only, so a
day of a million contracts costs a few passes over the hard ones and can never loop forever;
what does not converge is reported, not guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

SIGMA_MIN = 1e-4  # 0.01 % a year: below it a price cannot be told from intrinsic value
SIGMA_MAX = 10.0  # 1000 % a year: above it a quote is noise, not volatility
MAX_ITERATIONS = 100
SIGMA_TOL = 1e-10
NEWTON_DONE = 1e-6
CHUNK = 1 << 17  # contracts per task: numpy and scipy ufuncs release the GIL, so chunks run on all cores
_SQRT_2PI = np.sqrt(2.0 * np.pi)

# iv_status values (the gold options_daily column), in the order they are checked.
OK = "ok"
UNPARSED = "unparsed_contract"  # the contract ticker has no strike/expiry/type
NO_CLOSE = "no_close"  # no positive option close that session
NO_UNDERLYING = "no_underlying"  # no underlying close that session
EXPIRED = "expired"  # expiration before the session
ZERO_TIME = "zero_time"  # expires this session: no time value left to invert
BELOW_INTRINSIC = "below_intrinsic"  # price at or below the no-arbitrage lower bound
ABOVE_BOUND = "above_bound"  # price at or above the upper bound (S e^-qt call, K e^-rt put)
OUT_OF_RANGE = "out_of_range"  # the volatility that fits is below SIGMA_MIN or above SIGMA_MAX
NO_CONVERGENCE = "no_convergence"  # MAX_ITERATIONS passed without meeting SIGMA_TOL
STATUSES = (OK, UNPARSED, NO_CLOSE, NO_UNDERLYING, EXPIRED, ZERO_TIME, BELOW_INTRINSIC, ABOVE_BOUND,
            OUT_OF_RANGE, NO_CONVERGENCE)
CODE = {name: np.int8(i) for i, name in enumerate(STATUSES)}  # statuses travel as int8 codes


def _pdf(x):
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _d1(s, k, t, r, q, sigma):
    sd = sigma * np.sqrt(t)
    return (np.log(s / k) + (r - q) * t + 0.5 * sd * sd) / sd, sd


def price(s, k, t, r, q, sigma, call):
    """Option value; ``call`` is a boolean array (False: put)."""
    d1, sd = _d1(s, k, t, r, q, sigma)
    d2 = d1 - sd
    fs = s * np.exp(-q * t)
    dk = k * np.exp(-r * t)
    return np.where(call, fs * ndtr(d1) - dk * ndtr(d2), dk * ndtr(-d2) - fs * ndtr(-d1))


def bounds(s, k, t, r, q, call):
    """No-arbitrage (lower, upper) bounds of a European option's value."""
    return _forward_bounds(s * np.exp(-q * t), k * np.exp(-r * t), call)


def _forward_bounds(fs, dk, call):
    """The bounds from the dividend-discounted spot ``fs`` and the discounted strike ``dk``."""
    lower = np.where(call, np.maximum(fs - dk, 0.0), np.maximum(dk - fs, 0.0))
    upper = np.where(call, fs, dk)
    return lower, upper


def _forward_price(fs, dk, lf, sd, call):
    """(value, d1) from ``fs``, ``dk``, ln(fs / dk) and sigma * sqrt(t): two normal CDFs,
    the put by parity. The solver's inner step."""
    d1 = lf / sd + 0.5 * sd
    c = fs * ndtr(d1) - dk * ndtr(d1 - sd)
    return np.where(call, c, c - fs + dk), d1


@dataclass(frozen=True)
class Greeks:
    """Sensitivities at a volatility: delta and gamma per $1 of the underlying, vega per 1.00
    of volatility (divide by 100 for a vol point), theta per calendar day (annual / 365)."""

    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray


def greeks(s, k, t, r, q, sigma, call) -> Greeks:
    d1, sd = _d1(s, k, t, r, q, sigma)
    d2 = d1 - sd
    eq = np.exp(-q * t)
    er = np.exp(-r * t)
    n1 = _pdf(d1)
    delta = np.where(call, eq * ndtr(d1), -eq * ndtr(-d1))
    gamma = eq * n1 / (s * sd)
    vega = s * eq * n1 * np.sqrt(t)
    decay = -s * eq * n1 * sigma / (2.0 * np.sqrt(t))
    theta_call = decay - r * k * er * ndtr(d2) + q * s * eq * ndtr(d1)
    theta_put = decay + r * k * er * ndtr(-d2) - q * s * eq * ndtr(-d1)
    theta = np.where(call, theta_call, theta_put) / 365.0
    return Greeks(delta, gamma, vega, theta)


def _initial_guess(target, fs, dk, sqt, call):
    """Corrado–Miller's closed-form approximation (a start only: the bracketed iteration
    converges from any start, a good one saves passes over a million contracts)."""
    c = np.where(call, target, target + fs - dk)  # the call of the same strike, by parity
    half = c - 0.5 * (fs - dk)
    root = np.sqrt(np.maximum(half * half - (fs - dk) ** 2 / np.pi, 0.0))
    guess = _SQRT_2PI / (fs + dk) * (half + root) / sqt
    guess = np.where(np.isfinite(guess) & (guess > 0), guess, 0.3)
    return np.clip(guess, 0.01, 5.0)


def implied_vol(target, s, k, t, r, q, call):
    """Implied volatility for each option price; returns (sigma, status codes, see
    ``STATUSES``). ``sigma`` is NaN wherever the status is not ``ok``. Inputs must already
    have passed :func:`classify`'s checks (positive ``t``, price strictly inside the bounds)."""
    return _solve(np.asarray(target, np.float64), s * np.exp(-q * t), k * np.exp(-r * t), np.sqrt(t), call)


def _solve(target, fs_all, dk_all, sqt_all, call):
    """The bracketed Newton iteration on forward-discounted spot ``fs``, discounted strike
    ``dk`` and sqrt(t): each pass costs two normal CDFs and one exp per unsolved contract."""
    n = len(target)
    sigma = _initial_guess(target, fs_all, dk_all, sqt_all, call)
    lo = np.full(n, SIGMA_MIN)
    hi = np.full(n, SIGMA_MAX)
    status = np.zeros(n, dtype=np.int8)
    lf_all = np.log(fs_all / dk_all)
    active = np.arange(n)
    for _ in range(MAX_ITERATIONS):
        if active.size == 0:
            break
        fs, dk, lf, sqt = fs_all[active], dk_all[active], lf_all[active], sqt_all[active]
        sg = sigma[active]
        p, d1 = _forward_price(fs, dk, lf, sg * sqt, call[active])
        vega = fs * _pdf(d1) * sqt
        f = p - target[active]
        # the price increases with sigma: above the target, sigma is an upper end
        above = f > 0
        la = np.where(above, lo[active], sg)
        ha = np.where(above, sg, hi[active])
        lo[active], hi[active] = la, ha
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = sg - f / vega
        # Newton converges quadratically: a step below NEWTON_DONE leaves an error far below
        # SIGMA_TOL, so the step is taken and the contract is done without one more pass.
        small = np.abs(newton - sg) < NEWTON_DONE
        inside = np.isfinite(newton) & (newton > la) & (newton < ha)
        nxt = np.where(small, np.clip(newton, la, ha), np.where(inside, newton, 0.5 * (la + ha)))
        sigma[active] = nxt
        done = small | (f == 0) | ((ha - la) < SIGMA_TOL)
        active = active[~done]
    status[active] = CODE[NO_CONVERGENCE]
    # A sigma pinned at an end of [SIGMA_MIN, SIGMA_MAX] fits only if its price matches.
    edge = (status == 0) & ((sigma <= SIGMA_MIN * (1 + 1e-6)) | (sigma >= SIGMA_MAX * (1 - 1e-6)))
    if edge.any():
        e = np.flatnonzero(edge)
        fit, _ = _forward_price(fs_all[e], dk_all[e], lf_all[e], sigma[e] * sqt_all[e], call[e])
        miss = np.abs(fit - target[e]) > 1e-9 * np.maximum(1.0, target[e])
        status[e[miss]] = CODE[OUT_OF_RANGE]
    sigma = np.where(status == 0, sigma, np.nan)
    return sigma, status


@dataclass(frozen=True)
class Solution:
    """A day's contracts solved: implied volatility, status codes and greeks (NaN where the
    status is not ``ok``)."""

    iv: np.ndarray
    status: np.ndarray
    greeks: Greeks


def solve_day(close, s, k, t_days, r, q, call, parsed) -> Solution:
    """Classify every contract, solve the ones that may have a volatility, and take the
    greeks at it; the discount factors are computed once for all three steps."""
    n = len(close)
    t = np.maximum(t_days, 0) / 365.0
    fs = s * np.exp(-q * t)
    dk = k * np.exp(-r * t)
    status = classify(close, s, k, t_days, r, q, call, parsed, fs=fs, dk=dk)
    iv = np.full(n, np.nan)
    out = {name: np.full(n, np.nan) for name in ("delta", "gamma", "vega", "theta")}
    solve = np.flatnonzero(status == 0)

    def task(idx: np.ndarray) -> None:
        sigma, st = _solve(close[idx], fs[idx], dk[idx], np.sqrt(t[idx]), call[idx])
        status[idx] = st
        iv[idx] = sigma
        ok = idx[st == 0]
        g = greeks(s[ok], k[ok], t[ok], r[ok], q[ok], iv[ok], call[ok])
        for name in out:
            out[name][ok] = getattr(g, name)

    chunks = [solve[i : i + CHUNK] for i in range(0, solve.size, CHUNK)]
    if len(chunks) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 1)) as pool:
            list(pool.map(task, chunks))
    elif chunks:
        task(chunks[0])
    return Solution(iv, status, Greeks(**out))


def classify(close, s, k, t_days, r, q, call, parsed, fs=None, dk=None):
    """The first reason each contract has no implied volatility (code 0, ``ok``, where it
    may have one), from the quote, the underlying and the time to expiry, before solving."""
    n = len(close)
    status = np.zeros(n, dtype=np.int8)
    t = np.maximum(t_days, 0) / 365.0
    fs = s * np.exp(-q * t) if fs is None else fs
    dk = k * np.exp(-r * t) if dk is None else dk
    with np.errstate(invalid="ignore"):
        lower, upper = _forward_bounds(fs, dk, call)
    checks = [
        (UNPARSED, ~parsed),
        (NO_CLOSE, ~(close > 0)),
        (NO_UNDERLYING, ~(s > 0)),
        (EXPIRED, t_days < 0),
        (ZERO_TIME, t_days == 0),
        (BELOW_INTRINSIC, close <= lower),
        (ABOVE_BOUND, close >= upper),
    ]
    for name, mask in checks:
        status[(status == 0) & np.asarray(mask, dtype=bool)] = CODE[name]
    return status
