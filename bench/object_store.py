"""The lake on disk against the lake in an object store (Snakemake's default storage,
snakemake-storage-plugin-s3), same window, same machine, same run.

Starts a private sandbox publishing stocks_daily (full scale: 12,000 tickers by default),
then, ``--repeat`` times each, from an empty lake: a run of the window with the lake on disk
(the baseline) and a run with landing, bronze and silver in a bucket of the sandbox's S3
server; then the no-op rerun (a dry run that finds everything held) of each. Reports the
medians and the ratios store/disk: what the uploads, downloads and listings cost.

    .venv/bin/python bench/object_store.py --sessions 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from sandbox import sandbox, scratch, snakemake_cmd

from quantmini.sessions import sessions_ending


def _run(cmd: list[str], env: dict, cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode != 0:
        raise SystemExit(f"run failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--end", default="2024-06-28")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    days = sessions_ending(dt.date.fromisoformat(args.end), args.sessions)
    import boto3

    with scratch("qm-bench-store-") as work, \
            sandbox(work, args.tickers, days[0].isoformat(), days[-1].isoformat()) as sb:
        env = {**sb.env(), "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": "bench", "SNAKEMAKE_STORAGE_S3_SECRET_KEY": "bench"}
        config = sb.config(date=days[-1].isoformat(), days_back=str(args.sessions), gold_features="False")
        s3 = boto3.client("s3", endpoint_url=sb.s3_endpoint, aws_access_key_id="bench",
                          aws_secret_access_key="bench", region_name="us-east-1")
        times: dict[str, list[float]] = {"disk": [], "store": [], "disk no-op": [], "store no-op": []}
        for i in range(args.repeat):
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            s3.create_bucket(Bucket=bucket)
            storage = ["--default-storage-provider", "s3", "--default-storage-prefix", f"s3://{bucket}/lake",
                       "--storage-s3-endpoint-url", sb.s3_endpoint]
            for mode, extra in (("disk", []), ("store", storage)):
                wd = work / f"{mode}-{i}"
                wd.mkdir()
                times[mode].append(_run(snakemake_cmd(wd, config, *extra), env, wd))
                times[f"{mode} no-op"].append(_run(snakemake_cmd(wd, config, *extra, "-n"), env, wd))
        print(f"{args.sessions} sessions of stocks_daily at {args.tickers:,} tickers (landing, bronze, Qlib), "
              f"medians of {args.repeat}, {os.cpu_count()} cores")
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in med.items():
            print(f"  {k:<12} {v:7.2f} s")
        print(f"  ratio store/disk: run {med['store'] / med['disk']:.2f}, no-op rerun "
              f"{med['store no-op'] / med['disk no-op']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
