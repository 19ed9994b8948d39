"""Data-quality checks (the operations guide's "Data Quality Metrics", and more).

Each check is a pure function of what the lake holds: the metadata sidecars (freshness,
success rate, record counts, OHLC counts, late files) and, for stocks_daily, the bars
themselves (coverage against the reference tickers, bad prints). ``evaluate`` runs them for
a run's sessions; ``write_reports`` stores one JSON file per dataset and run under
``metadata/quality/`` plus ``latest.json``, so the cron wrapper, ``quantmini quality`` and
the HTML report all read one record. Thresholds come from config (``quality_*`` keys).

Rows are flagged, never dropped: a bad print stays in bronze and gold; the report names it.
"""

from __future__ import annotations

import bisect

import datetime as dt
import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from . import atomic
from .metadata import Sidecar, iter_sidecars
from .paths import Lake, split_date
from .store import readable

OK, ALERT, SKIPPED = "ok", "alert", "skipped"


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds; config keys are ``quality_<field>`` (e.g. quality_freshness_days),
    their defaults in config/schema.yaml."""

    freshness_days: int  # the guide: alert if the latest data is older than 14 days
    coverage_min_pct: float  # of the reference tickers' active common stocks
    success_rate_min_pct: float
    record_ratio: float  # alert when records differ from the trailing median by this factor
    record_trailing_sessions: int
    ohlc_max_rows: int  # bars with high/low not bounding open/close, or a zero price
    bad_print_pct: float  # a high (low) this far above (below) the bar's body ...
    bad_print_range_multiple: float  # ... and this many times the neighbours' usual range
    bad_print_neighbours: int  # held sessions before the bar that define "usual"
    pending_alert_hours: float  # a file still unpublished this long after it was due

    @classmethod
    def from_config(cls, config: dict) -> "Thresholds":
        from .settings import with_defaults

        config = with_defaults({k: v for k, v in config.items() if v not in (None, "")})
        kinds = {"int": int, "float": float}
        return cls(**{f.name: kinds[str(f.type)](config[f"quality_{f.name}"]) for f in fields(cls)})


@dataclass
class Check:
    """One check's verdict for one dataset (and session, where it is per session)."""

    check: str
    dataset: str
    status: str  # ok | alert | skipped
    detail: str
    value: float | None = None
    threshold: float | None = None
    date: str | None = None
    rows: list[dict] = field(default_factory=list)  # flagged rows (bad prints), at most 50

    @property
    def line(self) -> str:
        where = f" {self.date}" if self.date else ""
        return f"{self.dataset}{where}: {self.check}: {self.detail}"


# -- pure checks ---------------------------------------------------------------------------


def freshness(dataset: str, watermark: str | None, as_of: dt.date, limit: int) -> Check:
    """Calendar days from the dataset's latest successful bronze session to ``as_of``."""
    if watermark is None:
        return Check("freshness", dataset, ALERT, "no session held", None, limit)
    days = (as_of - dt.date.fromisoformat(watermark)).days
    status = ALERT if days > limit else OK
    return Check("freshness", dataset, status, f"latest session {watermark}, {days} days before {as_of} (limit {limit})",
                 days, limit)


def success_rate(dataset: str, sidecars: list[Sidecar], minimum: float) -> Check:
    """Share of the run's landing and bronze jobs whose latest record is a success (pending
    files are not failures: they have their own lateness check)."""
    counted = [s for s in sidecars if s.status != "pending"]
    if not counted:
        return Check("success_rate", dataset, SKIPPED, "no jobs recorded for these sessions")
    ok = sum(s.status in ("success", "skipped") for s in counted)
    rate = 100.0 * ok / len(counted)
    failed = sorted({f"{s.layer} {s.date}" for s in counted if s.status == "failed"})
    detail = f"{rate:.1f}% of {len(counted)} jobs succeeded (minimum {minimum:g}%)"
    if failed:
        detail += f"; failed: {', '.join(failed[:5])}" + (" ..." if len(failed) > 5 else "")
    return Check("success_rate", dataset, ALERT if rate < minimum else OK, detail, round(rate, 2), minimum)


