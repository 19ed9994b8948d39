"""Point-in-time universes as Qlib instrument files: ``instruments/liquid<N>.txt``, so that
``D.instruments("liquid500")`` is the 500 most liquid common stocks *as known on each
rebalance date*, delisted names included for the spans they were members.

The rule (one place, here):

- **Rebalance dates**: the first session of each month the store holds, once at least
  ``min_sessions`` held sessions precede it; and, so that a lake that starts mid-history
  has a universe from early on, the first held session with ``min_sessions`` held sessions
  before it (the *inception*), if that is not a month's first.
- **Known at the rebalance date**: a name is ranked by its trailing dollar volume, the sum
  of raw ``close x volume`` (split-invariant) over the up to ``lookback`` held sessions
  before the rebalance date (a session without a bar adds 0), never the rebalance day
  itself. Candidates are the names with a bar on the session before it (still trading when
  the decision is made) whose reference type is one of ``types`` (``CS``: common stock; the
  latest reference tickers pull that lists a ticker gives its type; with no reference pull
  held every name is a candidate and the job says so). Ties go to the lower symbol.
- **Membership spans**: the top ``N`` at a rebalance date are members from it to the
  session before the next one (the store's last session for the latest), cut at the
  member's last bar if it stops trading (a delisting) but never before the rebalance
  date; consecutive spans of one name are one line. A member always has bars before its
  span starts.

Rankings are kept per rebalance date in ``.quantmini/universes/rankings.parquet`` with the
fingerprint of their window (size and mtime of each bronze day), so a nightly run ranks
only a new rebalance date or one whose window days changed; the instrument files are
rewritten only when their bytes change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import atomic
from .symbols import qlib_symbol

PREFIX = "liquid"
RANKING_SCHEMA = pa.schema([
    pa.field("rebalance", pa.date32(), nullable=False),
    pa.field("ticker", pa.string(), nullable=False),
    pa.field("dollar_volume", pa.float64(), nullable=False),
])


class UniverseError(ValueError):
    """Bad universe configuration or input: the message names it."""


@dataclass(frozen=True)
class Rule:
    """What a universe is built from (config keys ``qlib_universes`` and friends)."""

    sizes: tuple[int, ...]
    lookback: int
    min_sessions: int
    types: tuple[str, ...] = ("CS",)

    @classmethod
    def from_config(cls, config: dict) -> "Rule":
        """The rule of a workflow config (its defaults from config/schema.yaml)."""
        from ..settings import with_defaults

        config = with_defaults(dict(config))
        return cls(tuple(config["qlib_universes"]), int(config["qlib_universe_lookback_sessions"]),
                   int(config["qlib_universe_min_sessions"]), tuple(config["qlib_universe_types"]))

    def __post_init__(self):
        if any(int(n) < 1 for n in self.sizes) or len(set(self.sizes)) != len(self.sizes):
            raise UniverseError(f"qlib_universes must be distinct positive sizes, got {list(self.sizes)}")
        if not 1 <= self.min_sessions <= self.lookback:
            raise UniverseError(f"qlib_universe_min_sessions must be 1..qlib_universe_lookback_sessions "
                                f"({self.lookback}), got {self.min_sessions}")

    @staticmethod
    def name(size: int) -> str:
        return f"{PREFIX}{size}"


def rebalance_dates(sessions: list[dt.date], min_sessions: int) -> list[dt.date]:
    """The rebalance dates among the held ``sessions`` (sorted): see the module's rule."""
    out = []
    for i, day in enumerate(sessions):
        if i < min_sessions:
            continue
        month_first = i == 0 or (day.year, day.month) != (sessions[i - 1].year, sessions[i - 1].month)
        if month_first or not out:
            out.append(day)
    return out


def day_dollar_volume(path: str) -> pl.DataFrame:
    """One bronze stocks_daily day as (ticker, dollar_volume = close x volume)."""
    t = pq.read_table(path, columns=["ticker", "close", "volume"], use_threads=False)
    dv = pc.multiply(pc.cast(t["close"], pa.float64()), pc.cast(t["volume"], pa.float64()))
    return pl.from_arrow(pa.table({"ticker": t["ticker"], "dollar_volume": pc.fill_null(dv, 0.0)}))


