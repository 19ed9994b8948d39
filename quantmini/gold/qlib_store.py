"""The gold Qlib binary store: adjusted, built in bulk, kept equal to a full rebuild.

Layout (Qlib's file storage, as ``dump_bin.py`` writes it): ``calendars/day.txt`` (the XNYS
sessions from the first to the last bronze day held), ``instruments/all.txt``
(``SYMBOL<TAB>first<TAB>last``, see :mod:`.symbols` for the names),
``features/<dir>/<field>.day.bin`` (little-endian float32: the calendar index of the
symbol's first bar, then one value per session up to its last bar, NaN where it has none).

Fields: ``open high low close`` = raw x factor, ``volume`` = raw / factor, ``factor``
(:mod:`.actions`), ``vwap`` = the session VWAP from minute bars x factor (NaN where the
day's minutes are not held), ``change`` = adjusted close over the symbol's previous
adjusted close - 1.

The store is a pure function of the bronze days, the minute days and the silver actions it
is given. :meth:`QlibStore.update` makes it so with as little writing as it can:

- **append** (the daily case): days after the last session are appended with one ``write``
  per file; symbols whose adjustment changed (an action that became effective, a late or
  corrected action) are rewritten whole from bronze, and no other file is touched;
- **full** (an empty store, days before or inside the held history, a changed bronze or
  minute day, an interrupted update): every symbol is computed from all bronze at once and
  only files whose bytes differ are replaced, so a backfill writes each file once.

Nothing is written before everything is validated and computed, so a refused update leaves
the store as it was. A journal marks an update in progress; the next update after a crash
is a full one, which converges to the same bytes. One writer at a time (``flock``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import atomic
from ..faults import crash_point
from ..sessions import sessions_between
from . import actions as adj
from .symbols import BadSymbol, feature_dir_name, qlib_symbol, ticker_of
from .vwap import session_vwap

log = logging.getLogger("quantmini.gold")

FIELDS = ("open", "high", "low", "close", "volume", "factor", "vwap", "change")
FREQ = "day"
STATE_VERSION = 1
_NAN32 = np.float32(np.nan)


class QlibStoreError(RuntimeError):
    pass


@dataclass
class Bars:
    """Raw bars sorted by (symbol, date): the input of every computation.

    Symbols are integer codes into ``names`` (sorted Qlib instrument names), so sorting and
    grouping millions of rows stays in numpy.
    """

    names: np.ndarray  # object: sorted instrument names
    tickers: np.ndarray  # object: the vendor ticker of each name
    code: np.ndarray  # int64 index into names, per row
    ords: np.ndarray  # int64 proleptic ordinals of the dates
    raw: dict[str, np.ndarray]  # open high low close volume vwap, float64

    @property
    def n(self) -> int:
        return len(self.ords)

    @property
    def symbol(self) -> np.ndarray:
        return self.names[self.code] if self.n else np.array([], dtype=object)

    def groups(self) -> Iterator[tuple[str, int, int]]:
        """(symbol, start row, end row) of each symbol's run of rows."""
        if not self.n:
            return
        cut = np.flatnonzero(self.code[1:] != self.code[:-1]) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [self.n]])
        for s, e in zip(starts.tolist(), ends.tolist()):
            yield self.names[self.code[s]], s, e

    def select(self, mask: np.ndarray) -> "Bars":
        return Bars(self.names, self.tickers, self.code[mask], self.ords[mask], {k: v[mask] for k, v in self.raw.items()})

    def ticker_of(self, row: int) -> str:
        return str(self.tickers[self.code[row]])


@dataclass
class UpdateResult:
    mode: str  # "full" | "append" | "none"
    last_session: str | None
    sessions: int
    symbols: int
    days_applied: list[str] = field(default_factory=list)
    bars_written: int = 0
    files_written: int = 0
    symbols_rewritten: list[str] = field(default_factory=list)
    symbols_removed: list[str] = field(default_factory=list)
    skipped_actions: list[dict] = field(default_factory=list)
    applied_actions: int = 0
    vwap_days: int = 0
    bytes: int = 0  # the store's calendar, instruments and feature files

    def summary(self) -> dict:
        """The deterministic receipt of the gold rule (no timestamps: reruns compare equal)."""
        return {
            "last_session": self.last_session,
            "sessions": self.sessions,
            "symbols": self.symbols,
            "applied_actions": self.applied_actions,
            "skipped_actions": len(self.skipped_actions),
            "vwap_days": self.vwap_days,
        }