def record_count(dataset: str, date: str, records: int, trailing: list[int], ratio: float) -> Check:
    """Zero records, or a count ``ratio`` times above or below the trailing median."""
    if records == 0:
        return Check("records", dataset, ALERT, "0 records", 0, ratio, date)
    if not trailing:
        return Check("records", dataset, OK, f"{records:,} records (no trailing sessions to compare)", records, ratio, date)
    median = statistics.median(trailing)
    factor = records / median if median else float("inf")
    far = factor > ratio or factor < 1 / ratio
    detail = f"{records:,} records, {factor:.2f}x the median {median:,.0f} of the {len(trailing)} sessions before"
    return Check("records", dataset, ALERT if far else OK, detail, round(factor, 4), ratio, date)


def ohlc(dataset: str, date: str, stats: dict, limit: int) -> Check:
    """Bars kept by bronze whose high/low do not bound open/close, or with a zero price
    (negative prices or volumes are refused by bronze and show as a failed job)."""
    bad = int(stats.get("ohlc_inconsistent_rows", 0) or 0) + int(stats.get("zero_price_rows", 0) or 0)
    detail = (f"{stats.get('ohlc_inconsistent_rows', 0) or 0:,} bars with high/low not bounding open/close, "
              f"{stats.get('zero_price_rows', 0) or 0:,} with a zero price")
    if stats.get("ohlc_inconsistent_first_line"):
        detail += f" (first at line {stats['ohlc_inconsistent_first_line']})"
    return Check("ohlc", dataset, ALERT if bad > limit else OK, detail, bad, limit, date)


def coverage(dataset: str, date: str, with_bar: set[str], reference: set[str], minimum: float,
             reference_date: str | None) -> Check:
    """Share of the reference tickers' active common stocks that have a bar on ``date``."""
    if not reference:
        return Check("coverage", dataset, SKIPPED, "no reference tickers pull held (bronze/tickers, window=active)",
                     date=date)
    have = len(reference & with_bar)
    pct = 100.0 * have / len(reference)
    detail = (f"{pct:.1f}% of {len(reference):,} active common stocks (tickers pull of {reference_date}) have a bar "
              f"(minimum {minimum:g}%)")
    return Check("coverage", dataset, ALERT if pct < minimum else OK, detail, round(pct, 2), minimum, date)


def bad_print_suspects(day, pct: float) -> set[str]:
    """Tickers whose high or low lies more than ``pct`` outside the bar's body: the only bars
    :func:`bad_prints` can flag (its limit is never below ``pct``)."""
    import numpy as np

    up = (day["high"] / np.maximum(day["open"], day["close"]) - 1.0) * 100.0
    down = (1.0 - day["low"] / np.minimum(day["open"], day["close"])) * 100.0
    return set(day.loc[(up > pct) | (down > pct), "ticker"])


def bad_prints(day, neighbours, pct: float, multiple: float):
    """Rows of ``day`` (pandas: ticker, open, high, low, close) whose high or low lies far
    outside the bar's body and the ticker's usual range.

    Split-proof: both sides are ratios within a bar (high / max(open, close), the
    neighbours' (high - low) / close), never a price compared across sessions, so a 10:1
    split between neighbours does not look like a bad print, and a real bad print after one
    (NVDA on 2024-06-10: high 195.95 on a 121 close) is found without adjusting anything.
    Returns the flagged rows with ``side`` (high/low), ``excursion_pct`` and ``usual_range_pct``.
    """
    import numpy as np
    import pandas as pd

    body_hi = np.maximum(day["open"], day["close"])
    body_lo = np.minimum(day["open"], day["close"])
    up = (day["high"] / body_hi - 1.0) * 100.0
    down = (1.0 - day["low"] / body_lo) * 100.0
    if len(neighbours):
        rng = ((neighbours["high"] - neighbours["low"]) / neighbours["close"] * 100.0).rename("range")
        usual = rng.groupby(neighbours["ticker"]).median()
        usual = day["ticker"].map(usual).fillna(0.0)
    else:
        usual = pd.Series(0.0, index=day.index)
    limit = np.maximum(pct, multiple * usual)
    out = []
    for side, exc in (("high", up), ("low", down)):
        hit = exc > limit
        if hit.any():
            rows = day.loc[hit, ["ticker", "open", "high", "low", "close"]].copy()
            rows["side"] = side
            rows["excursion_pct"] = exc[hit].round(2)
            rows["usual_range_pct"] = usual[hit].round(2)
            out.append(rows)
    if not out:
        return day.iloc[0:0].assign(side="", excursion_pct=0.0, usual_range_pct=0.0)
    return pd.concat(out).sort_values(["ticker", "side"]).reset_index(drop=True)


