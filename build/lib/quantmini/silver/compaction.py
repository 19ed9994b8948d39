"""Compaction: move the bronze pulls that no longer decide anything out of silver's input.

Silver is rebuilt from every pull the lake holds; daily pulls make that thousands of files
over the years. A pull is **superseded** when later pulls decide everything it says, so
leaving it out cannot change silver (tested: byte-identical files):

- a dated-window dataset (dividends, splits, IPOs: an event is withdrawn when a later pull's
  window covers its date without it): every day of the pull's window, and every row's
  date, lie in the windows of later pulls (a row without a date never qualifies);
- a keyed dataset (fundamentals, ticker events: the latest pull's row per key wins): every
  row's key is in a later pull.

With the default schedule, the monthly 2-year corporate-actions backfill supersedes the
month's daily pulls, so the input stays about a month of daily pulls plus the backfills.
Superseded pulls are moved, not deleted, to ``bronze/_superseded/<dataset>/...`` (the same
``pull_date=/window=`` layout): still on disk for an audit, out of the rebuild's glob.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..paths import Lake
from .pulls import read_ordered

DATED = {"dividends": "ex_dividend_date", "splits": "execution_date", "ipos": "listing_date"}
KEYED = {"fundamentals": ["ticker", "period_end", "filing_date", "timeframe"],
         "ticker_events": ["requested", "event_date", "ticker"]}
DATASETS = (*DATED, *KEYED)
SUPERSEDED_DIR = "_superseded"


@dataclass(frozen=True)
class Plan:
    dataset: str
    keep: tuple[str, ...]
    superseded: tuple[str, ...]


def _covered(start, end, windows: list[tuple]) -> bool:
    """Whether [start, end] lies in the union of ``windows`` (inclusive date ranges)."""
    import datetime as dt

    day = start
    for ws, we in sorted(windows):
        if ws > day:
            return False
        if we >= day:
            day = we + dt.timedelta(days=1)
        if day > end:
            return True
    return day > end


def plan(dataset: str, paths: list[str]) -> Plan:
    """Which of ``paths`` (one dataset's pulls) are superseded by the others."""
    superseded = []
    if dataset in DATED:
        column = DATED[dataset]
        ordered = read_ordered(paths, ["pulled_at", column])
        later: list[tuple] = []
        for pull, frame in reversed(ordered):  # newest first: ``later`` holds the windows after this pull
            w = pull.window
            if w.start is not None and later:
                dates = frame[column].to_list()
                spans = [(w.start, w.end)] + [(d, d) for d in dates if d is not None]
                if None not in dates and all(_covered(s, e, later) for s, e in spans):
                    superseded.append(pull)
            if w.start is not None:
                later.append((w.start, w.end))
    elif dataset in KEYED:
        key = KEYED[dataset]
        ordered = read_ordered(paths, ["pulled_at", *key])
        seen: pl.DataFrame | None = None
        for pull, frame in reversed(ordered):
            keys = frame.select(key).unique()
            if seen is not None and keys.height and keys.join(seen, on=key, how="anti", nulls_equal=True).height == 0:
                superseded.append(pull)
            seen = keys if seen is None else pl.concat([seen, keys]).unique()
    else:
        raise ValueError(f"compaction: {dataset!r} is not a silver source ({', '.join(DATASETS)})")
    gone = {p.path.as_posix() for p in superseded}
    return Plan(dataset, tuple(p.path.as_posix() for p, _ in ordered if p.path.as_posix() not in gone),
                tuple(sorted(gone)))


def apply(lake: Lake, plans: list[Plan]) -> int:
    """Move the superseded pulls under ``bronze/_superseded/`` (a rename each: a crash
    leaves every pull either in place or moved, never half-written)."""
    moved = 0
    bronze = Path(lake.root) / "bronze"
    for p in plans:
        for path in p.superseded:
            rel = Path(path).resolve().relative_to(bronze.resolve())
            dest = bronze / SUPERSEDED_DIR / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            moved += 1
            for parent in (Path(path).parent, Path(path).parent.parent):  # window=, pull_date= dirs left empty
                try:
                    parent.rmdir()
                except OSError:
                    break
    return moved
