"""A deterministic synthetic US equity market, generated one session at a time.

Any session's bars are a pure function of (seed, universe size, date): the price path is a
smooth seeded curve plus per-day noise drawn from ``default_rng([seed, date])``, so the
sandbox can serve any date without generating history first, and two processes agree.

Realism the pipeline must cope with:
- about ``n_tickers`` symbols active on any day, drawn from a larger universe in which some
  list and delist over time (plus scripted ones that do so inside well-known windows);
- symbols such as ``BRK.B``, ``ALLpB`` (a preferred) and ``PRN`` (a Windows-reserved name);
- forward and reverse splits, visible as jumps in the raw (unadjusted) prices;
- quarterly cash dividends (events for the REST half);
- illiquid symbols that skip sessions;
- the vendor's number formats: integer volumes, and six-decimal volumes from 2026-02-23.
"""

from __future__ import annotations

import datetime as dt
import gzip
import string
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from ..sessions import NEW_YORK, is_session, previous_session, sessions_between

EPOCH_START = dt.date(2000, 1, 3)
EPOCH_END = dt.date(2030, 12, 31)
ANCHOR = dt.date(2015, 1, 2)
DECIMAL_VOLUME_SINCE = dt.date(2026, 2, 23)
CSV_HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
_PERIODS = np.array([63.0, 252.0, 1260.0])


@dataclass(frozen=True)
class Scripted:
    """A hand-written symbol with known events, so tests can find them in any window."""

    symbol: str
    anchor_date: dt.date
    anchor_price: float  # split-adjusted to today's share units
    splits: tuple[tuple[dt.date, float], ...] = ()  # (execution date, to/from ratio; <1 reverse)
    list_date: dt.date = EPOCH_START
    delist_date: dt.date = EPOCH_END  # last session it trades
    dividend_yield: float = 0.0  # per quarter
    avg_volume: float = 5e6
    former: tuple[tuple[str, dt.date], ...] = ()  # (old symbol, first session under the new one)
    kind: str = "CS"  # reference ticker type
    special_dividends: tuple[tuple[dt.date, float], ...] = ()  # (ex-date, cash): the price drops by it


SCRIPTED: tuple[Scripted, ...] = (
    Scripted("NVDA", dt.date(2024, 6, 14), 131.88, ((dt.date(2021, 7, 20), 4.0), (dt.date(2024, 6, 10), 10.0)), dividend_yield=0.0001, avg_volume=3e8),
    Scripted("AAPL", dt.date(2024, 6, 14), 212.49, ((dt.date(2014, 6, 9), 7.0), (dt.date(2020, 8, 31), 4.0)), dividend_yield=0.0012, avg_volume=6e7),
    Scripted("TSLA", dt.date(2024, 6, 14), 178.01, ((dt.date(2020, 8, 31), 5.0), (dt.date(2022, 8, 25), 3.0)), avg_volume=9e7),
    Scripted("GOOGL", dt.date(2024, 6, 14), 178.37, ((dt.date(2022, 7, 18), 20.0),), dividend_yield=0.0011, avg_volume=3e7),
    Scripted("AMZN", dt.date(2024, 6, 14), 183.66, ((dt.date(2022, 6, 6), 20.0),), avg_volume=4e7),
    Scripted("GE", dt.date(2024, 6, 14), 160.0, ((dt.date(2021, 8, 2), 0.125),), dividend_yield=0.002, avg_volume=5e6),
    Scripted("SPY", dt.date(2024, 6, 14), 542.78, (), dividend_yield=0.003, avg_volume=4e7, kind="ETF"),
    Scripted("MSFT", dt.date(2024, 6, 14), 442.57, (), dividend_yield=0.0017, avg_volume=2e7),
    Scripted("BRK.A", dt.date(2024, 6, 14), 610000.0, (), avg_volume=5e3),
    Scripted("BRK.B", dt.date(2024, 6, 14), 405.0, (), avg_volume=3e6),
    Scripted("ALLpB", dt.date(2024, 6, 14), 25.3, (), dividend_yield=0.014, avg_volume=4e4, kind="PFD"),
    Scripted("PRN", dt.date(2024, 6, 14), 140.0, (), avg_volume=2e4),
    # Events inside the reference window 2024-06-07 .. 2024-06-20 (Juneteenth 06-19 closed):
    Scripted("QMRS", dt.date(2024, 6, 14), 12.0, ((dt.date(2024, 6, 17), 0.1),), avg_volume=2e5),  # 1-for-10 reverse
    Scripted("QMFS", dt.date(2024, 6, 14), 30.0, ((dt.date(2024, 6, 12), 3.0),), dividend_yield=0.004, avg_volume=8e5,
             special_dividends=((dt.date(2024, 6, 24), 2.5),)),  # and a special cash dividend
    Scripted("QMIPO", dt.date(2024, 6, 14), 21.0, (), list_date=dt.date(2024, 6, 12), avg_volume=1e6),
    Scripted("QMDL", dt.date(2024, 6, 14), 4.0, (), delist_date=dt.date(2024, 6, 14), avg_volume=1e5),
    # A ticker change: trades as QMOLD through 2024-06-18, as QMNEW from 2024-06-20.
    Scripted("QMNEW", dt.date(2024, 6, 14), 50.0, (), former=(("QMOLD", dt.date(2024, 6, 20)),), avg_volume=3e5),
)
# Scripted names the random universe was sized against; later additions do not shift the
# random draws (so every earlier synthetic value stays the same).
_N_SCRIPTED_BASE = 16