def pending_late(dataset: str, sidecars: list[Sidecar], now: dt.datetime, hours: float, publish_time: str) -> Check:
    """Files still unpublished ``hours`` after they were due (the next calendar day at
    ``publish_time`` New York)."""
    from .sessions import hours_overdue

    late, waiting = [], []
    for s in sidecars:
        if s.status != "pending":
            continue
        overdue = hours_overdue(dt.date.fromisoformat(s.date), now, publish_time)
        (late if overdue > hours else waiting).append(s.date)
    late, waiting = sorted(set(late)), sorted(set(waiting))
    if late:
        return Check("pending", dataset, ALERT, f"not published {hours:g} h after due: {', '.join(late[:5])}",
                     len(late), hours)
    detail = f"waiting for publication: {', '.join(waiting)}" if waiting else "no file waiting for publication"
    return Check("pending", dataset, OK, detail, len(waiting), hours)


# -- evaluating a run ----------------------------------------------------------------------


def _latest(sidecars) -> dict[tuple[str, str, str], Sidecar]:
    """The record per (layer, data_type, date): one file each, so the one on disk."""
    return {(s.layer, s.data_type, s.date): s for s in sidecars if s.window is None}


def evaluate(lake: Lake, sessions: list[str], datasets: list[str], thresholds: Thresholds,
             now: dt.datetime | None = None, publish_time: str = "11:00") -> list[Check]:
    """Every check for ``datasets`` over ``sessions`` (a run's window), from the lake as it is."""
    from .sessions import now_utc, sessions_back

    now = now or now_utc()
    if not sessions:
        return []
    records = _latest(iter_sidecars(lake.metadata_root(), layers=("landing", "bronze")))
    as_of = dt.date.fromisoformat(sessions[-1])
    checks: list[Check] = []
    for ds in datasets:
        bronze_ok = sorted(d for (layer, name, d), s in records.items()
                           if layer == "bronze" and name == ds and s.status == "success")
        held = [d for d in bronze_ok if d <= sessions[-1]]
        checks.append(freshness(ds, held[-1] if held else None, as_of, thresholds.freshness_days))
        run = [s for (layer, name, d), s in records.items() if layer in ("landing", "bronze") and name == ds and d in sessions]
        checks.append(success_rate(ds, run, thresholds.success_rate_min_pct))
        checks.append(pending_late(ds, run, now, thresholds.pending_alert_hours, publish_time))
        by_date = {d: records[("bronze", ds, d)] for d in bronze_ok}
        for d in sessions:
            sc = by_date.get(d)
            if sc is None:
                continue
            earlier = [x.isoformat() for x in sessions_back(dt.date.fromisoformat(d), thresholds.record_trailing_sessions + 1)][:-1]
            trailing = [by_date[e].statistics.records for e in earlier if e in by_date]
            checks.append(record_count(ds, d, sc.statistics.records, trailing, thresholds.record_ratio))
            checks.append(ohlc(ds, d, sc.statistics.extra, thresholds.ohlc_max_rows))
        if ds == "stocks_daily":
            checks += _bar_checks(lake, [d for d in sessions if d in by_date], bronze_ok, thresholds)
    return checks


