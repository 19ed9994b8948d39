"""How planning scales with the history held: dry-run time of a one-day run on lakes holding
N sessions, against the same dry run on an empty lake (the baseline, same run).

Synthetic lakes (the default): a real two-session lake is built with the workflow from a
private sandbox, then its files of one session (landing, bronze, gold, their sidecars) are
copied to every other held session, older layers first so that every file is up to date.
Planning reads listings and names, not contents, so this is the plan a lake of N real
sessions gets, at a fraction of the build (a real 750-session lake took 1,025 s to build).
A backfill leaves a manifest per month (quantmini/batches.py), so the copies get them too.
``--built`` builds every session with the workflow instead (a batched backfill). On a
synthetic lake the held-day dry run replans the Qlib store and the summaries (Snakemake's
record of their input sets does not know the copied sessions); on a built lake it plans nothing.

    .venv/bin/python bench/dag_scale.py --days 250,1250,5000
"""

from __future__ import annotations

import argparse
import datetime as dt
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

from quantmini.paths import Lake
from quantmini.sessions import sessions_between, sessions_ending

LAYERS = ("landing", "bronze", "gold")  # in the order they are built: older first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=_counts, default="250,1250,5000", help="comma-separated held-session counts (each ≥ 3)")
    ap.add_argument("--tickers", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--end", default="2024-05-31", help="last session held by the lake")
    ap.add_argument("--built", action="store_true", help="build every held session with the workflow (slow)")
    args = ap.parse_args()
    counts = args.days
    end = dt.date.fromisoformat(args.end)
    nxt = sessions_between(end + dt.timedelta(days=1), end + dt.timedelta(days=7))[0]
    longest = sessions_ending(end, max(counts))
    # the sandbox publishes what a dry run asks the vendor about: the refresh window and the
    # new day (all held days when they are built for real)
    first = longest[0] if args.built else sessions_ending(end, 10)[0]
    with scratch("qm-bench-dag-") as work, sandbox(work, args.tickers, first.isoformat(), nxt.isoformat()) as sb:

        planned: dict[Path, int] = {}

        def smk(workdir: Path, *extra: str, **cfg: str) -> float:
            t0 = time.perf_counter()
            proc = subprocess.run(snakemake_cmd(workdir, sb.config(**cfg), *extra), check=True, env=sb.env(),
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            total = re.search(r"^total\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M)
            planned[workdir] = int(total.group(1)) if total else 0  # jobs the last dry run planned
            return seconds

        empty = work / "empty"
        empty.mkdir()
        base = statistics.median(smk(empty, "-n", date=nxt.isoformat()) for _ in range(args.repeat))
        base_jobs = planned[empty]
        rows = []
        for n in counts:
            held = sessions_ending(end, n)
            lake_dir = work / f"lake-{n}"
            lake_dir.mkdir()
            t0 = time.perf_counter()
            if args.built:
                smk(lake_dir, start=held[0].isoformat(), end=held[-1].isoformat())
            else:
                smk(lake_dir, start=held[-2].isoformat(), end=held[-1].isoformat())
                replicate(Lake(str(lake_dir / "quantlake")), held[-1].isoformat(), [d.isoformat() for d in held[:-2]])
            build = time.perf_counter() - t0
            new_day = [smk(lake_dir, "-n", date=nxt.isoformat()) for _ in range(args.repeat)]
            new_jobs = planned[lake_dir]
            held_day = [smk(lake_dir, "-n", date=held[-1].isoformat()) for _ in range(args.repeat)]
            rows.append({
                "held_sessions": n,
                "lake": "built" if args.built else "synthetic",
                "build_seconds": round(build, 1),
                "dry_run_one_new_day_median_s": round(statistics.median(new_day), 2),
                "jobs_planned_new_day": new_jobs,
                "dry_run_one_held_day_median_s": round(statistics.median(held_day), 2),
                "jobs_planned_held_day": planned[lake_dir],
                "ratio_new_day_vs_empty": round(statistics.median(new_day) / base, 2),
            })
            shutil.rmtree(lake_dir, ignore_errors=True)
    print(json.dumps({"baseline_dry_run_one_day_empty_lake_median_s": round(base, 2), "baseline_jobs_planned": base_jobs,
                      "lakes": rows}, indent=2))
    return 0


def _counts(text: str) -> list[int]:
    """``--days``: comma-separated whole numbers of sessions, each at least 3 (a lake of two
    real sessions and at least one copy)."""
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if any(n < 3 for n in counts):
        raise argparse.ArgumentTypeError(f"{text!r}: every count must be at least 3 sessions")
    return counts


def replicate(lake: Lake, model: str, dates: list[str]) -> None:
    """Copy ``model``'s stocks_daily files and sidecars of every layer to each of ``dates``,
    each layer's copies older than the next layer's, all older than the model's (so the Qlib
    store and the summaries built from the model stay up to date); and the manifests a
    backfill of ``dates`` leaves (quantmini/batches.py: one batch per month)."""
    from quantmini.batches import by_month, write_manifest

    for kind in ("flatfile", "gold"):
        for batch in by_month(kind, "stocks_daily", dates):
            write_manifest(batch, batch.manifest(lake))
    stamp = time.time() - 3600
    for offset, layer in enumerate(LAYERS):
        data = {"landing": lake.landing, "bronze": lake.bronze, "gold": lake.gold}[layer]
        source, side = data("stocks_daily", model), lake.sidecar(layer, "stocks_daily", model)
        when = stamp + offset * 60
        for date in dates:
            for src, dst in ((source, data("stocks_daily", date)), (side, lake.sidecar(layer, "stocks_daily", date))):
                Path(dst).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                os.utime(dst, (when, when))


if __name__ == "__main__":
    sys.exit(main())