def _ord(d: dt.date) -> int:
    return d.toordinal()


@lru_cache(maxsize=1)
def _session_ords() -> np.ndarray:
    """XNYS sessions over the market's epoch; weekdays past the calendar's last known session."""
    from ..sessions import calendar_bounds

    last = min(EPOCH_END, calendar_bounds()[1])
    known = [d.toordinal() for d in sessions_between(EPOCH_START, last)]
    later = pd.bdate_range(last + dt.timedelta(days=1), EPOCH_END)
    return np.array(known + [d.toordinal() for d in later.date], dtype=np.int64)


def window_start_ns(day: dt.date) -> int:
    """00:00 America/New_York of ``day`` in UTC nanoseconds, as the vendor stamps day bars."""
    return pd.Timestamp(day.isoformat(), tz=NEW_YORK).value


def format_number(values: np.ndarray) -> list[str]:
    """Shortest round-trip decimal without a trailing ``.0``, as the vendor prints."""
    out = []
    for v in values.tolist():
        s = repr(v)
        out.append(s[:-2] if s.endswith(".0") else s)
    return out


@dataclass
class Universe:
    symbols: np.ndarray  # str
    list_ord: np.ndarray
    delist_ord: np.ndarray
    anchor_ord: np.ndarray
    anchor_price: np.ndarray
    drift: np.ndarray  # per year, log
    sigma: np.ndarray  # per day, log
    amp: np.ndarray  # (n, 3)
    phase: np.ndarray  # (n, 3)
    liquidity: np.ndarray  # probability of trading on a listed day
    avg_volume: np.ndarray
    trade_size: np.ndarray
    dividend_yield: np.ndarray
    split_sym: np.ndarray  # int index into symbols
    split_ord: np.ndarray
    split_ratio: np.ndarray
    index: dict[str, int] = field(default_factory=dict)
    renames: list = field(default_factory=list)  # (index, old symbol, first ordinal of the new one)
    kind: np.ndarray | None = None


