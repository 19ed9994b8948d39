"""The gold Qlib binary store, updated one trading day at a time.

Layout (Qlib's file storage): ``calendars/day.txt`` (one session per line),
``instruments/all.txt`` (``CODE<TAB>first<TAB>last``), ``features/<fname>/<field>.day.bin``
(little-endian float32: the first value is the calendar index of the symbol's first date,
then one value per session, NaN for sessions without a bar).

Adding a day writes only that day's values: an in-place write when the day is inside a
symbol's span, an append (with NaN padding) after it, and a rewrite of that one symbol's
files only when the day comes before its first date. Every step is idempotent, so a job
that dies midway is repaired by rerunning it. Callers serialise updates; the store also
takes an exclusive ``flock`` so that two processes can never interleave.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from . import atomic
from .faults import crash_point
from .sessions import sessions_between

FIELDS = ("open", "high", "low", "close", "volume", "factor")
FREQ = "day"
_NAN = struct.pack("<f", float("nan"))
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} | {f"LPT{i}" for i in range(10)}


def code_to_fname(code: str) -> str:
    """Qlib's ``qlib.utils.code_to_fname``: names Windows reserves get a ``_qlib_`` prefix."""
    return "_qlib_" + code if code.upper() in _RESERVED else code


def feature_dir_name(code: str) -> str:
    """Qlib lower-cases the directory name when it reads features."""
    return code_to_fname(code).lower()


class StoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class ApplyResult:
    date: str
    symbols: int
    new_symbols: int
    calendar_length: int


class QlibStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.calendar_path = self.root / "calendars" / f"{FREQ}.txt"
        self.instruments_path = self.root / "instruments" / "all.txt"
        self.features = self.root / "features"
        self.journal = self.root / ".journal.json"

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

    def read_feature(self, code: str, field: str) -> tuple[int, np.ndarray]:
        data = np.fromfile(self.features / feature_dir_name(code) / f"{field}.{FREQ}.bin", dtype="<f4")
        return int(data[0]), data[1:]

    # -- locking -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # -- writing -----------------------------------------------------------------------------
    def apply_day(self, date: dt.date, bars: pa.Table) -> ApplyResult:
        """Write one session's bars (bronze schema: ticker, open, high, low, close, volume)."""
        day = date.isoformat()
        with self.locked():
            self._recover()
            calendar = self._extend_calendar(date)
            index = calendar.index(day)
            instruments = self.instruments()
            tickers = bars.column("ticker").to_pylist()
            self._check_names(tickers, instruments)
            columns = {f: bars.column(f).to_numpy(zero_copy_only=False).astype("<f4") for f in FIELDS if f != "factor"}
            columns["factor"] = np.ones(len(tickers), dtype="<f4")
            new_symbols = 0
            spans_changed = False
            halfway = len(tickers) // 2
            for row, code in enumerate(tickers):
                if row == halfway:
                    crash_point("qlib.mid_update")
                folder = self.features / feature_dir_name(code)
                folder.mkdir(parents=True, exist_ok=True)
                for field in FIELDS:
                    _write_value(folder / f"{field}.{FREQ}.bin", index, columns[field][row])
                span = instruments.get(code)
                if span is None:
                    instruments[code] = [day, day]
                    new_symbols += 1
                    spans_changed = True
                elif not span[0] <= day <= span[1]:
                    span[0], span[1] = min(span[0], day), max(span[1], day)
                    spans_changed = True
            if spans_changed:  # a rebuilt day inside every span leaves the file (and mtime) alone
                self._write_instruments(instruments)
            return ApplyResult(day, len(tickers), new_symbols, len(calendar))

    def _write_instruments(self, instruments: dict[str, list[str]]) -> None:
        text = "".join(f"{code}\t{s}\t{e}\n" for code, (s, e) in sorted(instruments.items()))
        atomic.write_text(self.instruments_path, text)

    def _check_names(self, tickers: list[str], instruments: dict[str, list[str]]) -> None:
        owner = {feature_dir_name(c): c for c in instruments}
        for code in tickers:
            fname = feature_dir_name(code)
            other = owner.setdefault(fname, code)
            if other != code:
                raise StoreError(
                    f"tickers {other!r} and {code!r} map to the same Qlib directory features/{fname} "
                    "(Qlib lower-cases symbol directories)"
                )

    def _extend_calendar(self, date: dt.date) -> list[str]:
        calendar = self.calendar()
        day = date.isoformat()
        if day in calendar:
            return calendar
        start = min(calendar[0], day) if calendar else day
        end = max(calendar[-1], day) if calendar else day
        new = [d.isoformat() for d in sessions_between(dt.date.fromisoformat(start), dt.date.fromisoformat(end))]
        if day not in new:
            raise StoreError(f"{day} is not an XNYS session; the Qlib calendar holds sessions only")
        shifted = bool(calendar) and new[0] != calendar[0]
        if shifted:
            # The calendar grows at the front: every symbol's first value (its start index)
            # must move. Journal first so a crash between the two steps is repaired.
            atomic.write_json(self.journal, {"op": "reindex", "calendar_start": new[0]})
        atomic.write_text(self.calendar_path, "".join(f"{d}\n" for d in new))
        if shifted:
            self._reindex(new)
            self.journal.unlink()
        return new

    def _recover(self) -> None:
        if self.journal.exists():
            self._reindex(self.calendar())
            self.journal.unlink()

    def _reindex(self, calendar: list[str]) -> None:
        """Set every feature file's start index from its symbol's first date (idempotent)."""
        position = {d: i for i, d in enumerate(calendar)}
        for code, (start, _end) in self.instruments().items():
            folder = self.features / feature_dir_name(code)
            for path in folder.glob(f"*.{FREQ}.bin"):
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.pwrite(fd, struct.pack("<f", float(position[start])), 0)
                finally:
                    os.close(fd)


def _write_value(path: Path, index: int, value: np.float32) -> None:
    """Set the value at calendar ``index`` in one feature file, creating or extending it.

    Crash-safe without a temporary file: every write is at an offset computed from the
    file's own header and length, so redoing it after a crash gives the same bytes; a torn
    append (a size that is not a multiple of 4) is truncated before use. Only the rare
    prepend (a day before the symbol's first date) rewrites the file, via rename.
    """
    packed = struct.pack("<f", float(value))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size % 4:
            size -= size % 4
            os.ftruncate(fd, size)
        if size < 4:
            os.pwrite(fd, struct.pack("<f", float(index)) + packed, 0)
            return
        start = int(struct.unpack("<f", os.pread(fd, 4, 0))[0])
        count = size // 4 - 1
        if start <= index < start + count:
            os.pwrite(fd, packed, 4 * (1 + index - start))
        elif index >= start + count:
            os.pwrite(fd, _NAN * (index - start - count) + packed, size)
        else:
            old = os.pread(fd, size - 4, 4)
            with atomic.atomic_path(path, durable=False) as tmp:
                tmp.write_bytes(struct.pack("<f", float(index)) + packed + _NAN * (start - index - 1) + old)
    finally:
        os.close(fd)


def receipt(result: ApplyResult, source_rows: int) -> dict:
    """The per-day output of the gold rule: deterministic (no timestamps), so reruns that
    produce the same store do not look like changes to Snakemake."""
    return {
        "date": result.date,
        "symbols": result.symbols,
        "records": source_rows,
    }


def receipt_json(result: ApplyResult, source_rows: int) -> str:
    return json.dumps(receipt(result, source_rows), indent=2) + "\n"
