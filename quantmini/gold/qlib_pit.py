"""Point-in-time fundamentals in the Qlib store: ``silver/fundamentals_pit`` as Qlib's
``financial/`` database, so that ``D.features(["AAPL"], ["P($$revenue_q)"])`` gives on
each day the value the filings known that day stated.

Qlib's PIT provider (``qlib.data.data.LocalPITProvider``) reads, per instrument and field,
``financial/<instrument dir>/<field>_<q|a>.data`` and ``.index``:

- ``.data``: packed little-endian records ``(date uint32 YYYYMMDD, period uint32, value
  float64, next uint32)``, ordered by ``date``; ``next`` is the byte offset of the same
  period's following revision (``0xFFFFFFFF``: none), so each period's versions form a chain
  in the order they became known;
- ``.index``: ``first_year uint32``, then per period from that year's first on (four a year
  for quarters, one for years) the byte offset of the period's first record, or
  ``0xFFFFFFFF``.

On a day ``t`` Qlib takes the latest period among the records dated ``<= t`` and walks that
period's chain to its last version dated ``<= t``. Here:

- ``date`` is the version's ``known_date`` (the filing date, or the silver rule's period
  end + lag where the vendor gives none): an amendment appears from its own known date only;
- ``period`` is the calendar quarter of the period end (``year * 100 + quarter``) or, for
  annual filings, its calendar year: as Qlib's own collector derives it from the report
  date, so that one period number means the same months for every company whatever its
  fiscal year. Two fiscal periods ending in the same calendar quarter (a fiscal-year change)
  share the number; the later period end wins from the day it is known;
- a version that does not state a field (null) is not a record of that field: it neither
  hides the previous value nor stands for zero.

The files are rebuilt whole from silver on each run (silver holds every version, so a
rebuild is the truth), and only files whose bytes differ are replaced, each atomically;
files of fields or symbols silver no longer has are removed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .symbols import feature_dir_name, qlib_symbol

PIT_DIR = "financial"
NO_INDEX = 0xFFFFFFFF
RECORD = np.dtype([("date", "<u4"), ("period", "<u4"), ("value", "<f8"), ("_next", "<u4")])
SUFFIX = {"quarterly": "q", "annual": "a"}

# Qlib field name -> silver/fundamentals_pit column. Names a factor researcher types:
# P($$revenue_q), P($$eps_a), P($$roe_q).
FIELDS: dict[str, str] = {
    "revenue": "revenue",
    "gross_profit": "gross_profit",
    "operating_income": "operating_income",
    "net_income": "consolidated_net_income_loss",
    "eps": "diluted_earnings_per_share",
    "basic_eps": "basic_earnings_per_share",
    "shares": "basic_shares_outstanding",
    "equity": "total_equity",
    "assets": "total_assets",
    "liabilities": "total_liabilities",
    "current_assets": "total_current_assets",
    "current_liabilities": "total_current_liabilities",
    "operating_cash_flow": "net_cash_from_operating_activities",
    "free_cash_flow": "free_cash_flow",
    "gross_margin": "gross_margin",
    "operating_margin": "operating_margin",
    "net_margin": "net_margin",
    "roe": "return_on_equity",
    "roa": "return_on_assets",
    "current_ratio": "current_ratio",
    "debt_to_equity": "debt_to_equity",
    "asset_turnover": "asset_turnover",
}


def period_of(period_end: dt.date, timeframe: str) -> int:
    """Qlib's period number: ``YYYYQ`` as ``year * 100 + quarter`` (quarterly), ``YYYY``
    (annual), of the calendar quarter or year the period ends in."""
    if timeframe == "quarterly":
        return period_end.year * 100 + (period_end.month - 1) // 3 + 1
    return period_end.year


def _period_expr(end: pl.Expr, timeframe: str) -> pl.Expr:
    """:func:`period_of` over a column."""
    year = end.dt.year().cast(pl.Int64)
    return year * 100 + end.dt.quarter().cast(pl.Int64) if timeframe == "quarterly" else year


def _date_expr(day: pl.Expr) -> pl.Expr:
    """YYYYMMDD as Qlib's PIT records hold dates (Int64 throughout: months are Int8)."""
    return day.dt.year().cast(pl.Int64) * 10000 + day.dt.month().cast(pl.Int64) * 100 + day.dt.day().cast(pl.Int64)


