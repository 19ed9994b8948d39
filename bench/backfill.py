"""A stocks-daily backfill from an empty lake, end to end: landing, bronze, the Qlib store and
the gold stocks_daily sessions.

Starts a private sandbox offering stocks_daily for the window (full scale: 12,000 tickers by
default), has it generate every file before the clock starts (the vendor's files exist; a
disk cache, ``--cache-dir``, keeps them for the next run), runs the workflow once over the
window with the demo profile (2 cores), and splits the wall time into the jobs' own work
(download and conversion; gold features; the Qlib store and its universes) and the rest:
Snakemake's start, planning, scheduling and bookkeeping, idle cores, the summary, report and
quality checks. A backfill batch's work is its whole time (its log's last line: every
session's body and what the batch shares, such as a month of bronze read and sorted once);
a per-session job's is its body (its sidecar). The baseline measured in the same run is the
same files converted in one Python process (plain pyarrow read + write per file), i.e. the
work with no workflow around it.
Peak RSS is sampled (every 0.2 s) for the workflow's processes: Snakemake with its
in-process jobs, and the Qlib job; the sandbox is not counted.

    .venv/bin/python bench/backfill.py --sessions 252              # one year
    .venv/bin/python bench/backfill.py --sessions 5033 --end 2024-12-31   # 2005-2024
    .venv/bin/python bench/backfill.py --sessions 252 --batch 0    # per-session jobs only
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
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
    ap.add_argument("--batch", type=int, default=None, help="config backfill_batch_sessions (default: the schema's)")
    ap.add_argument("--keep", action="store_true", help="keep the lake (its folder is printed)")
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/quantmini/sandbox"),
                    help="the sandbox's generated files, kept across runs ('' for none)")
    args = ap.parse_args()
    days = sessions_ending(dt.date.fromisoformat(args.end), args.sessions)
    work = Path(tempfile.mkdtemp(prefix="qm-bench-backfill-"))
    extra = ["--intraday-days", "0"] + (["--cache-dir", args.cache_dir] if args.cache_dir else [])
    try:
        with sandbox(work, args.tickers, days[0].isoformat(), days[-1].isoformat(), *extra) as sb:
            warm = _warm(sb, days)
            print(f"sandbox: {args.tickers:,} tickers, {len(days)} sessions, up in {sb.started_in:.0f} s, "
                  f"files generated or read from its cache in {warm:.0f} s (neither timed)")
            config = {"start": days[0].isoformat(), "end": days[-1].isoformat(), "rate_limit_calls": "0"}
            if args.batch is not None:
                config["backfill_batch_sessions"] = str(args.batch)
            cmd = snakemake_cmd(work, sb.config(**config), "--cores", str(args.cores))
            t0 = time.perf_counter()
            with PeakRss() as peak:
                proc = subprocess.run(cmd, env=sb.env(), capture_output=True, text=True)
            wall = time.perf_counter() - t0
        return _report(work, args, days, proc, wall, peak)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


class PeakRss:
    """Samples the RSS of this process's descendants but the sandbox (the workflow: Snakemake
    with its in-process jobs, and the script jobs) every 0.2 s: the peak of each kind of
    process and of their sum."""

    def __init__(self):
        import threading

        self.by_kind: dict[str, int] = {}
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for p in me.children(recursive=True):
                try:
                    cmd = " ".join(p.cmdline())
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if "quantmini.sandbox.server" in cmd:
                    continue
                kind = "Qlib job" if "gold_qlib" in cmd else "Snakemake and its in-process jobs" if "snakemake" in cmd \
                    else "other job processes"
                self.by_kind[kind] = max(self.by_kind.get(kind, 0), rss)
                total += rss
            self.total = max(self.total, total)


def _warm(sb, days) -> float:
    """List every month of the window: the sandbox publishes (generates) what is listed."""
    import boto3
    from botocore.config import Config

    from quantmini.datasets import FLATFILE_DATASETS

    client = boto3.client("s3", endpoint_url=sb.s3_endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                          region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, read_timeout=300))
    t0 = time.perf_counter()
    prefixes = dict.fromkeys(FLATFILE_DATASETS["stocks_daily"].s3_key(d.isoformat()).rsplit("/", 1)[0] + "/" for d in days)
    for prefix in prefixes:
        client.list_objects_v2(Bucket="flatfiles", Prefix=prefix)
    return time.perf_counter() - t0


def _batches(work: Path, lake: Path) -> tuple[set[tuple[str, str]], dict[str, float]]:
    """The (kind, session) pairs backfill batches built (their manifests), and the batch jobs'
    whole times by kind (the last line of each batch's log, quantmini.jobs.BATCH_DONE)."""
    from quantmini.batches import read_manifest
    from quantmini.jobs import batch_seconds
    from quantmini.paths import Lake

    batched = {(b.kind, d) for b in map(read_manifest, glob.glob(Lake(str(lake)).batch_manifest_glob())) for d in b.sessions}
    seconds = {"flatfile": 0.0, "gold": 0.0}
    for log_file in (work / "logs" / "backfill").glob("*.log"):
        done = batch_seconds(log_file.read_text())
        if done:
            seconds[done[0].split("_")[1]] += done[1]  # backfill_<kind>_<dataset>_<first>_<last>
    return batched, seconds


def _job_counts(output: str) -> dict[str, int]:
    m = re.search(r"Job stats:\n(.*?)\n\n", output, re.S)
    counts: dict[str, int] = {}
    for line in (m.group(1).splitlines() if m else []):
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            name = "backfill batches" if parts[0].startswith("backfill_") else parts[0]
            counts[name] = counts.get(name, 0) + int(parts[1])
    return counts


def _report(work: Path, args, days, proc, wall: float, peak: PeakRss) -> int:
    """Split the wall time into the jobs' own work (their sidecars) and the rest."""
    if proc.returncode:
        out = proc.stdout + proc.stderr
        print(out[-3000:])
        for log_file in sorted(set(re.findall(r"^\s+log: (\S+)", out[out.find("Error in rule"):], flags=re.M))):
            path = work / log_file.rstrip(",")
            if path.exists():
                print(f"--- {log_file}:\n{path.read_text()[-3000:]}")
        return 1
    lake = work / "quantlake"
    batched, batch_s = _batches(work, lake)
    # The per-session bodies (their sidecars), for the sessions batches did not build, and
    # the store-level jobs (the Qlib store and its universes, one job each).
    body = {}
    for folder, name, dataset in (("landing", "download", "flatfile"), ("bronze", "conversion", "flatfile"),
                                  ("gold/stocks_daily", "features", "gold"), ("gold/stocks_daily_qlib", "qlib", None),
                                  ("gold/qlib_universes", "universes", None)):
        total = outside = 0.0
        for p in (lake / "metadata" / folder).rglob("*.json"):
            if p.name == "watermark.json":
                continue
            seconds = json.loads(p.read_text())["statistics"]["processing_time_sec"]
            total += seconds
            if dataset is None or (dataset, p.stem[:10]) not in batched:
                outside += seconds
        body[name] = (total, outside)
    # The baseline: the same conversion in one process, no workflow around it.
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    landing = sorted((lake / "landing").rglob("*.csv.gz"))
    t0 = time.perf_counter()
    for i, f in enumerate(landing):
        pq.write_table(pv.read_csv(f), work / "baseline.parquet")
    plain = time.perf_counter() - t0
    # The jobs' own time: a batch job's whole time (its log's last line: every session's body
    # and what the batch shares, e.g. a month of bronze read and sorted once for its gold
    # sessions), and the per-session jobs' bodies.
    flat = batch_s["flatfile"] + body["download"][1] + body["conversion"][1]
    gold = batch_s["gold"] + body["features"][1]
    store = body["qlib"][0] + body["universes"][0]
    overhead = wall - (flat + gold) / args.cores - store
    disk = sum(p.stat().st_size for p in lake.rglob("*") if p.is_file()) / 1e9
    layers = {name: sum(p.stat().st_size for p in (lake / folder).rglob("*") if p.is_file()) / 1e9
              for name, folder in (("landing", "landing"), ("bronze", "bronze"), ("gold features", "gold/stocks_daily"),
                                   ("Qlib", "gold/qlib"), ("sidecars", "metadata"))}
    jobs = _job_counts(proc.stdout + proc.stderr)
    print(f"\n| backfill from an empty lake, {args.tickers:,} tickers x {len(days)} sessions "
          f"({days[0]} .. {days[-1]}), --cores {args.cores} | seconds | share of wall |")
    print("|---|---|---|")
    rows = [("wall time, empty lake to Qlib store", wall),
            (f"download and conversion jobs (sum over {len(landing)} sessions)", flat),
            ("  of which the download bodies (sidecars)", body["download"][0]),
            ("  of which the conversion bodies (sidecars)", body["conversion"][0]),
            (f"gold stocks_daily feature jobs (sum over {len(landing)} sessions)", gold),
            ("  of which the per-session bodies (sidecars); the rest: each month's bronze read, sorted and "
             "filtered once", body["features"][0]),
            ("Qlib store (one bulk job) and its universes (one job)", store),
            (f"overhead: wall - (download and conversion + gold)/{args.cores} - Qlib: Snakemake's start, plan, "
             "scheduling and bookkeeping, idle cores, the summary, report and quality checks", overhead)]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} | {seconds / wall:.0%} |")
    print(f"| baseline: plain pyarrow read_csv + write_table of the same files, one process | {plain:.1f} | |")
    print(f"\njobs: {sum(jobs.values())} ({', '.join(f'{k} {v}' for k, v in sorted(jobs.items()))})")
    print(f"peak RSS: {peak.total / 2**20:,.0f} MB for the workflow's processes together ("
          + ", ".join(f"{k} {v / 2**20:,.0f} MB" for k, v in sorted(peak.by_kind.items())) + f"); lake on disk: {disk:.2f} GB (" + ", ".join(f"{k} {v:.2f}" for k, v in layers.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
