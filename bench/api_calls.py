"""API calls of the REST schedule: a weekday, a Monday, a Sunday and the 1st of a month.

Starts a full-scale sandbox (12,000 listed names by default), runs the real workflow's REST
pulls (no flat files) for each date with the default windows and endpoints, and counts the
calls the sandbox received, per dataset, next to the operations guide's figures (section 3:
~2,114 calls a week; section 4 "After": ~900 a day for short data and fundamentals).

    .venv/bin/python bench/api_calls.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
from quantmini.command import snakemake_command  # noqa: E402
from quantmini.sandbox import control  # noqa: E402
from quantmini.sandbox.control import free_port  # noqa: E402

DATES = {
    "weekday (Tue 2024-06-11)": "2024-06-11",
    "Monday (2024-06-10)": "2024-06-10",
    "Sunday (2024-06-09)": "2024-06-09",
    "1st of month (Wed 2024-05-01)": "2024-05-01",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--fundamental-tickers", type=int, default=50,
                    help="how many common stocks get fundamentals and ticker events (the guide's ~50)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qm-bench-api-"))
    s3, rest = free_port(), free_port()
    state = work / "state.json"
    key = "bench-api-key"
    sandbox = control.launch(["--s3-port", str(s3), "--rest-port", str(rest), "--tickers", str(args.tickers),
                              "--start", "2024-06-24", "--end", "2024-06-28", "--datasets", "stocks_daily"],
                             state, env=dict(os.environ, QUANTMINI_SANDBOX_API_KEY=key))
    try:
        control.wait_ready(sandbox, state, timeout=1800)
        base = f"http://127.0.0.1:{rest}"
        from quantmini.sandbox.market import Market

        market = Market(args.tickers)
        u = market.universe
        common = [s for s, k in zip(u.symbols.tolist(), u.kind.tolist()) if k == "CS"][: args.fundamental_tickers]
        env = dict(os.environ, MASSIVE_API_KEY=key, MASSIVE_S3_ACCESS_KEY="x", MASSIVE_S3_SECRET_KEY="x",
                   PATH=f"{BIN}:{os.environ['PATH']}")
        rows = []
        for label, day in DATES.items():
            wd = work / day
            wd.mkdir()
            before = requests.get(f"{base}/_sandbox/calls", timeout=10).json()["total"]
            cfg = {"rest_base_url": base, "s3_endpoint": f"http://127.0.0.1:{s3}", "pull_date": day, "datasets": "[]",
                   "rate_limit_calls": 0, "fundamental_tickers": "[" + ",".join(common) + "]"}
            cmd = snakemake_command(workdir=wd, profile=REPO / "profiles" / "demo", config=cfg)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            wall = time.perf_counter() - t0
            total = requests.get(f"{base}/_sandbox/calls", timeout=10).json()["total"] - before
            per = Counter()
            for p in (wd / "quantlake" / "metadata" / "bronze").rglob("*.json"):
                if p.name != "watermark.json":
                    sc = json.loads(p.read_text())
                    per[sc["data_type"]] += sc["statistics"]["api_calls"]
            rows.append((label, total, dict(sorted(per.items())), wall))
            print(f"{label:32s} {total:5d} calls  {wall:6.1f} s  {dict(sorted(per.items()))}", flush=True)
        week = rows[0][1] * 5 + rows[1][1] + rows[2][1]
        print(f"\nA week (Tuesday..Saturday like the weekday, plus Monday and Sunday): {week} calls; the guide: ~2,114 a week, "
              "~900 a day after date filtering.")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