def rank(window: list[str], candidates_from: str) -> pl.DataFrame:
    """Every name with a bar on ``candidates_from`` (the last day of the window), by its
    summed dollar volume over the ``window`` days, highest first, ties to the lower ticker."""
    frames = [day_dollar_volume(p).with_columns(pl.lit(i).alias("_day")) for i, p in enumerate(window)]
    last = (frames[window.index(candidates_from)] if candidates_from in window
            else day_dollar_volume(candidates_from)).select("ticker").unique()
    # Summed in one fixed order (ticker, then day) with numpy: a parallel group-by sum adds in
    # an order that varies run to run, and its last bits (and so ties and the cache's bytes) too.
    both = pl.concat(frames).sort(["ticker", "_day"])
    tickers, values = both["ticker"].to_numpy(), both["dollar_volume"].to_numpy()
    starts = np.flatnonzero(np.r_[True, tickers[1:] != tickers[:-1]]) if len(tickers) else np.array([], dtype=int)
    total = pl.DataFrame({"ticker": tickers[starts].tolist(),
                          "dollar_volume": np.add.reduceat(values, starts) if len(starts) else np.array([], float)},
                         schema={"ticker": pl.String, "dollar_volume": pl.Float64})
    ranked = last.join(total, on="ticker", how="left").with_columns(pl.col("dollar_volume").fill_null(0.0))
    return ranked.sort(["dollar_volume", "ticker"], descending=[True, False])


def reference_types(pulls: Iterable[str]) -> dict[str, str] | None:
    """Ticker -> type from the reference tickers pulls (active and delisted; a later pull
    overrides an earlier one, the active list a delisted one of the same day), or None when
    no pull is held."""
    from ..paths import rest_partition

    def order(path: str) -> tuple[str, bool]:
        _, pull_date, window = rest_partition(path) or ("", "", "")
        return pull_date, window == "active"

    paths = sorted(pulls, key=order)
    if not paths:
        return None
    out: dict[str, str] = {}
    for p in paths:
        t = pq.read_table(p, columns=["ticker", "type"])
        for ticker, kind in zip(t["ticker"].to_pylist(), t["type"].to_pylist()):
            if ticker is not None:
                out[ticker] = kind
    return out


def _stamp(path: str) -> list:
    """A bronze day as a ranking's cache key holds it: a rewritten day is a new stamp."""
    st = Path(path).stat()
    return [path, st.st_size, st.st_mtime_ns]


@dataclass
class UniverseResult:
    rebalances: int = 0
    ranked: int = 0  # rebalance dates ranked by this run (the others came from the cache)
    members: dict[str, int] = field(default_factory=dict)  # universe -> distinct names
    spans: dict[str, int] = field(default_factory=dict)
    files_written: int = 0
    type_filter: list[str] | None = None

    def summary(self) -> dict:
        return {"rebalances": self.rebalances, "ranked": self.ranked, "members": self.members, "spans": self.spans,
                "files_written": self.files_written, "type_filter": self.type_filter}


def spans_of(rankings: pl.DataFrame, rebalances: list[dt.date], sessions: list[dt.date], size: int,
             eligible: set[str] | None, last_bar: dict[str, dt.date]) -> list[tuple[str, dt.date, dt.date]]:
    """Membership spans (instrument, start, end) of the top ``size`` at each rebalance date."""
    index = {d: i for i, d in enumerate(sessions)}
    open_spans: dict[str, list] = {}
    out: list[tuple[str, dt.date, dt.date]] = []
    for k, day in enumerate(rebalances):
        period_end = sessions[index[rebalances[k + 1]] - 1] if k + 1 < len(rebalances) else sessions[-1]
        ranked = rankings.filter(pl.col("rebalance") == day)
        if eligible is not None:
            ranked = ranked.filter(pl.col("ticker").is_in(list(eligible)))
        members = ranked.head(size)["ticker"].to_list()
        current = {}
        for ticker in members:
            symbol = qlib_symbol(ticker)
            end = max(day, min(period_end, last_bar.get(symbol, period_end)))
            prev = open_spans.pop(symbol, None)
            if prev is not None and index[prev[2]] + 1 == index[day]:
                prev[2] = end
                current[symbol] = prev
            else:
                current[symbol] = [symbol, day, end]
        for span in open_spans.values():
            out.append(tuple(span))
        open_spans = current
    out.extend(tuple(s) for s in open_spans.values())
    return sorted(out)