def _sha(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def session_of(path: str) -> dt.date:
    """The session of a bronze partition (quantmini.paths.partition_date)."""
    from ..paths import partition_date

    try:
        return dt.date.fromisoformat(partition_date(path))
    except ValueError as exc:
        raise QlibStoreError(f"not a bronze partition path: {exc}") from None


class QlibStore:
    def __init__(self, root: str | Path, basis: str = "total"):
        if basis not in adj.BASES:
            raise QlibStoreError(f"config key 'qlib_adjustment': {basis!r} is not one of {', '.join(adj.BASES)}")
        self.root = Path(root)
        self.basis = basis
        self.calendar_path = self.root / "calendars" / f"{FREQ}.txt"
        self.instruments_path = self.root / "instruments" / "all.txt"
        self.features = self.root / "features"
        self.state_dir = self.root / ".quantmini"
        self.state_path = self.state_dir / "state.json"
        self.symbols_path = self.state_dir / "symbols.parquet"
        self.journal = self.state_dir / "journal.json"

    # -- reading -----------------------------------------------------------------------------
    def calendar(self) -> list[str]:
        if not self.calendar_path.exists():
            return []
        return [line.strip() for line in self.calendar_path.read_text().splitlines() if line.strip()]

    def instruments(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self.instruments_path.exists():
            for line in self.instruments_path.read_text().splitlines():
                if line.strip():
                    code, start, end = line.split("\t")
                    out[code] = [start, end]
        return out

    def feature_path(self, symbol: str, fld: str) -> Path:
        return self.features / feature_dir_name(symbol) / f"{fld}.{FREQ}.bin"

    def read_feature(self, symbol: str, fld: str) -> tuple[int, np.ndarray]:
        data = np.fromfile(self.feature_path(symbol, fld), dtype="<f4")
        return int(data[0]), data[1:]

    # -- locking -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- state -------------------------------------------------------------------------------
    def _load_state(self) -> tuple[dict | None, dict[str, dict]]:
        """The last completed update's record, or None when a full build is due."""
        if self.journal.exists() or not self.state_path.exists() or not self.symbols_path.exists():
            return None, {}
        state = json.loads(self.state_path.read_text())
        if state.get("version") != STATE_VERSION or state.get("basis") != self.basis:
            return None, {}
        rows = pq.read_table(self.symbols_path).to_pylist()
        return state, {r["symbol"]: r for r in rows}

    def _save_state(self, days: dict[str, dict], symbols: dict[str, dict]) -> None:
        atomic.write_json(self.state_path, {"version": STATE_VERSION, "basis": self.basis, "days": days})
        names = sorted(symbols)
        cols = ("ticker", "first", "last", "last_close", "fingerprint", "max_ex", "skipped", "applied")
        table = pa.table(
            {"symbol": pa.array(names, pa.string()),
             **{c: [symbols[s][c] for s in names] for c in cols}}
        )
        with atomic.atomic_path(self.symbols_path) as tmp:
            pq.write_table(table, tmp)

    # -- the update --------------------------------------------------------------------------
    def update(self, bronze: list[str], minute: list[str] | None = None,
               split_file: str | None = None, dividend_file: str | None = None) -> UpdateResult:
        """Make the store equal to a full build from these bronze stocks_daily partitions,
        bronze stocks_minute partitions (for ``$vwap``) and silver action files."""
        days = {}
        for p in bronze:
            days[session_of(p).isoformat()] = p
        minutes = {}
        for p in minute or []:
            minutes[session_of(p).isoformat()] = p
        with self.locked():
            # Keyed by instrument once: every computation below reads this one mapping.
            return self._update(days, minutes, actions_by_symbol(adj.load_actions(split_file, dividend_file, self.basis)))

    def _fingerprints(self, days: dict[str, str], minutes: dict[str, str], cached: dict[str, dict]) -> dict[str, dict]:
        """Per session: the sha256 of its bronze (and minute) file, re-hashed only when the
        size or mtime changed (a rebuilt identical partition is not a change)."""
        out = {}
        for day in sorted(days):
            rec = {}
            for key, path in (("bronze", days[day]), ("minute", minutes.get(day))):
                if path is None:
                    rec[key] = None
                    continue
                st = os.stat(path)
                stamp = [st.st_size, st.st_mtime_ns]
                old = cached.get(day, {})
                if old.get(f"{key}_stat") == stamp and old.get(key):
                    rec[key] = old[key]
                else:
                    rec[key] = _sha(path)
                rec[f"{key}_stat"] = stamp
            out[day] = rec
        return out

    def _update(self, days: dict[str, str], minutes: dict[str, str], actions: dict[str, list[adj.Action]]) -> UpdateResult:
        """``actions`` are keyed by Qlib instrument (:func:`actions_by_symbol`)."""
        minutes = {d: p for d, p in minutes.items() if d in days}
        state, sym_state = self._load_state()
        prints = self._fingerprints(days, minutes, state["days"] if state else {})
        if not days:
            if self.calendar_path.exists() or self.features.exists():
                raise QlibStoreError("no bronze stocks_daily partition given for a store that holds data")
            return UpdateResult("none", None, 0, 0)
        ordered = sorted(days)
        calendar = [d.isoformat() for d in sessions_between(dt.date.fromisoformat(ordered[0]), dt.date.fromisoformat(ordered[-1]))]
        not_sessions = sorted(set(ordered) - set(calendar))
        if not_sessions:
            raise QlibStoreError(f"bronze partitions for {', '.join(not_sessions)}: not XNYS sessions")
        if state is not None:
            old = state["days"]
            old_last = max(old) if old else None
            same = lambda d: old[d]["bronze"] == prints[d]["bronze"] and old[d]["minute"] == prints[d]["minute"]  # noqa: E731
            held_ok = all(d in prints and same(d) for d in old)
            new_days = [d for d in ordered if d not in old]
            if old_last and held_ok and all(d > old_last for d in new_days):
                return self._append(new_days, days, minutes, prints, calendar, actions, sym_state)
            reason = "a held day changed or was removed" if not held_ok else "days before the last session"
            log.info("full build: %s", reason)
        return self._full(days, minutes, prints, calendar, actions)

    # -- full build --------------------------------------------------------------------------
    def _full(self, days, minutes, prints, calendar, actions) -> UpdateResult:
        """Every symbol written from all its bars. A store of more than BULK_CHUNK_ROWS bars
        is built in groups of symbols, each read from every day's file on its own, so that
        memory stays bounded whatever the history (20 years at 12,000 tickers, 56 M bars,
        took ~16 GB in one piece); each symbol's values are computed from its own bars
        either way, so the files are the same."""
        last = dt.date.fromisoformat(calendar[-1])
        groups = symbol_groups(days, BULK_CHUNK_ROWS)
        if groups is not None:
            _check_dirs(dict.fromkeys(s for g in groups for s in g))
        cal_ords = np.array([dt.date.fromisoformat(d).toordinal() for d in calendar], dtype=np.int64)
        spans: dict[str, tuple[str, str]] = {}
        per_symbol: dict[str, dict] = {}
        skipped: list[adj.Skipped] = []
        n_applied = written = n_bars = index = 0
        begun = False
        crash_at = sum(len(g) for g in groups) // 2 if groups is not None else None
        for group in groups or [None]:
            bars = load_bars(days, minutes, symbols=group)
            values, per, group_skipped, group_applied = compute(bars, actions, last)
            group_spans = {s: (dt.date.fromordinal(int(bars.ords[a])).isoformat(),
                               dt.date.fromordinal(int(bars.ords[b - 1])).isoformat()) for s, a, b in bars.groups()}
            if groups is None:
                _check_dirs(group_spans)
                crash_at = len(group_spans) // 2
            if not begun:
                self._begin("full")
                begun = True
            for sym, a, b in bars.groups():
                if index == crash_at:
                    crash_point("qlib.mid_update")
                index += 1
                written += self._write_symbol(sym, bars.ords[a:b], {f: values[f][a:b] for f in FIELDS}, cal_ords,
                                              compare=True)
            spans.update(group_spans)
            per_symbol.update(per)
            skipped += group_skipped
            n_applied += group_applied
            n_bars += bars.n
            del bars, values
        dirs = {feature_dir_name(s) for s in spans}
        removed = []
        if self.features.exists():
            for entry in sorted(os.listdir(self.features)):
                if entry not in dirs:
                    shutil.rmtree(self.features / entry)
                    removed.append(entry)
        self._write_text_if_changed(self.calendar_path, "".join(f"{d}\n" for d in calendar))
        self._write_instruments(spans)
        self._save_state(prints, per_symbol)
        self.journal.unlink()
        size = self._size(spans, calendar)
        return UpdateResult(
            "full", calendar[-1], len(calendar), len(spans), days_applied=sorted(days), bars_written=n_bars,
            files_written=written, symbols_rewritten=[], symbols_removed=removed,
            skipped_actions=[s.to_json() for s in skipped], applied_actions=n_applied,
            vwap_days=len(minutes), bytes=size,
        )

    # -- append ------------------------------------------------------------------------------
    def _append(self, new_days, days, minutes, prints, calendar, actions, sym_state) -> UpdateResult:
        last = dt.date.fromisoformat(calendar[-1])
        new_bars = load_bars({d: days[d] for d in new_days}, minutes) if new_days else empty_bars()
        in_new = set(new_bars.symbol.tolist())
        # Which symbols' adjustment changes: their effective actions differ from the last
        # update's, or an action now effective lies after their last bar (a new ex-date, or
        # a split waiting for a bar to verify it) and they trade in the new days.
        by_symbol = actions
        affected = set()
        for sym in set(by_symbol) | {s for s, r in sym_state.items() if r["fingerprint"]}:
            old = sym_state.get(sym)
            if old is None:
                continue  # not in the store yet: a new symbol is computed whole below
            # only actions after its first bar can change its series (adj.in_range)
            eff = adj.in_range(adj.effective(by_symbol.get(sym, []), last), dt.date.fromisoformat(old["first"]))
            if adj.fingerprint(eff) != old["fingerprint"]:
                affected.add(sym)
            elif sym in in_new and eff and max(a.ex_date for a in eff).isoformat() > old["last"]:
                affected.add(sym)
        # New symbols with effective actions are computed whole too (they have no history).
        new_syms = in_new - set(sym_state)
        full_syms = affected | {s for s in new_syms if by_symbol.get(s)}
        history = load_bars(days, minutes, symbols=full_syms) if full_syms else empty_bars()
        plain = new_bars.select(~np.isin(new_bars.symbol, np.array(sorted(full_syms), dtype=object)))
        seeds = {s: sym_state[s]["last_close"] for s in set(plain.symbol.tolist()) if s in sym_state}
        values_h, per_h, _, _ = compute(history, actions, last)
        values_p, per_p, _, _ = compute(plain, actions, last, seeds=seeds)
        spans = {s: list((r["first"], r["last"])) for s, r in sym_state.items()}
        for b in (history, plain):
            for sym, a, z in b.groups():
                first = dt.date.fromordinal(int(b.ords[a])).isoformat()
                end = dt.date.fromordinal(int(b.ords[z - 1])).isoformat()
                span = spans.setdefault(sym, [first, end])
                span[0], span[1] = min(span[0], first), max(span[1], end)
        _check_dirs(spans)
        cal_ords = np.array([dt.date.fromisoformat(d).toordinal() for d in calendar], dtype=np.int64)
        self._begin("append")
        written = 0
        crash_at = len(set(plain.symbol.tolist())) // 2
        # The file of a held symbol ends at its last bar (the state says which), so the new
        # values go at the end: one O_APPEND write per file, NaN-padded over sessions it missed.
        position = {o: i for i, o in enumerate(cal_ords.tolist())}
        features = str(self.features)
        stacked = np.stack([values_p[f] for f in FIELDS])  # (fields, rows) float32
        for i, (sym, a, z) in enumerate(plain.groups()):
            if i == crash_at:
                crash_point("qlib.mid_update")
            old = sym_state.get(sym)
            if old is None:
                written += self._write_symbol(sym, plain.ords[a:z], {f: values_p[f][a:z] for f in FIELDS}, cal_ords, compare=False)
                continue
            first = position[dt.date.fromisoformat(old["last"]).toordinal()] + 1
            idx = [position[o] for o in plain.ords[a:z].tolist()]
            if idx[0] < first:
                raise QlibStoreError(f"{sym}: append at session {idx[0]} inside its history (ends at {first - 1})")
            if len(idx) == 1 and idx[0] == first:
                block = stacked[:, a:z]
            else:
                block = np.full((len(FIELDS), idx[-1] - first + 1), _NAN32, dtype="<f4")
                block[:, np.array(idx) - first] = stacked[:, a:z]
            folder = f"{features}/{feature_dir_name(sym)}/"
            for k, f in enumerate(FIELDS):
                fd = os.open(f"{folder}{f}.{FREQ}.bin", os.O_WRONLY | os.O_APPEND)
                try:
                    os.write(fd, block[k].tobytes())
                finally:
                    os.close(fd)
            written += len(FIELDS)
        for sym, a, z in history.groups():
            written += self._write_symbol(sym, history.ords[a:z], {f: values_h[f][a:z] for f in FIELDS}, cal_ords, compare=True)
        self._write_text_if_changed(self.calendar_path, "".join(f"{d}\n" for d in calendar))
        self._write_instruments({s: tuple(v) for s, v in spans.items()})
        merged = dict(sym_state)
        for sym, rec in per_p.items():  # plain symbols: history unchanged, only the tail moved
            old = merged.get(sym)
            if old is not None:
                rec = dict(old, last=rec["last"], last_close=rec["last_close"])
            merged[sym] = rec
        merged.update(per_h)
        self._save_state(prints, merged)
        self.journal.unlink()
        skipped = [s for r in merged.values() for s in json.loads(r["skipped"])]
        return UpdateResult(
            "append", calendar[-1], len(calendar), len(spans), days_applied=new_days,
            bars_written=new_bars.n, files_written=written, symbols_rewritten=sorted(affected),
            skipped_actions=skipped, applied_actions=sum(r["applied"] for r in merged.values()),
            vwap_days=sum(1 for d in prints.values() if d["minute"]), bytes=self._size(spans, calendar),
        )

    # -- file writing ------------------------------------------------------------------------
    def _begin(self, op: str) -> None:
        atomic.write_json(self.journal, {"op": op})

    def _write_symbol(self, sym: str, ords: np.ndarray, vals: dict[str, np.ndarray], cal_ords: np.ndarray,
                      compare: bool) -> int:
        """Write a symbol's whole files (header + dense values); with ``compare``, leave a
        file whose bytes are already right untouched (bytes and mtime)."""
        idx = np.searchsorted(cal_ords, ords)
        start, end = int(idx[0]), int(idx[-1])
        folder = self.features / feature_dir_name(sym)
        folder.mkdir(parents=True, exist_ok=True)
        written = 0
        for f in FIELDS:
            dense = np.full(end - start + 2, _NAN32, dtype="<f4")
            dense[0] = np.float32(start)
            dense[idx - start + 1] = vals[f]
            data = dense.tobytes()
            path = folder / f"{f}.{FREQ}.bin"
            if compare:
                try:
                    if path.stat().st_size == len(data) and path.read_bytes() == data:
                        continue
                except FileNotFoundError:
                    pass
            _replace(path, data)
            written += 1
        return written

    def _size(self, spans: dict, calendar: list[str]) -> int:
        """Bytes of the store, from the spans (no walk over its files): each feature file
        holds a header and one float32 per session of its symbol's span."""
        index = {d: i for i, d in enumerate(calendar)}
        values = sum(index[b] - index[a] + 2 for a, b in spans.values())
        return 4 * len(FIELDS) * values + self.calendar_path.stat().st_size + self.instruments_path.stat().st_size

    def _write_text_if_changed(self, path: Path, text: str) -> None:
        if path.exists() and path.read_text() == text:
            return
        atomic.write_text(path, text)

    def _write_instruments(self, spans: dict[str, tuple[str, str]]) -> None:
        text = "".join(f"{s}\t{a}\t{b}\n" for s, (a, b) in sorted(spans.items()))
        self._write_text_if_changed(self.instruments_path, text)


def _replace(path: Path, data: bytes) -> None:
    """Publish a feature file whole: temporary name, then rename; no temporary survives a
    failed write (a full disk)."""
    tmp = f"{path.parent}/.tmp-{path.name}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _action_key(a: adj.Action):
    return (a.ex_date, a.kind, a.value, a.event_id)


def actions_by_symbol(actions: dict[str, list[adj.Action]]) -> dict[str, list[adj.Action]]:
    """Actions keyed by Qlib instrument (tickers differing only by case meet here), in one
    stable order; actions of names that are not tickers are ignored (they have no bars)."""
    out: dict[str, list[adj.Action]] = {}
    for ticker, acts in actions.items():
        try:
            out.setdefault(qlib_symbol(ticker), []).extend(acts)
        except BadSymbol:
            continue
    for acts in out.values():
        acts.sort(key=_action_key)
    return out


def _check_dirs(spans: dict) -> set[str]:
    """Every instrument's directory, refusing two that Qlib would read from one place."""
    owner: dict[str, str] = {}
    for sym in sorted(spans):
        d = feature_dir_name(sym)
        if owner.setdefault(d, sym) != sym:
            raise QlibStoreError(f"instruments {owner[d]!r} and {sym!r} map to the same Qlib directory features/{d}")
    return set(owner)


# -- loading and computing (pure: the same inputs give the same bits) --------------------------
_RAW = ("open", "high", "low", "close", "volume", "vwap")
_BARS_SCHEMA = pa.schema([("ticker", pa.string()), ("ord", pa.int64())] + [(k, pa.float64()) for k in _RAW])


#: Bars of one group of symbols in a full build (~2 GB of working memory per 8 M bars).
BULK_CHUNK_ROWS = 8_000_000


def symbol_groups(days: dict[str, str], max_rows: int) -> list[set[str]] | None:
    """The store's instruments in groups of at most ``max_rows`` bars (a symbol is never
    split; sorted, so groups are contiguous in the store's order), or None when every bar
    fits one group. Reads the ticker column of every day only."""
    from collections import Counter

    def tickers(day: str) -> pa.ChunkedArray:
        return pq.read_table(days[day], columns=["ticker"], use_threads=False).column("ticker")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        columns = list(pool.map(tickers, sorted(days)))
    if sum(len(c) for c in columns) <= max_rows:
        return None
    counts = pc.value_counts(pa.chunked_array([chunk for c in columns for chunk in c.chunks], pa.string()))
    rows: Counter = Counter()
    try:
        for ticker, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
            rows[qlib_symbol(ticker)] += n
    except BadSymbol as exc:
        raise QlibStoreError(str(exc)) from None
    groups: list[set[str]] = [set()]
    size = 0
    for name in sorted(rows):
        if groups[-1] and size + rows[name] > max_rows:
            groups.append(set())
            size = 0
        groups[-1].add(name)
        size += rows[name]
    return groups


def empty_bars() -> Bars:
    return Bars(np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.int64),
                np.array([], dtype=np.int64), {k: np.array([], dtype=np.float64) for k in _RAW})


def load_bars(days: dict[str, str], minutes: dict[str, str], symbols: set[str] | None = None) -> Bars:
    """Raw bars of these sessions (optionally only these instruments), sorted by symbol and
    date, with the session VWAP where the day's minute bars are given."""
    wanted = pa.array(sorted({ticker_of(s) for s in symbols})) if symbols is not None else None

    def read(day: str) -> pa.Table:
        t = pq.read_table(days[day], columns=["ticker", "open", "high", "low", "close", "volume"], use_threads=False)
        if wanted is not None:
            t = t.filter(pc.is_in(pc.utf8_upper(t.column("ticker")), wanted))
        if day in minutes and t.num_rows:
            only = None if wanted is None else t.column("ticker").to_pylist()  # that day's spellings
            v = session_vwap(minutes[day], dt.date.fromisoformat(day), only)
            t = t.join(v, "ticker", join_type="left outer", use_threads=False)  # rows are ordered later
        else:
            t = t.append_column("vwap", pa.nulls(t.num_rows, pa.float64()))
        ordinal = dt.date.fromisoformat(day).toordinal()
        t = t.append_column("ord", pa.array(np.full(t.num_rows, ordinal, dtype=np.int64)))
        return t.select(["ticker", "ord", *_RAW]).cast(_BARS_SCHEMA)

    # Days are independent: read them on every core (Arrow releases the GIL), in order.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        tables = list(pool.map(read, sorted(days)))
    if not tables:
        return empty_bars()
    table = pa.concat_tables(tables)
    if not table.num_rows:
        return empty_bars()
    enc = pc.dictionary_encode(table.column("ticker")).combine_chunks()
    vendor = np.array(enc.dictionary.to_pylist(), dtype=object)
    try:
        mapped = np.array([qlib_symbol(t) for t in vendor.tolist()], dtype=object)
    except BadSymbol as exc:
        raise QlibStoreError(str(exc)) from None
    names, inverse = np.unique(mapped, return_inverse=True)
    code = inverse[enc.indices.to_numpy(zero_copy_only=False)].astype(np.int64)
    row_ticker = enc.indices.to_numpy(zero_copy_only=False)
    ords = table.column("ord").to_numpy()
    order = np.lexsort((ords, code))
    if symbols is not None:
        keep = np.isin(names, np.array(sorted(symbols), dtype=object))
        order = order[keep[code[order]]]
    code, ords, row_ticker = code[order], ords[order], row_ticker[order]
    # Two vendor tickers becoming one instrument (ALLPB and ALLpB) on the same day.
    dup = (code[1:] == code[:-1]) & (ords[1:] == ords[:-1])
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise QlibStoreError(
            f"tickers {vendor[row_ticker[i]]!r} and {vendor[row_ticker[i + 1]]!r} both become Qlib instrument "
            f"{names[code[i]]!r} on {dt.date.fromordinal(int(ords[i]))} (Qlib upper-cases symbols)"
        )
    tickers = np.empty(len(names), dtype=object)
    tickers[code] = vendor[row_ticker]
    raw = {}
    for k in _RAW:
        col = table.column(k)
        if k == "vwap":
            col = pc.fill_null(col, float("nan"))
        raw[k] = col.to_numpy().astype(np.float64)[order]
    return Bars(names, tickers, code, ords, raw)


def compute(bars: Bars, by_symbol: dict[str, list[adj.Action]], last: dt.date,
            seeds: dict[str, float] | None = None) -> tuple[dict[str, np.ndarray], dict[str, dict], list[adj.Skipped], int]:
    """Every field's float32 values for the bars, the per-symbol state, the skipped actions
    and the number of applied ones. ``seeds`` gives a symbol's previous raw close (factor 1)
    when its earlier bars are not part of ``bars`` (the append path)."""
    n = bars.n
    factor = np.ones(n, dtype=np.float64)
    per_symbol: dict[str, dict] = {}
    skipped_all: list[adj.Skipped] = []
    n_applied = 0
    close = bars.raw["close"]
    prev_adj = np.full(n, np.nan)
    for sym, a, b in bars.groups():
        eff = adj.in_range(adj.effective(by_symbol.get(sym, []), last), dt.date.fromordinal(int(bars.ords[a])))
        applied, skipped = adj.resolve(eff, bars.ords[a:b], close[a:b]) if eff else ([], [])
        if applied:
            factor[a:b] = adj.factors(bars.ords[a:b], applied)
        n_applied += len(applied)
        skipped_all += skipped
        seed = (seeds or {}).get(sym)
        if seed is not None:
            prev_adj[a] = seed * 1.0
        per_symbol[sym] = {
            "ticker": bars.ticker_of(b - 1),
            "first": dt.date.fromordinal(int(bars.ords[a])).isoformat(),
            "last": dt.date.fromordinal(int(bars.ords[b - 1])).isoformat(),
            "last_close": float(close[b - 1]),
            "fingerprint": adj.fingerprint(eff),
            "max_ex": max((x.ex_date for x in eff), default=dt.date.min).isoformat() if eff else "",
            "skipped": json.dumps([s.to_json() for s in skipped]),
            "applied": len(applied),
        }
    adj_close = close * factor
    if n:
        same = np.zeros(n, dtype=bool)
        same[1:] = bars.code[1:] == bars.code[:-1]
        shifted = np.empty(n)
        shifted[0] = np.nan
        shifted[1:] = adj_close[:-1]
        prev_adj = np.where(same, shifted, prev_adj)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = adj_close / prev_adj - 1.0
    values = {
        "open": bars.raw["open"] * factor,
        "high": bars.raw["high"] * factor,
        "low": bars.raw["low"] * factor,
        "close": adj_close,
        "volume": bars.raw["volume"] / factor,
        "factor": factor,
        "vwap": bars.raw["vwap"] * factor,
        "change": change,
    }
    return {k: v.astype("<f4") for k, v in values.items()}, per_symbol, skipped_all, n_applied


def receipt_json(result: UpdateResult) -> str:
    return json.dumps(result.summary(), indent=2) + "\n"