def encode(rows: list[tuple[int, int, float]], quarterly: bool) -> tuple[bytes, bytes]:
    """The ``.data`` and ``.index`` bytes of one field of one symbol from its
    ``(date, period, value)`` records (any order; one record per (date, period))."""
    rows = sorted(rows)
    data = np.zeros(len(rows), dtype=RECORD)
    data["_next"] = NO_INDEX
    last_of: dict[int, int] = {}
    first_of: dict[int, int] = {}
    for i, (date, period, value) in enumerate(rows):
        data[i] = (date, period, value, NO_INDEX)
        if period in last_of:
            data[last_of[period]]["_next"] = i * RECORD.itemsize
        else:
            first_of[period] = i * RECORD.itemsize
        last_of[period] = i
    years = [p // 100 if quarterly else p for p in first_of]
    first_year, last_year = min(years), max(years)
    slots = (last_year - first_year + 1) * (4 if quarterly else 1)
    index = np.full(slots + 1, NO_INDEX, dtype="<u4")
    index[0] = first_year
    for period, offset in first_of.items():
        slot = (period // 100 - first_year) * 4 + period % 100 - 1 if quarterly else period - first_year
        index[1 + slot] = offset
    return data.tobytes(), index.tobytes()


def records(table: pl.DataFrame, timeframe: str) -> dict[tuple[str, str], list[tuple[int, int, float]]]:
    """Per (instrument directory, field file stem): the records of every version that states
    the field. ``table``: silver/fundamentals_pit rows of one timeframe."""
    out: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    if table.height == 0:
        return out
    suffix = SUFFIX[timeframe]
    cols = ["ticker", "period_end", "known_date", *dict.fromkeys(FIELDS.values())]
    # one version per (ticker, period, known date): the latest period end of the calendar period
    frame = table.select(cols).with_columns(
        _period_expr(pl.col("period_end"), timeframe).alias("_period"),
        _date_expr(pl.col("known_date")).alias("_date"),
    ).sort(["ticker", "_period", "_date", "period_end"])
    for (ticker,), group in frame.group_by(["ticker"], maintain_order=True):
        directory = feature_dir_name(qlib_symbol(ticker))
        for name, column in FIELDS.items():
            stated = group.filter(pl.col(column).is_not_null() & pl.col(column).is_finite())
            if stated.height == 0:
                continue
            last = stated.unique(["_period", "_date"], keep="last", maintain_order=True)
            rows = list(zip(last["_date"].to_list(), last["_period"].to_list(), last[column].to_list()))
            out.setdefault((directory, f"{name}_{suffix}"), []).extend(rows)
    return out


@dataclass
class PitResult:
    symbols: int = 0
    fields: int = 0
    records: int = 0
    files_written: int = 0
    files_removed: int = 0
    bytes: int = 0
    by_timeframe: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"symbols": self.symbols, "field_files": self.fields, "records": self.records,
                "files_written": self.files_written, "files_removed": self.files_removed, "bytes": self.bytes,
                "records_by_timeframe": dict(sorted(self.by_timeframe.items()))}


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    from .qlib_store import _replace

    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, data)
    return True


def write(qlib_root: str | Path, tables: dict[str, pl.DataFrame]) -> PitResult:
    """Bring ``<qlib_root>/financial`` to the Qlib PIT files of ``tables`` (timeframe ->
    silver/fundamentals_pit rows): changed files replaced atomically, stale ones removed."""
    root = Path(qlib_root) / PIT_DIR
    wanted: dict[Path, bytes] = {}
    result = PitResult()
    for timeframe, table in sorted(tables.items()):
        recs = records(table, timeframe)
        result.by_timeframe[timeframe] = sum(len(r) for r in recs.values())
        for (directory, stem), rows in recs.items():
            data, index = encode(rows, quarterly=timeframe == "quarterly")
            wanted[root / directory / f"{stem}.data"] = data
            wanted[root / directory / f"{stem}.index"] = index
    for path, data in sorted(wanted.items()):
        result.files_written += _write_if_changed(path, data)
        result.bytes += len(data)
    dirs = {p.parent.name for p in wanted}
    if root.exists():
        for entry in sorted(os.listdir(root)):
            if entry not in dirs:
                shutil.rmtree(root / entry)
                result.files_removed += 1
                continue
            for name in sorted(os.listdir(root / entry)):
                if root / entry / name not in wanted:
                    (root / entry / name).unlink()
                    result.files_removed += 1
    result.symbols = len(dirs)
    result.fields = len(wanted) // 2
    result.records = sum(result.by_timeframe.values())
    return result