def _bar_checks(lake: Lake, dates: list[str], held: list[str], t: Thresholds) -> list[Check]:
    """Coverage and bad prints of stocks_daily, from the bars (five columns per session)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from .rest.reference import active_common_stocks, active_pulls

    cols = ["ticker", "open", "high", "low", "close"]
    cache: dict[str, pd.DataFrame] = {}
    pulls = active_pulls(lake.root)  # listed once; each pull read once (active_common_stocks caches)

    def bars(d: str) -> pd.DataFrame:
        if d not in cache:
            cache[d] = pq.read_table(readable(lake.bronze("stocks_daily", d)), columns=cols).to_pandas()
        return cache[d]

    out = []
    for d in dates:
        day = bars(d)
        ref_date, ref_path = ([x for x in pulls if x[0] <= d] or [(None, None)])[-1]
        ref = set(active_common_stocks(ref_path)) if ref_path else set()
        with_bar = set(day["ticker"].tolist()) if ref else set()  # skipped without a reference
        out.append(coverage("stocks_daily", d, with_bar, ref, t.coverage_min_pct, ref_date))
        before = held[max(0, bisect.bisect_left(held, d) - t.bad_print_neighbours):bisect.bisect_left(held, d)]
        # Only a bar beyond the floor (bad_print_pct) can be flagged, so the neighbours are
        # read for those tickers alone, and not at all on a day without one (most days: a
        # long backfill's checks would otherwise concatenate ten sessions per session).
        suspects = bad_print_suspects(day, t.bad_print_pct)
        if suspects:
            neighbours = pd.concat([bars(h) for h in before]) if before else day.iloc[0:0]
            neighbours = neighbours[neighbours["ticker"].isin(suspects)]
        else:
            neighbours = day.iloc[0:0]
        flagged = bad_prints(day, neighbours, t.bad_print_pct, t.bad_print_range_multiple)
        rows = flagged.head(50).to_dict("records")
        if len(flagged):
            names = ", ".join(f"{r['ticker']} {r['side']} {r[r['side']]}" for r in rows[:5])
            detail = f"{len(flagged)} bars flagged (kept), e.g. {names}"
        else:
            detail = "no bar outside its body and usual range"
        out.append(Check("bad_prints", "stocks_daily", ALERT if len(flagged) else OK, detail, len(flagged),
                         t.bad_print_pct, d, rows))
        for h in list(cache):
            if h < (before[0] if before else d):
                del cache[h]
    return out


def evaluate_config(lake: Lake, config: dict, sessions: list[str], datasets: list[str]) -> list[Check]:
    """``evaluate`` with the config's thresholds and publication time: the one call the
    workflow's end-of-run hook, ``quantmini quality`` and the report share."""
    from .settings import with_defaults

    config = with_defaults(dict(config))
    return evaluate(lake, sessions, datasets, Thresholds.from_config(config), publish_time=str(config["publish_time"]))


def alerts(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == ALERT]


def write_reports(lake: Lake, checks: list[Check], sessions: list[str], datasets: list[str]) -> list[Path]:
    """One file per dataset for the run (``metadata/quality/<dataset>/YYYY/MM/<last session>.json``)
    and ``metadata/quality/latest.json`` with all of them; each written whole, then renamed."""
    if not sessions:
        return []
    end = sessions[-1]
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    by_ds: dict[str, list[Check]] = defaultdict(list)
    for c in checks:
        by_ds[c.dataset].append(c)
    written = []
    for ds in datasets:
        y, m, _ = split_date(end)
        path = Path(lake.metadata_root()) / "quality" / ds / y / m / f"{end}.json"
        doc = {"dataset": ds, "sessions": [sessions[0], end], "timestamp": stamp,
               "alerts": len(alerts(by_ds[ds])), "checks": [asdict(c) for c in by_ds[ds]]}
        if _write_if_changed(path, doc):
            written.append(path)
    latest = Path(lake.metadata_root()) / "quality" / "latest.json"
    doc = {"sessions": [sessions[0], end], "datasets": list(datasets), "timestamp": stamp,
           "alerts": [c.line for c in alerts(checks)], "checks": [asdict(c) for c in checks]}
    if _write_if_changed(latest, doc):
        written.append(latest)
    return written


def _write_if_changed(path: Path, doc: dict) -> bool:
    """A rerun that finds the same results leaves the file as it is (timestamp included):
    a run with nothing to do changes nothing in the lake."""
    try:
        old = json.loads(path.read_text())
        if {k: v for k, v in old.items() if k != "timestamp"} == {k: v for k, v in doc.items() if k != "timestamp"}:
            return False
    except (OSError, ValueError):
        pass
    atomic.write_json(path, doc)
    return True


def format_checks(checks: list[Check]) -> str:
    """A table a person reads: alerts first, then per dataset and check one line (per-session
    checks that are all ok are folded into one line with their count)."""
    lines = []
    bad = alerts(checks)
    lines.append(f"{len(bad)} alert(s)" if bad else "no alerts")
    for c in bad:
        lines.append(f"  ALERT {c.line}")
    folded: dict[tuple[str, str], list[Check]] = defaultdict(list)
    for c in checks:
        if c.status != ALERT:
            folded[(c.dataset, c.check)].append(c)
    for (ds, name), group in folded.items():
        if len(group) == 1:
            c = group[0]
            lines.append(f"  {c.status:<7} {c.line}")
        else:
            counts = ", ".join(f"{sum(c.status == s for c in group)} {s}" for s in (OK, SKIPPED) if any(c.status == s for c in group))
            status = group[0].status if len({c.status for c in group}) == 1 else "mixed"
            lines.append(f"  {status:<7} {ds}: {name}: {group[0].date} .. {group[-1].date}: {counts}")
    return "\n".join(lines)
