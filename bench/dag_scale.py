"""How the DAG scales with the lake: dry-run time of a one-day run on a lake holding N days.

Builds an N-session lake from a private sandbox (small universe: the DAG's cost does not
depend on the number of tickers), then times `snakemake -n` for the next session, and for
the last session already held (nothing to do), median of --repeat runs each. The baseline
measured in the same run is `snakemake -n` of the same one-day window on an empty lake.

    .venv/bin/python bench/dag_scale.py --days 250
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox import sandbox, snakemake_cmd

from quantmini.sessions import sessions_between, sessions_ending


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--tickers", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--end", default="2024-05-31", help="last session held by the lake")
    args = ap.parse_args()
    held = sessions_ending(dt.date.fromisoformat(args.end), args.days)
    nxt = sessions_between(held[-1] + dt.timedelta(days=1), held[-1] + dt.timedelta(days=7))[0]
    work = Path(tempfile.mkdtemp(prefix="qm-bench-dag-"))
    with sandbox(work, args.tickers, held[0].isoformat(), nxt.isoformat()) as sb:

        def smk(workdir: Path, *extra: str, **cfg: str) -> float:
            t0 = time.perf_counter()
            subprocess.run(snakemake_cmd(workdir, sb.config(**cfg), *extra), check=True, env=sb.env(), capture_output=True)
            return time.perf_counter() - t0

        return _measure(work, held, nxt, args, smk)


def _measure(work: Path, held, nxt, args, smk) -> int:
    """The lake of ``held`` sessions, then the dry runs timed against an empty lake."""
    lake_dir = work / "lake"
    lake_dir.mkdir()
    t_build = smk(lake_dir, start=held[0].isoformat(), end=held[-1].isoformat())
    empty = work / "empty"
    empty.mkdir()
    base = [smk(empty, "-n", date=nxt.isoformat()) for _ in range(args.repeat)]
    new_day = [smk(lake_dir, "-n", date=nxt.isoformat()) for _ in range(args.repeat)]
    held_day = [smk(lake_dir, "-n", date=held[-1].isoformat()) for _ in range(args.repeat)]
    result = {
        "lake_days": len(held),
        "build_seconds": round(t_build, 1),
        "dry_run_one_new_day_on_lake_median_s": round(statistics.median(new_day), 2),
        "dry_run_one_held_day_on_lake_median_s": round(statistics.median(held_day), 2),
        "baseline_dry_run_one_day_empty_lake_median_s": round(statistics.median(base), 2),
        "ratio_new_day_vs_empty": round(statistics.median(new_day) / statistics.median(base), 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
