"""The Qlib minute store: bronze stocks_minute in Qlib's 1-minute layout, beside the daily
store, so that one ``provider_uri`` serves ``freq="day"`` and ``freq="1min"``.

Layout (as Qlib's ``dump_bin.py`` writes a ``1min`` store, read by its file storage):

- ``calendars/1min.txt``: one line per regular-session minute of every session whose
  stocks_minute the lake holds, New York time (``2024-06-28 09:30:00`` .. ``15:59:00``;
  to ``12:59:00`` on early-close days), the minute bars' start times, as Qlib's US minute
  calendar (``qlib.utils.time.get_min_cal``) labels them;
- ``features/<dir>/<field>.1min.bin``: little-endian float32, the first value the calendar
  index of the symbol's first stored minute, then one value per calendar minute to its last
  stored minute, NaN where it has no bar.

Fields ``$open $high $low $close`` (raw x ``$factor``), ``$volume`` (raw / ``$factor``) and
``$factor``, the daily store's factor of the symbol and session (the same float32), so a
minute series is adjusted exactly as the daily one and ``$close / $factor`` is the raw bar.

Which symbols: the members of a universe (``qlib_minute_universe``, default ``liquid1000``:
``instruments/<name>.txt``, quantmini.gold.universes) on the sessions they are members, plus
``qlib_minute_symbols`` on every session; so the store's size follows the universe, not the
market. Minutes outside membership are NaN.

How it is kept up to date (``update``):

- **append**, the nightly case (sessions after the last one stored): each symbol's new
  minutes are appended to its files in place, a journal first recording every file's size,
  so an interrupted append is cut back to them and redone by the next run;
- **rewrite** of the symbols whose stored part changed (a late split changes their factors, a
  corrected minute day, a membership change): their files are rebuilt whole from bronze;
- **full** (an empty store, a session inserted before the last, a changed calendar, a
  journal left by a crashed rewrite): every file is rebuilt. Sessions are read a few at a
  time and appended to temporary files, so memory does not grow with the range (Qlib's
  ``dump_bin.py`` holds everything in memory); the files replace the old ones at the end.

After any sequence of updates the store equals, byte for byte, a full build from the same
inputs (tested).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import atomic
from ..faults import crash_point
from ..sessions import regular_session_bounds
from .symbols import BadSymbol, feature_dir_name, qlib_symbol

FREQ = "1min"
FIELDS = ("open", "high", "low", "close", "volume", "factor")
PRICES = ("open", "high", "low", "close")
NY = ZoneInfo("America/New_York")
MINUTE_NS = 60 * 1_000_000_000
DAYS_PER_CHUNK = 4  # sessions read at once by a full build or rewrite: bounds its memory
_NAN32 = np.float32(np.nan)


class MinuteStoreError(RuntimeError):
    """The minute store cannot be updated: the message names the input."""


def session_minutes(day: dt.date) -> list[str]:
    """The regular-session minute labels of ``day`` (New York time, the bars' starts)."""
    open_ns, close_ns = regular_session_bounds(day)
    first = dt.datetime.fromtimestamp(open_ns / 1e9, tz=NY)
    return [(first + dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
            for i in range((close_ns - open_ns) // MINUTE_NS)]


@dataclass(frozen=True)
class Membership:
    """Which instruments the store holds on which sessions."""

    universe: str | None
    spans: tuple[tuple[str, str, str], ...]  # (symbol, first, last) from the universe file
    always: frozenset[str] = frozenset()

    @classmethod
    def read(cls, qlib_root: str | Path, universe: str | None, symbols: list[str] = ()) -> "Membership":
        spans: list[tuple[str, str, str]] = []
        if universe:
            path = Path(qlib_root) / "instruments" / f"{universe}.txt"
            if not path.exists():
                raise MinuteStoreError(f"config key 'qlib_minute_universe': {universe!r} has no instrument file "
                                       f"({path}); name one of qlib_universes as liquid<N>, or leave it empty")
            spans = [tuple(line.split("\t")) for line in path.read_text().splitlines() if line.strip()]
        try:
            always = frozenset(qlib_symbol(s) for s in symbols)
        except BadSymbol as exc:
            raise MinuteStoreError(f"config key 'qlib_minute_symbols': {exc}") from None
        return cls(universe, tuple(spans), always)

    def on(self, day: str) -> set[str]:
        return {s for s, a, b in self.spans if a <= day <= b} | set(self.always)


@dataclass
class MinuteResult:
    mode: str
    sessions: int = 0
    minutes: int = 0
    symbols: int = 0
    symbols_rewritten: list[str] = field(default_factory=list)
    symbols_removed: list[str] = field(default_factory=list)
    days_applied: list[str] = field(default_factory=list)
    bars_written: int = 0
    bytes: int = 0

    def summary(self) -> dict:
        return {"mode": self.mode, "sessions": self.sessions, "minutes": self.minutes, "symbols": self.symbols,
                "symbols_rewritten": len(self.symbols_rewritten), "symbols_removed": len(self.symbols_removed),
                "days_applied": len(self.days_applied), "bars": self.bars_written, "bytes": self.bytes}


class DailyFactors:
    """The daily store's ``$factor`` of a symbol on a session (NaN where it has no bar)."""

    def __init__(self, qlib_root: Path):
        self.root = qlib_root
        cal = qlib_root / "calendars" / "day.txt"
        days = cal.read_text().split() if cal.exists() else []
        self.index = {d: i for i, d in enumerate(days)}
        self._cache: dict[str, tuple[int, np.ndarray]] = {}

    def of(self, symbol: str, day: str) -> np.float32:
        if symbol not in self._cache:
            path = self.root / "features" / feature_dir_name(symbol) / "factor.day.bin"
            data = np.fromfile(path, dtype="<f4") if path.exists() else np.array([0], dtype="<f4")
            self._cache[symbol] = (int(data[0]), data[1:])
        start, values = self._cache[symbol]
        i = self.index.get(day, -1) - start
        return values[i] if 0 <= i < len(values) else _NAN32


def _stamp(path: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


class MinuteStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.calendar_path = self.root / "calendars" / f"{FREQ}.txt"
        self.features = self.root / "features"
        self.state_dir = self.root / ".quantmini" / "minute"
        self.state_path = self.state_dir / "state.json"
        self.journal = self.state_dir / "journal.json"
        self._bars = 0  # bars written by the current update

    def path(self, symbol: str, fld: str) -> Path:
        return self.features / feature_dir_name(symbol) / f"{fld}.{FREQ}.bin"

    # -- what each symbol's files are a function of --------------------------------------------
    @staticmethod
    def _plan(days: list[str], membership: Membership, factors: DailyFactors) -> dict[str, list[tuple[str, float]]]:
        """Per symbol, its stored sessions with their factor (NaN-safe) in order."""
        out: dict[str, list[tuple[str, float]]] = {}
        for day in days:
            for symbol in sorted(membership.on(day)):
                out.setdefault(symbol, []).append((day, float(factors.of(symbol, day))))
        return out

    @staticmethod
    def _digest(seq: list[tuple[str, float]], stamps: dict[str, list]) -> str:
        h = hashlib.sha256()
        for day, factor in seq:
            h.update(json.dumps([day, repr(factor), stamps[day]]).encode())
        return h.hexdigest()

    # -- update --------------------------------------------------------------------------------
    def update(self, minute_days: dict[str, str], membership: Membership) -> MinuteResult:
        """Bring the store to ``minute_days`` (ISO date -> bronze stocks_minute file) for the
        sessions ``membership`` names, the factors read from the daily store beside it."""
        days = sorted(minute_days)
        factors = DailyFactors(self.root)
        missing = [d for d in days if d not in factors.index]
        if missing:
            raise MinuteStoreError(f"stocks_minute sessions {missing[:3]} are not in the daily store's calendar: "
                                   "update the daily store first")
        stamps = {d: _stamp(minute_days[d]) for d in days}
        plan = self._plan(days, membership, factors)
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else None
        if self.journal.exists():
            state = self._recover(state)
        old_days = state["days"] if state else []
        appendable = bool(state) and days[:len(old_days)] == old_days and all(
            state["stamps"].get(d) == stamps[d] for d in old_days)
        if not appendable:
            return self._full(days, minute_days, plan, stamps)
        return self._append(days, old_days, minute_days, plan, stamps, state)

    def _recover(self, state: dict | None) -> dict | None:
        """A journal left by an interrupted update: an append is cut back to the sizes it
        recorded (the state before it holds); anything else makes the next update full."""
        journal = json.loads(self.journal.read_text())
        if journal.get("op") != "append":
            return None
        for path, size in journal["sizes"].items():
            p = Path(path)
            if size is None:
                p.unlink(missing_ok=True)
            elif p.exists():
                os.truncate(p, size)
        self.journal.unlink()
        return state

    def _full(self, days, minute_days, plan, stamps) -> MinuteResult:
        atomic.write_json(self.journal, {"op": "full"})
        symbols = sorted(s for s in plan if plan[s])
        ends = self._build(days, days, minute_days, plan, set(symbols), tmp=True)
        removed = self._remove_except(set(ends))
        for symbol in sorted(ends):
            for f in FIELDS:
                os.replace(self._tmp(symbol, f), self.path(symbol, f))
        res = MinuteResult("full", sessions=len(days), days_applied=list(days), symbols_removed=removed)
        return self._finish(days, plan, stamps, ends, res)

    def _append(self, days, old_days, minute_days, plan, stamps, state) -> MinuteResult:
        new_days = days[len(old_days):]
        old_syms = state["symbols"]
        rewrite, extend = set(), set()
        for symbol, seq in plan.items():
            old = [x for x in seq if x[0] <= old_days[-1]] if old_days else []
            prev = old_syms.get(symbol)
            if prev is None:
                (rewrite if old else extend).add(symbol)  # a new symbol: appended from its first session
            elif prev["digest"] != self._digest(old, stamps):
                rewrite.add(symbol)
            elif any(d in new_days for d, _ in seq):
                extend.add(symbol)
        gone = sorted(set(old_syms) - set(plan))
        res = MinuteResult("append", sessions=len(days), days_applied=new_days, symbols_rewritten=sorted(rewrite),
                           symbols_removed=gone)
        ends = {s: v["end"] for s, v in old_syms.items() if s in plan and s not in rewrite}
        if rewrite:
            atomic.write_json(self.journal, {"op": "rewrite"})
            built = self._build(days, days, minute_days, plan, rewrite, tmp=True)
            for symbol in sorted(rewrite):
                for f in FIELDS:
                    if symbol in built:
                        os.replace(self._tmp(symbol, f), self.path(symbol, f))
                    else:
                        self.path(symbol, f).unlink(missing_ok=True)
            ends.update(built)
        if extend and new_days:
            sizes = {}
            for symbol in sorted(extend):
                for f in FIELDS:
                    p = self.path(symbol, f)
                    sizes[str(p)] = p.stat().st_size if p.exists() else None
            atomic.write_json(self.journal, {"op": "append", "sizes": sizes})
            appended = self._build(days, new_days, minute_days, plan, extend, tmp=False,
                                   ends={s: ends[s] for s in extend if s in ends})
            ends.update(appended)
        for symbol in gone:
            for f in FIELDS:
                self.path(symbol, f).unlink(missing_ok=True)
        return self._finish(days, plan, stamps, ends, res)

    def _finish(self, days, plan, stamps, ends, res: MinuteResult) -> MinuteResult:
        calendar = [m for d in days for m in session_minutes(dt.date.fromisoformat(d))]
        text = "".join(f"{m}\n" for m in calendar)
        if not calendar:  # no minutes: no 1min calendar (Qlib would offer an empty frequency)
            self.calendar_path.unlink(missing_ok=True)
        elif not (self.calendar_path.exists() and self.calendar_path.read_text() == text):
            atomic.write_text(self.calendar_path, text)
        self._save_state(days, plan, stamps, ends)
        self.journal.unlink(missing_ok=True)
        res.minutes = len(calendar)
        res.symbols = len(ends)
        res.bytes = sum(4 * (e[1] - e[0] + 1) * len(FIELDS) for e in ends.values())
        res.bars_written, self._bars = self._bars, 0
        return res

    def _save_state(self, days, plan, stamps, ends) -> None:
        symbols = {}
        for symbol, (first, end) in sorted(ends.items()):
            seq = [x for x in plan[symbol] if x[0] <= days[-1]] if days else []
            symbols[symbol] = {"digest": self._digest(seq, stamps), "end": [first, end]}
        atomic.write_json(self.state_path, {"days": list(days), "stamps": {d: stamps[d] for d in days},
                                            "symbols": symbols})

    def _tmp(self, symbol: str, fld: str) -> Path:
        p = self.path(symbol, fld)
        return p.with_name(f".tmp-{p.name}")

    def _remove_except(self, keep: set[str]) -> list[str]:
        removed = []
        if not self.features.exists():
            return removed
        keep_dirs = {feature_dir_name(s) for s in keep}
        for entry in sorted(os.listdir(self.features)):
            if entry in keep_dirs:
                continue
            hit = False
            for f in FIELDS:
                p = self.features / entry / f"{f}.{FREQ}.bin"
                if p.exists():
                    p.unlink()
                    hit = True
            if hit:
                removed.append(entry)
        return removed

    def _build(self, all_days, days, minute_days, plan, symbols: set[str], tmp: bool,
               ends: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
        """Append ``days`` of ``symbols`` to their files (temporary ones from scratch with
        ``tmp``, else the real ones after ``ends``, each symbol's [first, last] calendar
        index so far). Returns every written symbol's [first, last]."""
        offsets, pos = {}, 0
        for d in all_days:
            offsets[d] = pos
            pos += len(session_minutes(dt.date.fromisoformat(d)))
        ends = {s: list(e) for s, e in (ends or {}).items()}
        member_days = {s: {d for d, _ in plan.get(s, ())} for s in symbols}
        factor_of = {s: dict(plan.get(s, ())) for s in symbols}
        if tmp:
            for s in symbols:
                for f in FIELDS:
                    self._tmp(s, f).unlink(missing_ok=True)
        for k in range(0, len(days), DAYS_PER_CHUNK):
            chunk = days[k:k + DAYS_PER_CHUNK]
            per_symbol: dict[str, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
            for day in chunk:
                wanted = {s for s in symbols if day in member_days[s]}
                if not wanted:
                    continue
                for symbol, idx, vals in _day_bars(minute_days[day], dt.date.fromisoformat(day), wanted):
                    factor = np.float64(np.float32(factor_of[symbol][day]))
                    adj = {f: (vals[f] * factor) for f in PRICES}
                    adj["volume"] = vals["volume"] / factor
                    adj["factor"] = np.full(len(idx), factor)
                    per_symbol.setdefault(symbol, []).append((idx + offsets[day], adj))
            for symbol in sorted(per_symbol):
                parts = per_symbol[symbol]
                idx = np.concatenate([p[0] for p in parts])
                self._bars += len(idx)
                start = ends[symbol][1] + 1 if symbol in ends else int(idx[0])
                dense_len = int(idx[-1]) - start + 1
                folder = self.features / feature_dir_name(symbol)
                folder.mkdir(parents=True, exist_ok=True)
                for f in FIELDS:
                    dense = np.full(dense_len, _NAN32, dtype="<f4")
                    dense[idx - start] = np.concatenate([p[1][f] for p in parts]).astype("<f4")
                    data = dense.tobytes()
                    if symbol not in ends:
                        data = np.float32(start).astype("<f4").tobytes() + data
                    path = self._tmp(symbol, f) if tmp else self.path(symbol, f)
                    with open(path, "ab") as fh:
                        fh.write(data)
                if symbol not in ends:
                    ends[symbol] = [start, int(idx[-1])]
                else:
                    ends[symbol][1] = int(idx[-1])
            crash_point("qlib_minute.mid_update")
        return ends


def _day_bars(path: str, day: dt.date, symbols: set[str]):
    """(instrument, minute index in the session, raw values) of one bronze minute day's
    regular-session bars of ``symbols``, each instrument's minutes in order."""
    open_ns, close_ns = regular_session_bounds(day)
    # The day's tickers first (one column), then only the wanted ones' bars: the file is
    # sorted by ticker, so the reader skips every row group that cannot hold them, and
    # memory follows what is kept (the universe's bars), not the day's file.
    tickers = pc.unique(pq.read_table(path, columns=["ticker"], use_threads=False).column("ticker")).to_pylist()
    wanted = sorted(t for t in tickers if qlib_symbol(t) in symbols)
    if not wanted:
        return
    t = pq.read_table(path, columns=["ticker", "window_start", "open", "high", "low", "close", "volume"],
                      filters=[("ticker", "in", wanted)], use_threads=False)
    ts = pc.cast(t.column("window_start"), pa.int64())
    t = t.filter(pc.and_(pc.greater_equal(ts, open_ns), pc.less(ts, close_ns)))
    if not t.num_rows:
        return
    enc = pc.dictionary_encode(t["ticker"]).combine_chunks()
    names = np.array([qlib_symbol(x) for x in enc.dictionary.to_pylist()], dtype=object)
    keep = np.isin(names, np.array(sorted(symbols), dtype=object))
    codes = enc.indices.to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(keep[codes])
    if not len(rows):
        return
    minute = (pc.cast(t["window_start"], pa.int64()).to_numpy()[rows] - open_ns) // MINUTE_NS
    sym_codes = codes[rows]
    _, name_rank = np.unique(names, return_inverse=True)  # instruments in name order, as ints
    order = np.lexsort((minute, name_rank[sym_codes]))
    rows, minute, sym_codes = rows[order], minute[order], sym_codes[order]
    cols = {f: t[f].to_numpy().astype(np.float64)[rows] for f in ("open", "high", "low", "close", "volume")}
    bounds = np.flatnonzero(np.diff(sym_codes)) + 1
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(rows)]):
        yield names[sym_codes[a]], minute[a:b], {f: v[a:b] for f, v in cols.items()}
