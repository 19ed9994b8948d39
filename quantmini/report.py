"""What ``snakemake --report`` shows beside Snakemake's own pages: plots and tables drawn
from the metadata sidecars and the quality checks (the rule ``report_assets``).

- records per session, per dataset (bronze): a sudden drop or a missing bar is visible;
- job run time per session, per layer and dataset;
- REST API calls and rate-limit waits per pull date;
- the data-quality table, alerts highlighted;
- the gaps per layer.
Pure functions of the sidecars; matplotlib draws with the Agg backend (no screen).
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from pathlib import Path

from . import atomic
from .metadata import Sidecar

STYLE = """<style>
body{font-family:sans-serif;font-size:14px} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} th{background:#eee}
tr.alert td{background:#f8d0d0;font-weight:bold} tr.skipped td{color:#888}
</style>"""


def _figure(title: str, ylabel: str):
    """A figure drawn by the Agg renderer, without pyplot: pyplot's import (~0.4 s of every
    run's report job) only serves interactive windows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig, out: str | Path) -> None:
    fig.autofmt_xdate()
    fig.tight_layout()
    with atomic.atomic_path(Path(out)) as tmp:
        fig.savefig(tmp, format="png")


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="#666")


def records_plot(sidecars: list[Sidecar], out: str | Path) -> None:
    """Bronze records per session, one line per flat-file dataset."""
    from .datasets import FLATFILE_DATASETS

    fig, ax = _figure("Records per session (bronze)", "records")
    series = defaultdict(dict)
    for s in sidecars:
        if s.layer == "bronze" and s.data_type in FLATFILE_DATASETS and s.status == "success" and s.window is None:
            series[s.data_type][dt.date.fromisoformat(s.date)] = s.statistics.records
    for name, points in sorted(series.items()):
        days = sorted(points)
        ax.plot(days, [points[d] for d in days], marker="o", label=name)
    if series:
        ax.set_yscale("log")
        ax.legend()
    else:
        _no_data(ax, "no bronze sessions recorded")
    _save(fig, out)


def runtime_plot(sidecars: list[Sidecar], out: str | Path) -> None:
    """Seconds per job and session, per layer and dataset (session-dated jobs only)."""
    from .datasets import FLATFILE_DATASETS

    fig, ax = _figure("Job run time per session", "seconds")
    series = defaultdict(dict)
    for s in sidecars:
        if s.window is None and s.data_type in FLATFILE_DATASETS and s.status == "success":
            series[f"{s.layer} {s.data_type}"][dt.date.fromisoformat(s.date)] = s.statistics.processing_time_sec
    for name, points in sorted(series.items()):
        days = sorted(points)
        ax.plot(days, [points[d] for d in days], marker=".", label=name)
    if series:
        ax.legend(fontsize=8, ncol=2)
    else:
        _no_data(ax, "no jobs recorded")
    _save(fig, out)


def api_plot(sidecars: list[Sidecar], out: str | Path) -> None:
    """REST API calls (bars) and seconds waited on the rate limit (line) per pull date."""
    calls, waits = defaultdict(int), defaultdict(float)
    for s in sidecars:
        if s.window is not None and s.layer == "bronze":
            day = dt.date.fromisoformat(s.date)
            calls[day] += int(s.statistics.extra.get("api_calls", 0) or 0)
            waits[day] += float(s.statistics.extra.get("rate_limit_wait_sec", 0) or 0)
    fig, ax = _figure("REST API calls and rate-limit waits per pull date", "API calls")
    if calls:
        days = sorted(calls)
        ax.bar(days, [calls[d] for d in days], color="#4a7ebb", label="API calls")
        for d in days:
            ax.annotate(str(calls[d]), (d, calls[d]), ha="center", va="bottom", fontsize=8)
        ax2 = ax.twinx()
        ax2.plot(days, [waits[d] for d in days], color="#c0504d", marker="o", label="rate-limit wait (s)")
        ax2.set_ylabel("seconds waited")
        ax2.set_ylim(0, max(1.0, max(waits.values()) * 1.2))
        ax.legend(loc="upper left")
        ax2.legend(loc="upper right")
    else:
        _no_data(ax, "no REST pulls recorded")
    _save(fig, out)


def quality_table(checks: list, out: str | Path) -> None:
    """Every check (alerts first, highlighted) as an HTML table."""
    order = {"alert": 0, "ok": 1, "skipped": 2}
    rows = sorted(checks, key=lambda c: (order.get(c.status, 3), c.dataset, c.check, c.date or ""))
    alerts = sum(c.status == "alert" for c in checks)
    body = "".join(
        f"<tr class='{html.escape(c.status)}'><td>{html.escape(c.status.upper())}</td><td>{html.escape(c.dataset)}</td>"
        f"<td>{html.escape(c.check)}</td><td>{html.escape(c.date or '')}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in rows
    )
    doc = (f"<html><head><meta charset='utf-8'>{STYLE}</head><body><h2>Data quality: {alerts} alert(s)</h2>"
           "<table><tr><th>status</th><th>dataset</th><th>check</th><th>session</th><th>detail</th></tr>"
           f"{body}</table></body></html>")
    atomic.write_text(out, doc)


def gaps_table(gaps: list, out: str | Path) -> None:
    if gaps:
        body = "".join(
            f"<tr class='{'skipped' if g.status == 'pending' else 'alert'}'><td>{g.layer}</td><td>{g.dataset}</td>"
            f"<td>{g.status}</td><td>{g.start}</td><td>{g.end}</td><td>{g.sessions}</td></tr>" for g in gaps)
        table = ("<table><tr><th>layer</th><th>dataset</th><th>status</th><th>from</th><th>to</th><th>sessions</th></tr>"
                 f"{body}</table>")
    else:
        table = "<p>No gaps: every expected session is held in every layer.</p>"
    atomic.write_text(out, f"<html><head><meta charset='utf-8'>{STYLE}</head><body><h2>Gaps per layer</h2>{table}</body></html>")
