"""How the DAG scales with the lake: dry-run time of a one-day run on a lake holding N days.

Builds an N-session lake from a private sandbox (small universe: the DAG's cost does not
depend on the number of tickers), then times `snakemake -n` for the next session, and for
the last session already held (nothing to do), median of --repeat runs each. The baseline
measured in the same run is `snakemake -n` of the same one-day window on an empty lake.

    .venv/bin/python bench/dag_scale.py --days 250
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
from quantmini.sandbox.control import free_port  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--tickers", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--end", default="2024-05-31", help="last session held by the lake")
    args = ap.parse_args()
    from quantmini.sessions import sessions_between, sessions_ending
    import datetime as dt

    held = sessions_ending(dt.date.fromisoformat(args.end), args.days)
    nxt = sessions_between(held[-1] + dt.timedelta(days=1), held[-1] + dt.timedelta(days=7))[0]
    work = Path(tempfile.mkdtemp(prefix="qm-bench-dag-"))
    s3, rest = free_port(), free_port()
    state = work / "state.json"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "quantmini.sandbox.server", "--s3-port", str(s3), "--rest-port", str(rest),
         "--tickers", str(args.tickers), "--start", held[0].isoformat(), "--end", nxt.isoformat(),
         "--datasets", "stocks_daily", "--state-file", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    while not state.exists():
        time.sleep(0.2)
    env = dict(os.environ, MASSIVE_S3_ACCESS_KEY="bench", MASSIVE_S3_SECRET_KEY="bench", PATH=f"{BIN}:{os.environ['PATH']}")

    def smk(workdir: Path, *extra: str, **cfg: str) -> float:
        conf = {"s3_endpoint": f"http://127.0.0.1:{s3}", "rest_base_url": f"http://127.0.0.1:{rest}",
                "datasets": "[stocks_daily]", "rest_datasets": "[]", **cfg}
        cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles" / "demo"), "--config", *[f"{k}={v}" for k, v in conf.items()], *extra]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        return time.perf_counter() - t0

    try:
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
    finally:
        sandbox.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
