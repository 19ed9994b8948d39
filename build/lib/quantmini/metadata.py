"""The metadata layer: one JSON sidecar per (layer, data_type, date) target.

Sidecars are the record of what each job did (status, records, bytes, seconds, error).
Watermarks, success rates and gap reports are *derived* from them, never kept separately,
so they cannot drift from what is on disk.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from . import atomic
from .faults import crash_point
from .paths import Lake
from .secrets import redact

# pending: the vendor has not published the file yet; the next run fetches it.
STATUSES = ("success", "failed", "skipped", "pending")


@dataclass
class Statistics:
    records: int = 0
    file_size_mb: float = 0.0
    processing_time_sec: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = {
            "records": int(self.records),
            "file_size_mb": round(float(self.file_size_mb), 6),
            "processing_time_sec": round(float(self.processing_time_sec), 3),
        }
        out.update(self.extra)
        return out


@dataclass
class Sidecar:
    data_type: str
    date: str
    layer: str
    status: str
    statistics: Statistics
    symbol: str | None = None
    error: str | None = None
    timestamp: str = ""
    window: str | None = None  # REST pulls: the window of the pull dated `date`

    def to_json(self) -> dict:
        if self.status not in STATUSES:
            raise ValueError(f"sidecar status must be one of {STATUSES}, got {self.status!r}")
        out = {
            "data_type": self.data_type,
            "date": self.date,
            "symbol": self.symbol,
            "status": self.status,
            "layer": self.layer,
            "timestamp": self.timestamp or dt.datetime.now().isoformat(),
            "statistics": self.statistics.to_json(),
            "error": redact(self.error) if self.error else None,
        }
        if self.window:
            out["window"] = self.window
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "Sidecar":
        stats = dict(obj.get("statistics") or {})
        base = Statistics(
            records=stats.pop("records", 0),
            file_size_mb=stats.pop("file_size_mb", 0.0),
            processing_time_sec=stats.pop("processing_time_sec", 0.0),
            extra=stats,
        )
        return cls(
            data_type=obj["data_type"],
            date=obj["date"],
            layer=obj["layer"],
            status=obj["status"],
            statistics=base,
            symbol=obj.get("symbol"),
            error=obj.get("error"),
            timestamp=obj.get("timestamp", ""),
            window=obj.get("window"),
        )


def file_size_mb(*paths: str | Path) -> float:
    total = 0
    for p in paths:
        try:
            total += Path(p).stat().st_size
        except FileNotFoundError:
            pass
    return total / 1_000_000


class JobRecorder:
    """Times one job and writes its sidecar: cleared at start, written last.

    Clearing first means a sidecar of a job that did not finish never says ``success``
    (an earlier run's record is gone before this run touches the data).
    """

    def __init__(self, lake: Lake, layer: str, data_type: str, date: str, part: str | None = None):
        self.lake = lake
        self.layer = layer
        self.data_type = data_type
        self.date = date
        self.part = part
        self.path = Path(lake.sidecar(layer, data_type, date, part))
        self.started = time.monotonic()
        self.path.unlink(missing_ok=True)
        from .store import forget_sidecar

        forget_sidecar(self.path, layer)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def write(self, status: str, records: int = 0, size_mb: float = 0.0, error: str | None = None, **extra) -> Sidecar:
        sidecar = Sidecar(
            data_type=self.data_type,
            date=self.date,
            layer=self.layer,
            status=status,
            statistics=Statistics(records=records, file_size_mb=size_mb, processing_time_sec=self.elapsed(), extra=extra),
            error=error,
            window=self.part,
        )
        with atomic.atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(sidecar.to_json(), indent=2) + "\n")
            crash_point("sidecar.mid_write")  # written, not yet renamed into place
        from .store import mirror_sidecar

        mirror_sidecar(self.path, self.layer)  # beside its layer when the lake is in a store
        return sidecar


def iter_sidecars(metadata_root: str | Path, layers: tuple[str, ...] | None = None) -> Iterator[Sidecar]:
    """Every job record, or only those of ``layers`` (a check of landing and bronze need not
    parse the gold and silver records of years of sessions)."""
    root = Path(metadata_root)
    if not root.is_dir():
        return
    # quality/ holds check reports (quantmini.quality), not job records
    names = layers or sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "quality")
    for layer in sorted(names):
        for path in sorted((root / layer).glob("*/[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.json")):
            try:
                yield Sidecar.from_json(json.loads(path.read_text()))
            except (json.JSONDecodeError, KeyError) as exc:
                raise ValueError(f"unreadable sidecar {path}: {exc}") from exc


@dataclass
class DatasetSummary:
    layer: str
    data_type: str
    total: int = 0
    success: int = 0
    skipped: int = 0
    failed: int = 0
    pending: int = 0
    records: int = 0
    size_mb: float = 0.0
    symbols: int = 0
    watermark: str | None = None
    first: str | None = None
    gaps: list[str] = field(default_factory=list)
    failed_dates: list[str] = field(default_factory=list)
    pending_dates: list[str] = field(default_factory=list)
    nulls: dict[str, int] = field(default_factory=dict)  # gold: nulls per column that matters

    @property
    def success_rate(self) -> float:
        return 100.0 * self.success / self.total if self.total else 0.0


def summarize(sidecars: Iterable[Sidecar]) -> list[DatasetSummary]:
    """Per (layer, data_type): counts, totals, watermark and the sessions missing below it.

    The watermark is the latest date with a successful sidecar; a gap is an XNYS session
    between the first and the latest success that has no successful sidecar.
    """
    groups: dict[tuple[str, str], DatasetSummary] = {}
    ok_dates: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sc in sidecars:
        key = (sc.layer, sc.data_type)
        s = groups.setdefault(key, DatasetSummary(layer=sc.layer, data_type=sc.data_type))
        s.total += 1
        if sc.status == "success":
            s.success += 1
            s.records += sc.statistics.records
            s.size_mb += sc.statistics.file_size_mb
            s.symbols = max(s.symbols, int(sc.statistics.extra.get("symbols", 0) or 0))
            for col, n in (sc.statistics.extra.get("nulls") or {}).items():
                s.nulls[col] = s.nulls.get(col, 0) + int(n)
            ok_dates[key].add(sc.date)
        elif sc.status == "skipped":
            s.skipped += 1
        elif sc.status == "pending":
            s.pending += 1
            s.pending_dates.append(sc.date)
        else:
            s.failed += 1
            s.failed_dates.append(sc.date)
    order = {"landing": 0, "bronze": 1, "silver": 2, "gold": 3}
    for key, s in groups.items():
        dates = sorted(ok_dates[key])
        if dates:
            s.first, s.watermark = dates[0], dates[-1]
            from .rest.datasets import REST_DATASETS
            from .sessions import sessions_between

            if s.data_type in REST_DATASETS or s.layer == "silver" or s.data_type.endswith("_qlib"):
                # pulled on a schedule / rebuilt from all pulls / one Qlib update per run (dated
                # by the store's last session, covering every day held): no session gaps here;
                # a missing day shows as a gap of its bronze
                continue
            expected = sessions_between(dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1]))
            s.gaps = [d.isoformat() for d in expected if d.isoformat() not in ok_dates[key]]
    return sorted(groups.values(), key=lambda s: (order.get(s.layer, 9), s.data_type))


def watermark_record(summary: DatasetSummary) -> dict:
    return {
        "data_type": summary.data_type,
        "symbol": None,
        "date": summary.watermark,
        "timestamp": dt.datetime.now().isoformat(),
    }


def write_watermarks(lake: Lake, summaries: Iterable[DatasetSummary]) -> list[Path]:
    written = []
    for s in summaries:
        path = Path(lake.watermark(s.layer, s.data_type))
        atomic.write_json(path, watermark_record(s))
        written.append(path)
    return written


def format_summary(summaries: Iterable[DatasetSummary]) -> str:
    """The text the operations guide shows in section 6 ("Viewing Metadata")."""
    lines: list[str] = []
    for s in summaries:
        lines.append(f"📊 {s.data_type} ({s.layer.capitalize()}):")
        lines.append(f"   Total jobs: {s.total}")
        lines.append(f"   Success: {s.success}, Skipped: {s.skipped}, Failed: {s.failed}" + (f", Pending: {s.pending}" if s.pending else ""))
        lines.append(f"   Success rate: {s.success_rate:.1f}%")
        if s.data_type.endswith("_qlib"):
            lines.append(f"   Symbols Converted: {s.symbols:,}")
        if s.layer != "landing":  # landing files are mirrored bytes: their size is the measure
            lines.append(f"   Records: {s.records:,}")
        if s.nulls:
            shown = ", ".join(f"{col} {n:,} ({100.0 * n / s.records if s.records else 0:.1f}%)" for col, n in s.nulls.items())
            lines.append(f"   Nulls: {shown}")
        # small REST pulls would all read "0.0 MB": kilobytes below a tenth of a megabyte
        lines.append(f"   Size: {s.size_mb:,.1f} MB" if s.size_mb >= 0.1 or not s.size_mb else f"   Size: {s.size_mb * 1000:,.1f} KB")
        lines.append(f"   Watermark: {s.watermark or '-'}")
        if s.gaps:
            shown = ", ".join(s.gaps[:10]) + (" ..." if len(s.gaps) > 10 else "")
            lines.append(f"   Gaps ({len(s.gaps)}): {shown}")
        if s.pending_dates:
            lines.append(f"   Pending (not yet published): {', '.join(sorted(s.pending_dates)[:10])}")
        if s.failed_dates:
            lines.append(f"   Failed dates: {', '.join(sorted(s.failed_dates)[:10])}")
        lines.append("")
    return "\n".join(lines) if lines else "No metadata recorded yet.\n"


def summary_tsv(summaries: Iterable[DatasetSummary]) -> str:
    header = "layer\tdata_type\tjobs\tsuccess\tskipped\tfailed\tsuccess_rate\trecords\tsize_mb\twatermark\tgaps\n"
    rows = [
        f"{s.layer}\t{s.data_type}\t{s.total}\t{s.success}\t{s.skipped}\t{s.failed}\t{s.success_rate:.1f}\t"
        f"{s.records}\t{s.size_mb:.3f}\t{s.watermark or ''}\t{len(s.gaps)}\n"
        for s in summaries
    ]
    return header + "".join(rows)


def as_dict(s: DatasetSummary) -> dict:
    d = asdict(s)
    d["success_rate"] = s.success_rate
    return d
