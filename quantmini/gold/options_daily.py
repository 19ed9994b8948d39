"""gold/options_daily: each contract's day bar with expiry, moneyness, implied volatility
and greeks.

Columns (README, "Gold datasets"): the bronze bar and parsed contract (``underlying`` is the
OCC root as traded, e.g. ``TSLA1`` for an adjusted contract); ``underlying_ticker`` (the
stock the root maps to: the root itself, else the root without its trailing digits, else the
same with the class dot restored, ``BRKB`` -> ``BRK.B``); ``adjusted_contract`` (the root
carries a digit suffix: after a split or merger its deliverable is not 100 shares, so its
greeks are against the plain underlying and should be read with care);
``days_to_expiry`` (calendar) and ``trading_days_to_expiry`` (XNYS sessions after this one,
up to and including the expiry); ``underlying_close`` (the stock's raw close this session);
``moneyness`` S/K and ``log_moneyness``; ``dividend_yield`` (the underlying's regular cash
dividends with ex-date in the last 365 days over its close, as a continuous yield; 0 when it
paid none); ``risk_free_rate`` (config ``risk_free_rate``); ``iv`` (Black–Scholes, European,
from the close, time = calendar days / 365 to the expiry's close) and ``delta``, ``gamma``,
``vega`` (per 1.00 of volatility), ``theta`` (per calendar day) at that volatility;
``iv_status`` (``ok`` or why there is no volatility: see :mod:`.blackscholes`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import blackscholes as bs
from ..rest.datasets import REGULAR_DIVIDEND_TYPES

YIELD_DAYS = 365


def underlying_map(roots: list[str], stocks: set[str]) -> dict[str, tuple[str, bool]]:
    """OCC root -> (stock ticker, adjusted contract?). A root that matches no stock maps to
    itself with its digits stripped (and finds no close)."""
    undotted = {}
    for t in stocks:
        if "." in t:
            undotted.setdefault(t.replace(".", ""), t)
    out = {}
    for root in roots:
        base = root.rstrip("0123456789") or root
        adjusted = base != root
        for candidate in (root, base):
            if candidate in stocks:
                out[root] = (candidate, adjusted and candidate == base)
                break
            if candidate in undotted:
                out[root] = (undotted[candidate], adjusted and candidate == base)
                break
        else:
            out[root] = (base, adjusted)
    return out


def trailing_dividends(dividend_file: str | Path | None, day: dt.date) -> dict[str, float]:
    """Per ticker, the regular cash dividends with ex-date in (day − 365 days, day]."""
    if not dividend_file or not Path(dividend_file).exists():
        return {}
    from ..silver import read_clean

    t = read_clean(dividend_file, ["ticker", "event_date", "div_cash_amount", "div_type"])  # flagged rows skipped
    start = day - dt.timedelta(days=YIELD_DAYS)
    keep = pc.and_(pc.greater(t["event_date"], pa.scalar(start)), pc.less_equal(t["event_date"], pa.scalar(day)))
    types = pc.is_in(t["div_type"], pa.array([x for x in REGULAR_DIVIDEND_TYPES if x is not None], pa.string()))
    types = pc.or_kleene(types, pc.is_null(t["div_type"]))
    keep = pc.and_(keep, pc.fill_null(types, False))
    keep = pc.and_(keep, pc.greater(pc.fill_null(t["div_cash_amount"], 0.0), 0.0))
    t = t.filter(keep)
    if not t.num_rows:
        return {}
    g = t.group_by("ticker").aggregate([("div_cash_amount", "sum")])
    return dict(zip(g["ticker"].to_pylist(), g["div_cash_amount_sum"].to_pylist()))


def _session_ordinals() -> np.ndarray:
    from ..sessions import session_ordinals

    return np.asarray(session_ordinals(), dtype=np.int64)


# Columns worth a Parquet dictionary (few distinct values per day); prices and greeks are not.
DICTIONARY_COLUMNS = ["underlying", "expiration_date", "contract_type", "strike", "date", "volume", "transactions",
                      "underlying_ticker", "adjusted_contract", "days_to_expiry", "trading_days_to_expiry",
                      "underlying_close", "dividend_yield", "risk_free_rate", "iv_status"]
BRONZE_COLUMNS = ["ticker", "underlying", "expiration_date", "contract_type", "strike", "date", "open", "high", "low",
                  "close", "volume", "transactions"]


CHUNK_ROWS = 128 * 1024  # one Parquet row group: chunks are computed while the previous is written


def enrich_chunks(options: pa.Table, stock_close: dict[str, float], day: dt.date, dividends: dict[str, float],
                  risk_free_rate: float, stats: dict, sessions: np.ndarray | None = None):
    """The gold table of one day of bronze option bars, as a sequence of row-group-sized
    tables (contracts are independent of each other); ``stats`` accumulates the counts."""
    sessions = _session_ordinals() if sessions is None else sessions
    # One day-wide mapping and one dictionary of underlying tickers for every chunk: the
    # Parquet writer then keeps one dictionary for the column (a dictionary that changed from
    # one chunk to the next made it fall back to plain pages, and wrote the file's bytes in
    # an order that differed from run to run).
    roots = [r for r in options.column("underlying").unique().to_pylist() if r is not None] if options.num_rows else []
    mapping: dict[str, tuple[str, bool]] = underlying_map(sorted(roots), set(stock_close)) if roots else {}
    names = sorted({m[0] for m in mapping.values()})
    stocks, position = pa.array(names, pa.string()), {t: i for i, t in enumerate(names)}
    stats.update(null_iv=0, null_underlying_close=0, adjusted_contracts=0, iv_status={})
    for offset in range(0, max(options.num_rows, 1), CHUNK_ROWS):
        table, st = _enrich(options.slice(offset, CHUNK_ROWS), stock_close, day, dividends, risk_free_rate, sessions,
                            mapping, stocks, position)
        for key in ("null_iv", "null_underlying_close", "adjusted_contracts"):
            stats[key] += st[key]
        for name, c in st["iv_status"].items():
            stats["iv_status"][name] = stats["iv_status"].get(name, 0) + c
        yield table


def enrich(options: pa.Table, stock_close: dict[str, float], day: dt.date, dividends: dict[str, float],
           risk_free_rate: float) -> tuple[pa.Table, dict]:
    """The whole gold table of one day (tests, notebooks); the job streams
    :func:`enrich_chunks` to disk instead."""
    stats: dict = {}
    tables = list(enrich_chunks(options, stock_close, day, dividends, risk_free_rate, stats))
    return pa.concat_tables(tables), stats


def _enrich(options: pa.Table, stock_close: dict[str, float], day: dt.date, dividends: dict[str, float],
            risk_free_rate: float, sessions: np.ndarray, mapping: dict, stocks: pa.Array,
            position: dict[str, int]) -> tuple[pa.Table, dict]:
    n = options.num_rows
    epoch = dt.date(1970, 1, 1).toordinal()
    und = options.column("underlying").combine_chunks()
    enc = und.dictionary_encode()
    roots = enc.dictionary.to_pylist()
    valid_root = np.asarray(enc.indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    root_codes = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False)

    def per_root(values: list, dtype) -> np.ndarray:
        return np.asarray(values, dtype=dtype)[root_codes] if roots else np.zeros(n, dtype)

    stock_of = [mapping[r][0] if r is not None else None for r in roots]
    adjusted_of = [mapping[r][1] if r is not None else False for r in roots]
    s_of = [stock_close.get(t, np.nan) if t else np.nan for t in stock_of]
    d_of = [dividends.get(t, 0.0) if t else 0.0 for t in stock_of]
    s = np.where(valid_root, per_root(s_of, np.float64), np.nan)
    div12 = np.where(valid_root, per_root(d_of, np.float64), 0.0)
    adjusted = valid_root & per_root(adjusted_of, bool)

    k = options.column("strike").to_numpy(zero_copy_only=False).astype(np.float64)
    exp_col = options.column("expiration_date").combine_chunks()
    parsed = np.asarray(exp_col.is_valid().to_numpy(zero_copy_only=False), dtype=bool) & valid_root
    exp_ord = np.where(parsed, pc.fill_null(exp_col.cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64) + epoch, 0)
    call = np.asarray(pc.fill_null(pc.equal(options.column("contract_type"), "call"), False).to_numpy(zero_copy_only=False), dtype=bool)
    close = options.column("close").to_numpy(zero_copy_only=False).astype(np.float64)

    days = np.where(parsed, exp_ord - day.toordinal(), 0)
    trading_days = np.searchsorted(sessions, exp_ord, side="right") - np.searchsorted(sessions, day.toordinal(), side="right")
    trading_days = np.where(days > 0, trading_days, np.where(days == 0, 0, -1))  # negative: expired (null below)

    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, np.log1p(div12 / s), 0.0)
    r = np.full(n, float(risk_free_rate))
    sol = bs.solve_day(close, s, k, days.astype(np.float64), r, q, call, parsed)
    status, iv = sol.status, sol.iv

    def col(x: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        return pa.array(x, type=pa.float64(), from_pandas=True) if mask is None else pa.array(x, pa.float64(), mask=mask)

    with np.errstate(divide="ignore", invalid="ignore"):
        moneyness = s / k
        log_m = np.log(moneyness)
    has_s = s > 0
    stock_codes = per_root([position[t] if t is not None else 0 for t in stock_of], np.int32)
    out = options.select(["ticker", "underlying", "expiration_date", "contract_type", "strike", "date", "open", "high",
                          "low", "close", "volume", "transactions"])
    extra = {
        "underlying_ticker": pa.DictionaryArray.from_arrays(pa.array(stock_codes, pa.int32(), mask=~valid_root), stocks),
        "adjusted_contract": pa.array(adjusted, pa.bool_()),
        "days_to_expiry": pa.array(days.astype(np.int32), pa.int32(), mask=~parsed),
        "trading_days_to_expiry": pa.array(trading_days.astype(np.int32), pa.int32(), mask=~parsed | (days < 0)),
        "underlying_close": col(s),
        "moneyness": col(moneyness, ~(has_s & parsed)),
        "log_moneyness": col(log_m, ~(has_s & parsed)),
        "dividend_yield": col(q, ~has_s),
        "risk_free_rate": col(r),
        "iv": col(iv),
        **{name: col(getattr(sol.greeks, name)) for name in ("delta", "gamma", "vega", "theta")},
        "iv_status": pa.DictionaryArray.from_arrays(pa.array(status, pa.int8()), pa.array(bs.STATUSES)),
    }
    for name, arr in extra.items():
        out = out.append_column(name, arr)
    counts = np.bincount(status.astype(np.int64), minlength=len(bs.STATUSES))
    stats = {
        "null_iv": int(out.column("iv").null_count),
        "null_underlying_close": int(out.column("underlying_close").null_count),
        "adjusted_contracts": int(adjusted.sum()),
        "iv_status": {name: int(c) for name, c in zip(bs.STATUSES, counts) if c},
    }
    return out, stats
