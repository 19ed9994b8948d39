"""Gaps per layer: the XNYS sessions a dataset should have in each layer, against the
success records of that same layer.

Each layer is checked on its own, so a later layer never masks an earlier one's gap (a gold
session whose bronze file was deleted still shows the bronze gap). A session whose latest
record is ``pending`` (not yet published) or ``failed`` is listed as such, not as missing.
Consecutive sessions with the same status are folded into one range.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .datasets import FLATFILE_DATASETS
from .metadata import iter_sidecars
from .paths import Lake
from .sessions import sessions_between

# The per-session layers of each flat-file dataset (the Qlib store is one update per run).
GOLD_SESSION_DATASETS = ("stocks_daily", "stocks_minute", "options_daily")
LAYER_ORDER = ("landing", "bronze", "gold")


@dataclass(frozen=True)
class Gap:
    """A run of consecutive sessions of one dataset and layer without a success record."""

    layer: str
    dataset: str
    status: str  # missing | pending | failed
    start: str
    end: str
    sessions: int

    @property
    def line(self) -> str:
        span = self.start if self.start == self.end else f"{self.start} .. {self.end}"
        return f"{self.layer:<8} {self.dataset:<15} {self.status:<8} {span} ({self.sessions} session{'s' * (self.sessions != 1)})"


def layers_for(dataset: str, gold_features: bool = True) -> tuple[str, ...]:
    if gold_features and dataset in GOLD_SESSION_DATASETS:
        return ("landing", "bronze", "gold")
    return ("landing", "bronze")


def find(lake: Lake, datasets=None, start: dt.date | None = None, end: dt.date | None = None,
         gold_features: bool = True, first_dates: dict | None = None) -> list[Gap]:
    """Gaps of each dataset, per layer, between its first date and ``end``.

    A dataset's first date is ``first_dates[dataset]`` (config ``dataset_start``), else the
    earliest session any of its layers records; ``end`` defaults to the latest session any of
    them records (falling behind the calendar is the freshness check's business).
    """
    datasets = tuple(datasets or FLATFILE_DATASETS)
    status: dict[tuple[str, str], dict[str, str]] = {}
    for sc in iter_sidecars(lake.metadata_root()):
        if sc.window is None and sc.data_type in datasets and sc.layer in LAYER_ORDER:
            status.setdefault((sc.layer, sc.data_type), {})[sc.date] = sc.status
    gaps: list[Gap] = []
    for ds in datasets:
        layers = layers_for(ds, gold_features)
        seen = sorted({d for layer in layers for d in status.get((layer, ds), {})})
        if not seen and not (first_dates or {}).get(ds):
            continue
        first = (first_dates or {}).get(ds) or seen[0]
        first = dt.date.fromisoformat(str(first)) if not isinstance(first, dt.date) else first
        if start and start > first:
            first = start
        last = end or (dt.date.fromisoformat(seen[-1]) if seen else first)
        expected = [d.isoformat() for d in sessions_between(first, last)]
        waiting: set[str] = set()  # sessions an earlier layer is waiting for: pending here too
        for layer in layers:
            held = status.get((layer, ds), {})
            missing = [(d, "pending" if d in waiting else _state(held.get(d)))
                       for d in expected if held.get(d) not in ("success", "skipped")]
            waiting |= {d for d, st in missing if st == "pending"}
            gaps += _fold(layer, ds, missing, expected)
    return gaps


def _state(status: str | None) -> str:
    return {"pending": "pending", "failed": "failed"}.get(status or "", "missing")


def _fold(layer: str, dataset: str, missing: list[tuple[str, str]], expected: list[str]) -> list[Gap]:
    """Fold consecutive sessions (in XNYS order) with one status into a Gap each."""
    index = {d: i for i, d in enumerate(expected)}
    out: list[Gap] = []
    run: list[tuple[str, str]] = []
    for d, st in missing:
        if run and (st != run[-1][1] or index[d] != index[run[-1][0]] + 1):
            out.append(Gap(layer, dataset, run[0][1], run[0][0], run[-1][0], len(run)))
            run = []
        run.append((d, st))
    if run:
        out.append(Gap(layer, dataset, run[0][1], run[0][0], run[-1][0], len(run)))
    return out


def sessions_to_fill(gaps: list[Gap], include_pending: bool = False) -> dict[str, list[str]]:
    """Per dataset, every session some layer lacks (pending ones only when asked: their
    file is not published yet, asking again costs a request and fails)."""
    out: dict[str, set[str]] = {}
    for g in gaps:
        if g.status == "pending" and not include_pending:
            continue
        days = sessions_between(dt.date.fromisoformat(g.start), dt.date.fromisoformat(g.end))
        out.setdefault(g.dataset, set()).update(d.isoformat() for d in days)
    return {ds: sorted(days) for ds, days in out.items()}


def format_gaps(gaps: list[Gap]) -> str:
    if not gaps:
        return "no gaps: every expected session is held in every layer"
    total = sum(g.sessions for g in gaps)
    lines = [f"{len(gaps)} gap range(s), {total} layer-sessions:", f"{'layer':<8} {'dataset':<15} {'status':<8} sessions"]
    lines += [g.line for g in sorted(gaps, key=lambda g: (g.dataset, LAYER_ORDER.index(g.layer), g.start))]
    return "\n".join(lines)
