"""A stocks-daily backfill from an empty lake, end to end: landing, bronze, the Qlib store and
the gold stocks_daily sessions.

Starts a private sandbox publishing stocks_daily for the window (full scale: 12,000 tickers
by default), runs the workflow once over the window with the demo profile (2 cores), and
splits the wall time into the jobs' own work, from their sidecars (download, conversion,
Qlib), and the rest: Snakemake's scheduling and each job's process start-up. The baseline
measured in the same run is the same bronze files converted in one Python process (plain
pyarrow read + write per file), i.e. the work with no workflow around it.

    .venv/bin/python bench/backfill.py --sessions 252
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox import sandbox, snakemake_cmd

from quantmini.sessions import sessions_ending


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=252)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--end", default="2024-06-28")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    days = sessions_ending(dt.date.fromisoformat(args.end), args.sessions)
    work = Path(tempfile.mkdtemp(prefix="qm-bench-backfill-"))
    try:
        with sandbox(work, args.tickers, days[0].isoformat(), days[-1].isoformat(), "--intraday-days", "0") as sb:
            print(f"sandbox: {args.tickers:,} tickers, {len(days)} sessions, up in {sb.started_in:.0f} s (not timed)")
            cmd = snakemake_cmd(work, sb.config(start=days[0].isoformat(), end=days[-1].isoformat(), rate_limit_calls="0"),
                                "--cores", str(args.cores), "--quiet")
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=sb.env(), capture_output=True, text=True)
            wall = time.perf_counter() - t0
        return _report(work, args, days, proc, wall)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(work: Path, args, days, proc, wall: float) -> int:
    """Split the wall time into the jobs' own work (their sidecars) and the rest."""
    if proc.returncode:
        print(proc.stderr[-3000:])
        return 1
    work_s = {}
    for folder, name in (("landing", "download"), ("bronze", "conversion"), ("gold/stocks_daily_qlib", "qlib"),
                         ("gold/stocks_daily", "features")):
        total = 0.0
        for p in (work / "quantlake" / "metadata" / folder).rglob("*.json"):
            if p.name == "watermark.json":
                continue
            total += json.loads(p.read_text())["statistics"]["processing_time_sec"]
        work_s[name] = total
    # The baseline: the same conversion in one process, no workflow around it.
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    landing = sorted((work / "quantlake" / "landing").rglob("*.csv.gz"))
    t0 = time.perf_counter()
    for i, f in enumerate(landing):
        pq.write_table(pv.read_csv(f), work / f"baseline-{i}.parquet")
    plain = time.perf_counter() - t0
    parallel_work = (work_s["download"] + work_s["conversion"] + work_s["features"]) / args.cores
    overhead = wall - parallel_work - work_s["qlib"]
    print(f"\n| backfill from an empty lake, {args.tickers:,} tickers x {len(days)} sessions, --cores {args.cores} | seconds |")
    print("|---|---|")
    print(f"| wall time, empty lake to Qlib store | {wall:.1f} |")
    print(f"| download (sum of {len(landing)} landing jobs) | {work_s['download']:.1f} |")
    print(f"| conversion (sum of {len(landing)} bronze jobs) | {work_s['conversion']:.1f} |")
    print(f"| Qlib store (one bulk job) | {work_s['qlib']:.1f} |")
    print(f"| gold stocks_daily features (sum of {len(landing)} session jobs) | {work_s['features']:.1f} |")
    print(f"| Snakemake and job start-up (wall - (download+conversion+features)/{args.cores} - Qlib) | {overhead:.1f} |")
    print(f"| baseline: plain pyarrow read_csv + write_table of the same files, one process | {plain:.1f} |")
    jobs = 3 * len(landing) + 2
    print(f"jobs: {jobs} ({overhead / jobs * args.cores:.2f} s of overhead per job per core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
