"""Gold enrichment at full market scale, against the bronze conversion of the same day.

For one generated full-scale session (default 12,000 tickers: ~1.08 M option contracts and
~3.3 M stock minute bars), each in a fresh process and alternating pairwise, --repeat times:

  - options_daily: the gold job (read bronze options and stocks, Black–Scholes implied
    volatility and greeks for every contract, write) against the bronze conversion job of
    the same day's flat file (the target: gold <= 2x bronze, peak RSS <= 1 GB);
  - stocks_minute: the gold job (sessions, running VWAP) against the bronze conversion of
    the same day's minute file.

Times are measured inside the child around the job function (module imports excluded, the
same for both); peak RSS is the child's own. Medians, the ratio of medians and the median of
pair ratios are reported.

    .venv/bin/python bench/gold_enrich.py                 # full scale
    .venv/bin/python bench/gold_enrich.py --tickers 2000 --repeat 1
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
sys.path.insert(0, str(REPO))

GENERATE = """
import sys, datetime as dt
from pathlib import Path
from quantmini.sandbox.market import Market
m = Market(int(sys.argv[1]))
day = dt.date.fromisoformat(sys.argv[2])
for name in sys.argv[4:]:
    Path(sys.argv[3], name + ".csv.gz").write_bytes(getattr(m, name + "_gz")(day))
"""

# Every child imports what either job needs first, so the timed part is the job's work.
PRELUDE = """
import sys, time, json, datetime as dt
import pyarrow.parquet, pyarrow.csv, scipy.special, exchange_calendars, numpy
import quantmini.jobs, quantmini.bronze, quantmini.gold.options_daily, quantmini.gold.stocks_minute
from quantmini.paths import Lake
lake, date, work = Lake(sys.argv[1]), sys.argv[2], sys.argv[3]
"""

BRONZE_JOB = """
t = time.perf_counter()
quantmini.jobs.bronze_flatfile(lake.root, "{ds}", date, work + "/{ds}.csv.gz", lake.bronze("{ds}", date), work + "/log")
print(time.perf_counter() - t)
"""
GOLD_JOB = {
    "options_daily": 'quantmini.jobs.gold_options_daily(lake.root, date, 0.04, lake.bronze("options_daily", date), '
                     '[lake.bronze("stocks_daily", date)], [], lake.gold("options_daily", date), work + "/log")',
    "stocks_minute": 'quantmini.jobs.gold_stocks_minute(lake.root, date, lake.bronze("stocks_minute", date), '
                     'lake.gold("stocks_minute", date), work + "/log")',
}
CHILD = {f"bronze_{ds}": PRELUDE + BRONZE_JOB.replace("{ds}", ds) for ds in ("options_daily", "stocks_minute", "stocks_daily")}
CHILD.update({f"gold_{ds}": PRELUDE + f"t = time.perf_counter()\n{call}\nprint(time.perf_counter() - t)\n"
              for ds, call in GOLD_JOB.items()})


def run_child(name: str, lake: Path, date: str, work: Path) -> tuple[float, float]:
    """(seconds inside the child, its peak RSS in MB)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD[name], str(lake), date, str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{name} failed")
    return float(out.split()[-1]), usage.ru_maxrss / 1024


def pairs(gold: str, bronze: str, lake: Path, args, work: Path) -> dict:
    g_s, b_s, g_rss, b_rss = [], [], [], []
    for _ in range(args.repeat):
        s, rss = run_child(bronze, lake, args.date, work)
        b_s.append(s)
        b_rss.append(rss)
        s, rss = run_child(gold, lake, args.date, work)
        g_s.append(s)
        g_rss.append(rss)
    sidecar = json.loads(Path(Lake(str(lake)).sidecar("gold", gold.removeprefix("gold_"), args.date)).read_text())
    mg, mb = statistics.median(g_s), statistics.median(b_s)
    return {
        "records": sidecar["statistics"]["records"],
        "gold_s": round(mg, 2),
        "bronze_conversion_s": round(mb, 2),
        "ratio_gold_to_bronze": round(mg / mb, 2),
        "ratio_median_of_pairs": round(statistics.median(g / b for g, b in zip(g_s, b_s)), 2),
        "gold_peak_rss_mb": round(statistics.median(g_rss)),
        "bronze_peak_rss_mb": round(statistics.median(b_rss)),
        "gold_runs_s": [round(x, 2) for x in g_s],
        "bronze_runs_s": [round(x, 2) for x in b_s],
        "statistics": {k: v for k, v in sidecar["statistics"].items() if k in ("nulls", "iv_status", "session_rows")},
    }


from quantmini.paths import Lake  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--date", default="2024-06-27")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qm-bench-gold-"))
    lake = work / "lake"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", GENERATE, str(args.tickers), args.date, str(work),
                    "options_daily", "stocks_daily", "stocks_minute"], check=True, cwd=REPO)
    run_child("bronze_stocks_daily", lake, args.date, work)  # the underlying closes
    report = {"tickers": args.tickers, "date": args.date, "repeat": args.repeat,
              "generate_s": round(time.perf_counter() - t0, 1)}
    report["options_daily"] = pairs("gold_options_daily", "bronze_options_daily", lake, args, work)
    print("options_daily", json.dumps(report["options_daily"]), flush=True)
    report["stocks_minute"] = pairs("gold_stocks_minute", "bronze_stocks_minute", lake, args, work)
    print("stocks_minute", json.dumps(report["stocks_minute"]), flush=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