def _store_spans(qlib_root: Path) -> dict[str, dt.date]:
    """Each instrument's last bar, from the store's ``instruments/all.txt``."""
    out = {}
    path = qlib_root / "instruments" / "all.txt"
    if path.exists():
        for line in path.read_text().splitlines():
            symbol, _, last = line.split("\t")
            out[symbol] = dt.date.fromisoformat(last)
    return out


def build(qlib_root: str | Path, days: dict[str, str], rule: Rule, reference_pulls: Iterable[str] = ()) -> UniverseResult:
    """Write ``instruments/liquid<N>.txt`` for each size of ``rule`` from the bronze
    stocks_daily ``days`` (ISO date -> path) the store was built from."""
    root = Path(qlib_root)
    state_dir = root / ".quantmini" / "universes"
    rankings_path, state_path = state_dir / "rankings.parquet", state_dir / "state.json"
    sessions = sorted(dt.date.fromisoformat(d) for d in days)
    by_day = {dt.date.fromisoformat(d): p for d, p in days.items()}
    rebalances = rebalance_dates(sessions, rule.min_sessions)
    index = {d: i for i, d in enumerate(sessions)}
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    cached = pl.from_arrow(pq.read_table(rankings_path)) if rankings_path.exists() and state else None
    kept, fresh, windows = [], [], {}
    for day in rebalances:
        window = [by_day[d] for d in sessions[max(0, index[day] - rule.lookback):index[day]]]
        stamp = [rule.lookback, *(_stamp(p) for p in window)]
        windows[day.isoformat()] = stamp
        if cached is not None and state.get("windows", {}).get(day.isoformat()) == json.loads(json.dumps(stamp)):
            kept.append(day)
            continue
        ranked = rank(window, window[-1]).with_columns(pl.lit(day).alias("rebalance"))
        fresh.append(ranked.select("rebalance", "ticker", "dollar_volume"))
    parts = [f.to_arrow().cast(RANKING_SCHEMA) for f in fresh]
    if kept:
        parts.append(cached.filter(pl.col("rebalance").is_in(kept)).to_arrow().cast(RANKING_SCHEMA))
    table = pa.concat_tables(parts) if parts else RANKING_SCHEMA.empty_table()
    rankings = pl.from_arrow(table).sort(["rebalance", "dollar_volume", "ticker"], descending=[False, True, False])
    types = reference_types(reference_pulls)
    eligible = None if types is None else {t for t, kind in types.items() if kind in rule.types}
    last_bar = _store_spans(root)
    result = UniverseResult(rebalances=len(rebalances), ranked=len(fresh),
                            type_filter=None if types is None else sorted(rule.types))
    for size in rule.sizes:
        name = Rule.name(size)
        spans = spans_of(rankings, rebalances, sessions, size, eligible, last_bar) if sessions else []
        text = "".join(f"{s}\t{a.isoformat()}\t{b.isoformat()}\n" for s, a, b in spans)
        path = root / "instruments" / f"{name}.txt"
        if not (path.exists() and path.read_text() == text):
            atomic.write_text(path, text)
            result.files_written += 1
        result.members[name] = len({s for s, _, _ in spans})
        result.spans[name] = len(spans)
    wanted = {f"{Rule.name(n)}.txt" for n in rule.sizes}
    for stale in sorted((root / "instruments").glob(f"{PREFIX}*.txt")):
        if stale.name not in wanted:  # a size no longer configured
            stale.unlink()
    if fresh or len(kept) != (0 if cached is None else cached["rebalance"].n_unique()):
        with atomic.atomic_path(rankings_path) as tmp:  # first the rankings, then the stamps
            pq.write_table(rankings.to_arrow().cast(RANKING_SCHEMA).combine_chunks(), tmp, compression="zstd")
        atomic.write_text(state_path, json.dumps({"windows": windows}, sort_keys=True))
    return result
