"""One nightly run on a lake holding a year: all four flat-file datasets of the new session,
the REST pulls due that day, silver, gold and the Qlib store, as cron runs it.

A private full-scale sandbox (12,000 tickers by default) offers stocks_daily for a year and
the minute and options files for the last days. The lake is built once as a lake that has
been running would be: the month's 2-year corporate-action backfill (pulled on June 1st),
every REST dataset pulled, a year of stocks_daily (batched backfill) and the last sessions
with all four datasets. Each trial copies it (lake, logs, Snakemake's records) and times one
run of the next session on the copy with the default REST schedule: an ordinary day (a
Friday: corporate actions and news due) and the first session of a month (a Monday: also
the 2-year corporate-action backfill, reference tickers and short data). Medians of
``--repeat`` copies each; the baseline measured in the same run is a dry run of the same
night on a copy (Snakemake's start and the plan, no work), and the work itself is split from
the jobs' sidecars.

    .venv/bin/python bench/nightly.py
    .venv/bin/python bench/nightly.py --tickers 2000 --repeat 1   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sandbox import sandbox, scratch, snakemake_cmd

DATASETS = "[stocks_daily,stocks_minute,options_daily,options_minute]"
REST = "[dividends,splits,ipos,ticker_events,fundamentals,news,short_interest,short_volume,tickers]"
ORDINARY, FIRST_OF_MONTH = "2024-06-28", "2024-07-01"  # a Friday; the next session opens July
HISTORY_START = "2023-06-27"  # a year of stocks_daily before them
FULL_FROM = "2024-06-25"  # the lake's sessions with all four datasets
NOW = "2024-07-02T12:00:00+00:00"  # every file of both nights published and due


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/quantmini/sandbox"))
    args = ap.parse_args()
    extra = ["--datasets", "stocks_daily,stocks_minute,options_daily,options_minute", "--intraday-days", "5",
             "--cache-dir", args.cache_dir]
    with scratch("qm-bench-nightly-") as work, sandbox(work, args.tickers, HISTORY_START, FIRST_OF_MONTH, *extra) as sb:
        env = dict(sb.env(), QUANTMINI_NOW=NOW)

        def smk(workdir: Path, *flags: str, **cfg: str) -> tuple[float, str]:
            config = sb.config(rate_limit_calls="0", **cfg)
            t0 = time.perf_counter()
            proc = subprocess.run(snakemake_cmd(workdir, config, "--cores", "2", *flags), env=env, capture_output=True,
                                  text=True)
            seconds = time.perf_counter() - t0
            if proc.returncode:
                raise SystemExit(f"snakemake failed on {workdir.name} {cfg}:\n{proc.stderr[-3000:]}")
            return seconds, proc.stdout + proc.stderr

        base = work / "base"
        base.mkdir()
        t0 = time.perf_counter()
        # June's 2-year corporate-action backfill and every REST dataset, then the bars, so that
        # gold is settled against the actions as on a lake that has been running
        smk(base, pull_date="2024-06-01", datasets="[]", rest_force="[dividends,splits,ipos]")
        smk(base, pull_date="2024-06-27", datasets="[]", rest_force=REST)
        smk(base, start=HISTORY_START, end="2024-06-24")  # batched stocks_daily backfill
        smk(base, start=FULL_FROM, end="2024-06-27", datasets=DATASETS)
        print(f"lake built in {time.perf_counter() - t0:.0f} s (not timed): June's 2-year corporate-action "
              f"backfill, every REST dataset pulled, a year of stocks_daily, {FULL_FROM} .. 2024-06-27 with "
              "all four datasets")
        rows = []
        for label, date, source in (("ordinary day", ORDINARY, base), ("first session of a month", FIRST_OF_MONTH, None)):
            if source is None:  # the lake after the ordinary night
                source = work / "after-ordinary"
                copy(base, source)
                smk(source, date=ORDINARY, days_back="1", datasets=DATASETS, rest_datasets=REST)
            dry, walls, jobs = [], [], ""
            for i in range(args.repeat):
                trial = work / f"trial-{date}-{i}"
                copy(source, trial)
                night = dict(date=date, days_back="1", datasets=DATASETS, rest_datasets=REST)
                dry.append(smk(trial, "-n", **night)[0])
                seconds, out = smk(trial, **night)
                walls.append(seconds)
                jobs = _jobs(out)
                split = _work_split(trial / "quantlake", date)
                shutil.rmtree(trial, ignore_errors=True)
            rows.append((label, date, statistics.median(walls), walls, statistics.median(dry), jobs, split))
    print("\n| night (12,000 tickers unless stated) | date | wall, median | runs | dry run of the same night, median | jobs |")
    print("|---|---|---|---|---|---|")
    for label, date, wall, walls, dry, jobs, _ in rows:
        print(f"| {label} | {date} | **{wall:.1f} s** | {', '.join(f'{w:.1f}' for w in walls)} | {dry:.1f} s | {jobs} |")
    ratio = rows[1][2] / rows[0][2]
    print(f"\nfirst of month / ordinary day: {ratio:.2f}")
    for label, *_, split in rows:
        print(f"{label}, the jobs' own seconds (last run, from their sidecars): "
              + ", ".join(f"{k} {v:.1f}" for k, v in sorted(split.items(), key=lambda kv: -kv[1])))
    return 0


def copy(src: Path, dst: Path) -> None:
    """The lake, its logs and Snakemake's records (so the copy plans as the original would)."""
    dst.mkdir()
    for name in ("quantlake", "logs", ".snakemake"):
        if (src / name).exists():
            shutil.copytree(src / name, dst / name, symlinks=True, copy_function=shutil.copy2,
                            ignore=shutil.ignore_patterns("locks", "incomplete"))


def _jobs(output: str) -> str:
    m = re.search(r"^total\s+(\d+)$", output, flags=re.M)
    return m.group(1) if m else "?"


def _work_split(lake: Path, date: str) -> dict[str, float]:
    """Seconds of each layer's jobs that ran for the night (sidecars written for its date, and
    the REST pulls and silver of its pull date)."""
    out: dict[str, float] = {}
    y, m = date[:4], date[5:7]
    for p in (lake / "metadata").rglob(f"{y}/{m}/{date}*.json"):
        rel = p.relative_to(lake / "metadata").parts
        key = f"{rel[0]} {rel[1]}"
        try:
            out[key] = out.get(key, 0.0) + json.loads(p.read_text())["statistics"]["processing_time_sec"]
        except (KeyError, ValueError):
            continue
    return out


if __name__ == "__main__":
    sys.exit(main())
