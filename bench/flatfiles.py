"""Flat-file bronze conversion at full market scale, against plain pyarrow, plus a full
daily update of all four datasets through the workflow.

For one generated full-scale session (default 12,000 tickers) and each dataset:
  - our conversion (quantmini.bronze.convert: streaming, typed, checked, sorted, atomic),
  - the baseline measured in the same run: pyarrow.csv.read_csv + pyarrow.parquet.write_table
    of the same file,
each in a fresh process (so peak RSS is the job's own), --repeat times; medians reported.
Then the end-to-end wall time of `snakemake --cores 2` for all four datasets of that day
against a full-scale sandbox (fresh lake each repeat).

    .venv/bin/python bench/flatfiles.py              # full scale
    .venv/bin/python bench/flatfiles.py --tickers 2000 --repeat 1   # quick look
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
from quantmini.command import snakemake_command  # noqa: E402
from quantmini.sandbox import control  # noqa: E402
from quantmini.sandbox.control import free_port  # noqa: E402
DATASETS = ["stocks_daily", "stocks_minute", "options_daily", "options_minute"]

CHILD_OURS = """
import sys, time, datetime as dt
from pathlib import Path
from quantmini.bronze import SPECS, convert
t = time.perf_counter()
r = convert(Path(sys.argv[1]), Path(sys.argv[2]), dt.date.fromisoformat(sys.argv[3]), SPECS[sys.argv[4]])
print(time.perf_counter() - t, r.rows)
"""

GENERATE = """
import sys, datetime as dt
from pathlib import Path
from quantmini.sandbox.market import Market
m = Market(int(sys.argv[1]))
Path(sys.argv[4]).write_bytes(getattr(m, sys.argv[3] + "_gz")(dt.date.fromisoformat(sys.argv[2])))
"""

CHILD_BASE = """
import sys, time
import pyarrow.csv as c, pyarrow.parquet as pq
t = time.perf_counter()
table = c.read_csv(sys.argv[1])
pq.write_table(table, sys.argv[2])
print(time.perf_counter() - t, table.num_rows)
"""


def run_child(code: str, *args: str) -> tuple[float, int, float]:
    """(seconds measured inside the child, rows, peak RSS in MB of that child)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"child failed: {args}")
    seconds, rows = out.split()
    return float(seconds), int(rows), usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--date", default="2024-06-27")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qm-bench-ff-"))
    report: dict = {"tickers": args.tickers, "date": args.date, "repeat": args.repeat, "datasets": {}}
    for name in [d for d in args.datasets.split(",") if d]:
        t0 = time.perf_counter()
        src = work / f"{name}.csv.gz"
        # Generated in a child process: this process stays small, so the peak RSS that the
        # measured children inherit at fork is not inflated by the generator's arrays.
        subprocess.run([sys.executable, "-c", GENERATE, str(args.tickers), args.date, name, str(src)], check=True)
        gen = time.perf_counter() - t0
        ours, base, rss_ours, rss_base = [], [], [], []
        rows = 0
        for _ in range(args.repeat):
            s, rows, rss = run_child(CHILD_OURS, str(src), str(work / f"{name}.ours.parquet"), args.date, name)
            ours.append(s)
            rss_ours.append(rss)
            s, _, rss = run_child(CHILD_BASE, str(src), str(work / f"{name}.base.parquet"))
            base.append(s)
            rss_base.append(rss)
        m_ours, m_base = statistics.median(ours), statistics.median(base)
        report["datasets"][name] = {
            "rows": rows,
            "csv_gz_mb": round(src.stat().st_size / 1e6, 1),
            "generate_s": round(gen, 1),
            "ours_s": round(m_ours, 2),
            "baseline_pyarrow_s": round(m_base, 2),
            "ratio_ours_to_baseline": round(m_ours / m_base, 2),
            # Ours and the baseline alternate, so each pair shares the machine's state of the
            # moment: the median of the pair ratios is robust to a noisy host.
            "ratio_median_of_pairs": round(statistics.median(o / b for o, b in zip(ours, base)), 2),
            "rows_per_s": int(rows / m_ours),
            "peak_rss_mb_ours": round(statistics.median(rss_ours)),
            "peak_rss_mb_baseline": round(statistics.median(rss_base)),
        }
        print(name, json.dumps(report["datasets"][name]), flush=True)
        src.unlink()
    if not args.skip_e2e:
        report["e2e"] = end_to_end(args, work)
    print(json.dumps(report, indent=2))
    return 0


def end_to_end(args, work: Path) -> dict:
    s3, rest = free_port(), free_port()
    state = work / "state.json"
    t0 = time.perf_counter()
    sandbox = control.launch(["--s3-port", str(s3), "--rest-port", str(rest), "--tickers", str(args.tickers),
                              "--start", args.date, "--end", args.date, "--intraday-days", "1"], state)
    control.wait_ready(sandbox, state, timeout=1800)
    startup = time.perf_counter() - t0
    env = dict(os.environ, MASSIVE_S3_ACCESS_KEY="bench", MASSIVE_S3_SECRET_KEY="bench", PATH=f"{BIN}:{os.environ['PATH']}")
    walls = []
    try:
        for i in range(args.repeat):
            wd = work / f"e2e{i}"
            wd.mkdir()
            cmd = snakemake_command(workdir=wd, profile=REPO / "profiles" / "demo", extra=["--cores", "2"], config=[
                f"s3_endpoint=http://127.0.0.1:{s3}", f"rest_base_url=http://127.0.0.1:{rest}", f"date={args.date}",
                "days_back=1", "datasets=[stocks_daily,stocks_minute,options_daily,options_minute]", "rest_datasets=[]"])
            t = time.perf_counter()
            subprocess.run(cmd, check=True, env=env, capture_output=True)
            walls.append(time.perf_counter() - t)
            print("e2e run", i, round(walls[-1], 1), "s", flush=True)
    finally:
        sandbox.terminate()
    return {"sandbox_startup_s": round(startup, 1), "daily_update_all_four_median_s": round(statistics.median(walls), 1),
            "runs_s": [round(w, 1) for w in walls]}


if __name__ == "__main__":
    sys.exit(main())