class Market:
    def __init__(self, n_tickers: int = 12000, seed: int = 42, real_rows: dict[str, dict[str, str]] | None = None,
                 option_underlyings: int | None = None):
        if n_tickers < len(SCRIPTED) + 10:
            raise ValueError(f"n_tickers must be at least {len(SCRIPTED) + 10}, got {n_tickers}")
        self.n_tickers = n_tickers
        self.seed = seed
        self.real_rows = real_rows or {}
        self.option_underlyings = option_underlyings if option_underlyings is not None else max(5, n_tickers // 5)

    # -- universe ----------------------------------------------------------------------------
    @cached_property
    def universe(self) -> Universe:
        rng = np.random.default_rng([self.seed, 0])
        n_script = len(SCRIPTED)
        n_core = int(self.n_tickers * 0.85) - _N_SCRIPTED_BASE
        # Churned names: lifetimes of 1-10 years, enough of them that ~15% of the active
        # set is mid-life on any day (so names list and delist every few sessions).
        span_days = _ord(EPOCH_END) - _ord(EPOCH_START)
        n_churn = int(round(self.n_tickers * 0.15 * span_days / (5.5 * 365)))
        n_random = n_core + n_churn
        symbols = self._random_symbols(rng, n_random)

        life = rng.uniform(365, 3650, n_churn)
        churn_list = rng.uniform(_ord(EPOCH_START) - 3650, _ord(EPOCH_END), n_churn)
        list_ord = np.concatenate([np.full(n_core, _ord(EPOCH_START)), np.maximum(churn_list, _ord(EPOCH_START))]).astype(np.int64)
        delist_ord = np.concatenate([np.full(n_core, _ord(EPOCH_END)), np.minimum(churn_list + life, _ord(EPOCH_END))]).astype(np.int64)

        anchor_price = np.exp(rng.normal(np.log(30), 1.1, n_random)).clip(0.5, 3000)
        drift = rng.normal(0.06, 0.12, n_random)
        sigma = rng.uniform(0.008, 0.045, n_random)
        amp = rng.uniform(0.0, 0.25, (n_random, 3)) * np.array([0.3, 0.6, 1.0])
        phase = rng.uniform(0, 2 * np.pi, (n_random, 3))
        liquidity = np.where(rng.random(n_random) < 0.12, rng.uniform(0.5, 0.95, n_random), 1.0)
        avg_volume = np.exp(rng.normal(np.log(2e5), 1.6, n_random)).clip(100, 5e8)
        trade_size = rng.uniform(40, 400, n_random)
        dividend_yield = np.where(rng.random(n_random) < 0.35, rng.uniform(0.002, 0.015, n_random), 0.0)

        # Random splits: ~25% of names have one, a few have two; a fifth are reverse splits.
        has = rng.random(n_random) < 0.25
        split_sym = np.flatnonzero(has)
        split_ord = rng.integers(_ord(EPOCH_START) + 30, _ord(EPOCH_END), split_sym.size)
        forward = rng.choice([2.0, 3.0, 4.0, 5.0, 10.0, 1.5], split_sym.size)
        reverse = rng.choice([0.1, 0.2, 0.05, 0.125], split_sym.size)
        split_ratio = np.where(rng.random(split_sym.size) < 0.2, reverse, forward)

        # Scripted symbols go first, so their indices are stable across universe sizes.
        s_sym = np.array([s.symbol for s in SCRIPTED], dtype=object)
        all_symbols = np.concatenate([s_sym, symbols])
        sc = SCRIPTED
        u = Universe(
            symbols=all_symbols,
            list_ord=np.concatenate([[_ord(s.list_date) for s in sc], list_ord]),
            delist_ord=np.concatenate([[_ord(s.delist_date) for s in sc], delist_ord]),
            anchor_ord=np.concatenate([[_ord(s.anchor_date) for s in sc], np.full(n_random, _ord(ANCHOR))]),
            anchor_price=np.concatenate([[s.anchor_price for s in sc], anchor_price]),
            drift=np.concatenate([np.full(n_script, 0.15), drift]),
            sigma=np.concatenate([np.full(n_script, 0.018), sigma]),
            amp=np.concatenate([np.full((n_script, 3), 0.05), amp]),
            phase=np.concatenate([np.zeros((n_script, 3)), phase]),
            liquidity=np.concatenate([np.ones(n_script), liquidity]),
            avg_volume=np.concatenate([[s.avg_volume for s in sc], avg_volume]),
            trade_size=np.concatenate([np.full(n_script, 120.0), trade_size]),
            dividend_yield=np.concatenate([[s.dividend_yield for s in sc], dividend_yield]),
            split_sym=np.concatenate([np.array([i for i, s in enumerate(sc) for _ in s.splits], dtype=np.int64), split_sym + n_script]),
            split_ord=np.concatenate([np.array([_ord(d) for s in sc for d, _ in s.splits], dtype=np.int64), split_ord]),
            split_ratio=np.concatenate([np.array([r for s in sc for _, r in s.splits], dtype=float), split_ratio]),
        )
        # Listings start on a session (a name's first bar is its listing day).
        sessions = _session_ords()
        late = u.list_ord > _ord(EPOCH_START)
        u.list_ord[late] = sessions[np.minimum(np.searchsorted(sessions, u.list_ord[late]), sessions.size - 1)]
        u.index = {s: i for i, s in enumerate(all_symbols)}
        u.renames = [(i, old, _ord(first)) for i, s in enumerate(sc) for old, first in s.former]
        u.index.update({old: i for i, old, _ in u.renames})
        kinds = np.where(np.arange(n_random) % 10 == 7, "ETF", "CS").astype(object)
        u.kind = np.concatenate([np.array([s.kind for s in sc], dtype=object), kinds])
        return u

    def symbols_on(self, day_ord: int) -> np.ndarray:
        """Every index's ticker on a day: renamed names carry their old symbol before the change."""
        u = self.universe
        if not u.renames:
            return u.symbols
        out = u.symbols.copy()
        for i, old, first in u.renames:
            if day_ord < first:
                out[i] = old
        return out

    def _random_symbols(self, rng: np.random.Generator, n: int) -> np.ndarray:
        reserved = {s.symbol for s in SCRIPTED}
        taken_lower = {s.lower() for s in reserved} | {"prn", "con", "aux", "nul"}
        letters = np.array(list(string.ascii_uppercase))
        out: list[str] = []
        while len(out) < n:
            lengths = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.01, 0.06, 0.33, 0.45, 0.15])
            draws = rng.integers(0, 26, size=(n, 5))
            for length, row in zip(lengths, draws):
                sym = "".join(letters[row[:length]])
                if sym.lower() in taken_lower or sym.startswith("QM"):
                    continue
                taken_lower.add(sym.lower())
                out.append(sym)
                if len(out) == n:
                    break
        return np.array(out, dtype=object)

    # -- prices ------------------------------------------------------------------------------
    def _adjusted_level(self, day_ord: int) -> np.ndarray:
        u = self.universe
        t = float(day_ord)

        def wave(x):
            return (u.amp * np.sin(2 * np.pi * x[:, None] / _PERIODS + u.phase)).sum(axis=1)

        years = (t - u.anchor_ord) / 365.25
        return u.anchor_price * np.exp(u.drift * years + wave(np.full(u.symbols.size, t)) - wave(u.anchor_ord.astype(float)))

    def split_factor(self, day_ord: int) -> np.ndarray:
        """Multiplier from adjusted to raw price: product of ratios of splits after ``day``."""
        u = self.universe
        f = np.ones(u.symbols.size)
        later = u.split_ord > day_ord
        np.multiply.at(f, u.split_sym[later], u.split_ratio[later])
        return f

    def special_dividend_premium(self, day_ord: int) -> np.ndarray:
        """Cash of the special dividends still ahead of ``day``, in today's share units: the raw
        price carries it until the ex-date, when it drops by the amount (as a real price does)."""
        out = np.zeros(self.universe.symbols.size)
        for i, s in enumerate(SCRIPTED):
            for ex, cash in s.special_dividends:
                if _ord(ex) > day_ord:
                    out[i] += cash / self.split_factor(_ord(ex))[i]
        return out

    def listed(self, day_ord: int) -> np.ndarray:
        u = self.universe
        return (u.list_ord <= day_ord) & (u.delist_ord >= day_ord)

    def day_bars(self, day: dt.date) -> pd.DataFrame:
        """Raw (unadjusted) day bars of every symbol trading on ``day``, sorted by ticker."""
        if not is_session(day):
            raise ValueError(f"{day} is not an XNYS session")
        u = self.universe
        o = _ord(day)
        rng = np.random.default_rng([self.seed, 1, o])
        n = u.symbols.size
        e = rng.standard_normal((6, n))
        trades = (rng.random(n) < u.liquidity) | (u.list_ord == o)
        mask = self.listed(o) & trades
        level = self._adjusted_level(o)
        close = level * np.exp(u.sigma * e[0])
        open_ = level * np.exp(u.sigma * 0.6 * e[1])
        high = np.maximum(open_, close) * np.exp(u.sigma * 0.5 * np.abs(e[2]))
        low = np.minimum(open_, close) * np.exp(-u.sigma * 0.5 * np.abs(e[3]))
        factor = self.split_factor(o)
        paid = self.special_dividend_premium(o)
        raw = [np.where((x + paid) * factor >= 1, np.round((x + paid) * factor, 2), np.round((x + paid) * factor, 4))
               for x in (open_, high, low, close)]
        open_r, high_r, low_r, close_r = raw
        high_r = np.maximum.reduce([high_r, open_r, close_r])
        low_r = np.minimum.reduce([low_r, open_r, close_r])
        volume = np.maximum(1.0, np.round(u.avg_volume * np.exp(0.45 * e[4]) / factor))
        if day >= DECIMAL_VOLUME_SINCE:
            volume = volume + np.where(rng.random(n) < 0.3, np.round(rng.random(n), 6), 0.0)
        transactions = np.maximum(1, np.round(volume / (u.trade_size * np.exp(0.2 * e[5])))).astype(np.int64)
        idx = np.flatnonzero(mask)
        df = pd.DataFrame(
            {
                "ticker": self.symbols_on(o)[idx],
                "volume": volume[idx],
                "open": open_r[idx],
                "close": close_r[idx],
                "high": high_r[idx],
                "low": low_r[idx],
                "window_start": np.full(idx.size, window_start_ns(day), dtype=np.int64),
                "transactions": transactions[idx],
            }
        )
        return df.sort_values("ticker", kind="stable").reset_index(drop=True)

    def stocks_daily_csv(self, day: dt.date) -> bytes:
        """The day's ``us_stocks_sip/day_aggs_v1`` file, uncompressed, in the vendor's format.

        Real rows from the fixtures replace the synthetic row of the same ticker and date.
        """
        df = self.day_bars(day)
        decimal = day >= DECIMAL_VOLUME_SINCE
        vol = [f"{v:.6f}" for v in df["volume"].tolist()] if decimal else [str(int(v)) for v in df["volume"].tolist()]
        cols = [df["ticker"].tolist(), vol] + [format_number(df[c].to_numpy()) for c in ("open", "close", "high", "low")]
        cols += [[str(v) for v in df["window_start"].tolist()], [str(v) for v in df["transactions"].tolist()]]
        lines = [",".join(parts) for parts in zip(*cols)]
        real = self.real_rows.get(day.isoformat(), {})
        if real:
            by_ticker = dict(zip(df["ticker"].tolist(), lines))
            by_ticker.update(real)
            lines = [by_ticker[t] for t in sorted(by_ticker)]
        return (CSV_HEADER + "\n" + "\n".join(lines) + "\n").encode()

    def stocks_daily_gz(self, day: dt.date) -> bytes:
        return gzip.compress(self.stocks_daily_csv(day), compresslevel=6, mtime=0)

    def published_day_bars(self, day: dt.date) -> pd.DataFrame:
        """The day bars as published: synthetic, with real fixture rows where present."""
        df = self.day_bars(day)
        real = self.real_rows.get(day.isoformat(), {})
        if real:
            parsed = pd.DataFrame([line.split(",") for line in real.values()], columns=CSV_HEADER.split(","))
            for col in ("volume", "open", "close", "high", "low"):
                parsed[col] = parsed[col].astype(float)
            for col in ("window_start", "transactions"):
                parsed[col] = parsed[col].astype(np.int64)
            df = pd.concat([df[~df["ticker"].isin(parsed["ticker"])], parsed]).sort_values("ticker", kind="stable")
            df = df.reset_index(drop=True)
        return df

    # -- minute bars -------------------------------------------------------------------------
    def stocks_minute(self, day: dt.date) -> pd.DataFrame:
        """Minute bars 04:00-20:00 New York that aggregate exactly to the published day bars;
        illiquid names trade only some minutes."""
        from .intraday import choose_minutes, split_bars

        d = self.published_day_bars(day)
        rng = np.random.default_rng([self.seed, 2, _ord(day)])
        v, t = d["volume"].to_numpy(), d["transactions"].to_numpy()
        p_reg = np.clip(v / 2e5, 0.02, 1.0)
        p_ext = np.clip(v / 5e6, 0.0, 0.6) * 0.5
        bar, slot = choose_minutes(rng, p_reg, p_ext, np.minimum(np.floor(v), t).astype(np.int64))
        return self._minutes(d, rng, bar, slot, day, decimal=day >= DECIMAL_VOLUME_SINCE)

    def _minutes(self, d: pd.DataFrame, rng, bar, slot, day: dt.date, decimal: bool) -> pd.DataFrame:
        from .intraday import split_bars

        cols = [d[c].to_numpy(dtype=float) for c in ("open", "high", "low", "close", "volume")]
        bar, slot, o, h, l, c, v, n = split_bars(rng, bar, slot, *cols, d["transactions"].to_numpy(), decimal)
        start = window_start_ns(day) + 4 * 3_600_000_000_000
        return pd.DataFrame(
            {
                "ticker": d["ticker"].to_numpy()[bar],
                "volume": v,
                "open": o,
                "close": c,
                "high": h,
                "low": l,
                "window_start": start + slot.astype(np.int64) * 60_000_000_000,
                "transactions": n,
            }
        )

    # -- options -----------------------------------------------------------------------------
    def options_daily(self, day: dt.date) -> pd.DataFrame:
        """Day bars of the contracts that traded, sorted by ticker."""
        from .options_chain import black_scholes, contracts

        d = self.published_day_bars(day)
        u = self.universe
        idx = np.array([u.index[t] for t in d["ticker"]])
        order = np.argsort(-u.avg_volume[idx], kind="stable")[: self.option_underlyings]
        order = np.sort(order)
        names = d["ticker"].to_numpy()[order].tolist()
        spots = d["close"].to_numpy()[order]
        sigma = np.clip(u.sigma[idx[order]] * np.sqrt(252), 0.15, 1.2)
        split_names = set(u.symbols[u.split_sym[(u.split_ord <= _ord(day)) & (u.split_ord > _ord(day) - 730)]])
        adjusted = {s: s.replace(".", "") + "1" for s in names if s in split_names}
        chain = contracts(names, spots, day, adjusted)
        rng = np.random.default_rng([self.seed, 3, _ord(day)])
        n = len(chain)
        ui = chain["u"].to_numpy()
        spot = spots[ui]
        strike = chain["strike"].to_numpy()
        years = (chain["expiry_ord"].to_numpy() - _ord(day)) / 365.0
        theo = black_scholes(spot, strike, years, sigma[ui], chain["call"].to_numpy())
        moneyness = np.abs(np.log(strike / spot))
        traded = rng.random(n) < np.clip(0.99 - moneyness, 0.4, 0.99)
        e = rng.standard_normal((4, n))
        close = np.maximum(0.01, np.round(np.maximum(theo, 0.01) * np.exp(0.08 * e[0]), 2))
        open_ = np.maximum(0.01, np.round(close * np.exp(0.12 * e[1]), 2))
        high = np.maximum(open_, close) + np.round(np.abs(e[2]) * 0.05 * close, 2)
        low = np.maximum(0.01, np.minimum(open_, close) - np.round(np.abs(e[3]) * 0.05 * close, 2))
        volume = np.maximum(1, np.round(np.exp(rng.normal(np.log(60), 1.3, n)) * np.exp(-moneyness * 3)))
        trades = np.maximum(1, np.minimum(volume, np.round(volume / rng.uniform(1, 12, n)))).astype(np.int64)
        sel = np.flatnonzero(traded)
        out = pd.DataFrame(
            {
                "ticker": chain["ticker"].to_numpy()[sel],
                "volume": volume[sel],
                "open": open_[sel],
                "close": close[sel],
                "high": np.round(high[sel], 2),
                "low": np.round(low[sel], 2),
                "window_start": np.full(sel.size, window_start_ns(day), dtype=np.int64),
                "transactions": trades[sel],
            }
        )
        return out.sort_values("ticker", kind="stable").reset_index(drop=True)

    def options_minute(self, day: dt.date) -> pd.DataFrame:
        """Regular-session minute bars aggregating exactly to ``options_daily``."""
        from .intraday import sample_regular_minutes

        d = self.options_daily(day)
        rng = np.random.default_rng([self.seed, 4, _ord(day)])
        v, t = d["volume"].to_numpy(), d["transactions"].to_numpy()
        wanted = np.minimum(np.minimum(v, t), 1 + rng.poisson(np.clip(v / 20, 0.6, 60))).astype(np.int64)
        bar, slot = sample_regular_minutes(rng, wanted)
        return self._minutes(d, rng, bar, slot, day, decimal=False)

    # -- published files ---------------------------------------------------------------------
    def _gz(self, df: pd.DataFrame, day: dt.date, decimal_volume: bool) -> bytes:
        from .csvfmt import aggregates_csv, gzip_bytes

        vol_day = day if decimal_volume else min(day, DECIMAL_VOLUME_SINCE - dt.timedelta(days=1))
        return gzip_bytes(aggregates_csv(vol_day, *(df[c].to_numpy() for c in CSV_HEADER.split(","))))

    def stocks_minute_gz(self, day: dt.date) -> bytes:
        return self._gz(self.stocks_minute(day), day, decimal_volume=True)

    def options_daily_gz(self, day: dt.date) -> bytes:
        return self._gz(self.options_daily(day), day, decimal_volume=False)

    def options_minute_gz(self, day: dt.date) -> bytes:
        return self._gz(self.options_minute(day), day, decimal_volume=False)

    # -- events (for the REST half and for tests) --------------------------------------------
    def splits(self) -> pd.DataFrame:
        u = self.universe
        ratio = u.split_ratio
        split_to = np.where(ratio >= 1, ratio, 1.0)
        split_from = np.where(ratio >= 1, 1.0, 1.0 / ratio)
        df = pd.DataFrame(
            {
                "ticker": u.symbols[u.split_sym],
                "execution_date": [dt.date.fromordinal(int(o)) for o in u.split_ord],
                "split_from": split_from,
                "split_to": split_to,
            }
        )
        return df.sort_values(["execution_date", "ticker"]).reset_index(drop=True)

    def listings(self) -> pd.DataFrame:
        u = self.universe
        return pd.DataFrame(
            {
                "ticker": u.symbols,
                "list_date": [dt.date.fromordinal(int(o)) for o in u.list_ord],
                "delist_date": [dt.date.fromordinal(int(o)) for o in u.delist_ord],
            }
        )

    def dividends(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Quarterly cash dividends with ex-dates in [start, end]: the amount is the quarterly
        yield times the previous session's raw price level.

        Each payer has a fixed cycle (month offset ``i % 3``, day ``5 + i % 20``, moved to the
        next session); payers sharing a cycle share ex-dates, so prices are computed once per
        ex-date for all of them.
        """
        u = self.universe
        payers = np.flatnonzero(u.dividend_yield > 0)
        cycle = (payers % 3) * 100 + (payers % 20)
        rows = []
        levels: dict[int, np.ndarray] = {}
        for key in np.unique(cycle).tolist():
            group = payers[cycle == key]
            month0, dom = key // 100 + 1, 5 + key % 100
            for year in range(start.year, end.year + 1):
                for m in range(month0, 13, 3):
                    ex = dt.date(year, m, dom)
                    while not is_session(ex):
                        ex += dt.timedelta(days=1)
                    if not (start <= ex <= end):
                        continue
                    o = _ord(ex)
                    live = group[(u.list_ord[group] < o) & (u.delist_ord[group] >= o)]
                    if not live.size:
                        continue
                    prev = _ord(previous_session(ex - dt.timedelta(days=1)))
                    if prev not in levels:
                        levels[prev] = self._adjusted_level(prev) * self.split_factor(prev)
                    amounts = np.round(levels[prev][live] * u.dividend_yield[live], 4)
                    names = self.symbols_on(o)[live]
                    for sym, amount in zip(names.tolist(), amounts.tolist()):
                        rows.append(
                            {
                                "ticker": sym,
                                "ex_dividend_date": ex,
                                "cash_amount": float(amount),
                                "declaration_date": ex - dt.timedelta(days=21),
                                "record_date": ex,
                                "pay_date": ex + dt.timedelta(days=14),
                                "frequency": 4,
                            }
                        )
        for s in SCRIPTED:
            for ex, cash in s.special_dividends:
                if start <= ex <= end:
                    rows.append({"ticker": s.symbol, "ex_dividend_date": ex, "cash_amount": cash,
                                 "declaration_date": ex - dt.timedelta(days=21), "record_date": ex,
                                 "pay_date": ex + dt.timedelta(days=14), "frequency": 0})
        columns = ["ticker", "ex_dividend_date", "cash_amount", "declaration_date", "record_date", "pay_date", "frequency"]
        return pd.DataFrame(rows, columns=columns).sort_values(["ex_dividend_date", "ticker"]).reset_index(drop=True)
