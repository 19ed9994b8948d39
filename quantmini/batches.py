"""Backfill batches: one job builds a month of sessions of one dataset.

A per-session job costs Snakemake's scheduling and bookkeeping (~0.03-0.07 s a job on this
machine, more than a small session's work) and a gold session re-reads its whole look-back
window; a 20-year backfill is ~15,000 such jobs. So when a run's window holds at least
``backfill_batch_sessions`` sessions of a dataset that the lake has not got, the planner
(quantmini/plan.py) groups them by month into batches, and one rule per batch
(rules/backfill.smk) builds every file of its sessions, through the same job bodies as the
per-session rules (quantmini/jobs.py), so the files are byte for byte the ones those write.

Which rule made a file must not change later: Snakemake records each file's rule, code,
inputs and parameters, and a file it finds recorded by another rule it rebuilds. So a batch
that completes leaves a manifest of its sessions (``.quantmini/batches/...``), and every
later plan declares the same batch rule for them: a nightly run that re-checks a batched
session finds it up to date, a correction of one reruns its month (the same bytes for the
other sessions), and new sessions are per-session jobs.

Kinds: ``flatfile`` (landing download and bronze conversion of a flat-file dataset) and
``gold`` (gold stocks_daily features, whose month reads each bronze day once).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

from . import atomic
from .paths import Lake

KINDS = ("flatfile", "gold")


@dataclass(frozen=True)
class Batch:
    """Sessions (ISO dates, ascending, one month) of one dataset that one job builds."""

    kind: str
    dataset: str
    sessions: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"batch kind {self.kind!r}: not one of {', '.join(KINDS)}")
        if not self.sessions or list(self.sessions) != sorted(set(self.sessions)):
            raise ValueError(f"batch {self.kind} {self.dataset}: sessions must be distinct and ascending")

    @property
    def first(self) -> str:
        return self.sessions[0]

    @property
    def last(self) -> str:
        return self.sessions[-1]

    @property
    def rule_name(self) -> str:
        """The Snakemake rule of this batch (a rule name is an identifier)."""
        return f"backfill_{self.kind}_{self.dataset}_{self.first.replace('-', '')}_{self.last.replace('-', '')}"

    def manifest(self, lake: Lake) -> str:
        return lake.batch_manifest(self.kind, self.dataset, self.first, self.last)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "dataset": self.dataset, "sessions": list(self.sessions)}, indent=1) + "\n"


def by_month(kind: str, dataset: str, sessions: list[str]) -> list[Batch]:
    """One batch per calendar month of ``sessions``."""
    ordered = sorted(set(sessions))
    return [Batch(kind, dataset, tuple(group)) for _, group in itertools.groupby(ordered, key=lambda d: d[:7])]


def read_manifest(path: str) -> Batch:
    """A completed batch from its manifest; a manifest that is not one is an error naming it."""
    try:
        data = json.loads(Path(path).read_text())
        return Batch(str(data["kind"]), str(data["dataset"]), tuple(str(s) for s in data["sessions"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a backfill batch manifest ({exc}); delete it to plan its sessions one by one") from None


def write_manifest(batch: Batch, path: str) -> None:
    """Written last by the batch's job, atomically: its presence means every file is built."""
    atomic.write_text(path, batch.to_json())
