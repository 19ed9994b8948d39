"""A researcher's first model end to end: a sandbox backfill long enough for Alpha158's
windows (default 330 sessions of full-scale stocks_daily, the fundamentals and reference
tickers pulled), then ``qrun config/qlib/lightgbm_alpha158_pit.yaml`` exactly as a user
runs it (LightGBM on Alpha158 plus point-in-time fundamentals, universe liquid500), with
its signal analysis and backtest report.

Prints the backfill's and qrun's wall times and what Qlib recorded: the test period's IC,
rank IC, and the top-k strategy's annualised return and information ratio, with and
without costs. (The sandbox's prices are synthetic: the figures prove the pipe, not alpha.)

    .venv/bin/python bench/qrun.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from quantmini.sessions import sessions_ending  # noqa: E402
from sandbox import sandbox, snakemake_cmd  # noqa: E402

CONFIG = REPO / "config" / "qlib" / "lightgbm_alpha158_pit.yaml"


def segments(days: list[dt.date]) -> dict[str, str]:
    """Train on all but the last ~120 sessions, validate on 60, test on the last 60 (less
    the two a label looks ahead)."""
    iso = [d.isoformat() for d in days]
    return {"QM_START": iso[0], "QM_FIT_END": iso[-121], "QM_VALID_START": iso[-120], "QM_VALID_END": iso[-61],
            "QM_TEST_START": iso[-60], "QM_END": iso[-3]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=330)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--end", default="2024-06-28")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/quantmini/sandbox"))
    args = ap.parse_args()
    days = sessions_ending(dt.date.fromisoformat(args.end), args.sessions)
    work = Path(tempfile.mkdtemp(prefix="qm-bench-qrun-"))
    extra = ["--intraday-days", "0"] + (["--cache-dir", args.cache_dir] if args.cache_dir else [])
    try:
        with sandbox(work, args.tickers, days[0].isoformat(), days[-1].isoformat(), *extra) as sb:
            config = sb.config(start=days[0].isoformat(), end=days[-1].isoformat(), rate_limit_calls="0",
                               rest_datasets="[fundamentals,tickers,splits,dividends]",
                               rest_force="[fundamentals,tickers,splits,dividends]")
            t0 = time.perf_counter()
            proc = subprocess.run(snakemake_cmd(work, config, "--cores", "2"), env=sb.env(), capture_output=True,
                                  text=True)
            backfill = time.perf_counter() - t0
            if proc.returncode:
                print(proc.stdout[-3000:], proc.stderr[-5000:])
                return 1
        qlib_root = work / "quantlake" / "gold" / "qlib"
        members = len((qlib_root / "instruments" / "liquid500.txt").read_text().splitlines())
        pit = len(list((qlib_root / "financial").glob("*")))
        print(f"backfill: {len(days)} sessions x {args.tickers:,} tickers with fundamentals, {backfill:.0f} s; "
              f"liquid500 has {members} spans, {pit} symbols have point-in-time fundamentals")
        env = dict(os.environ, QM_QLIB_URI=str(qlib_root), PYTHONPATH=str(REPO), **segments(days))
        t0 = time.perf_counter()
        run = subprocess.run([str(Path(sys.executable).parent / "qrun"), str(CONFIG)], cwd=work, env=env,
                             capture_output=True, text=True)
        took = time.perf_counter() - t0
        if run.returncode:
            print(run.stdout[-3000:], run.stderr[-6000:])
            return 1
        return report(work, took)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(work: Path, took: float) -> int:
    import pandas as pd

    ic = glob.glob(str(work / "mlruns" / "*" / "*" / "artifacts" / "sig_analysis" / "ic.pkl"))
    ric = glob.glob(str(work / "mlruns" / "*" / "*" / "artifacts" / "sig_analysis" / "ric.pkl"))
    port = glob.glob(str(work / "mlruns" / "*" / "*" / "artifacts" / "portfolio_analysis" / "port_analysis_1day.pkl"))
    if not (ic and ric and port):
        print(f"qrun finished in {took:.0f} s but left no signal or portfolio analysis under {work / 'mlruns'}")
        return 1
    ic_s, ric_s = pd.read_pickle(ic[0]), pd.read_pickle(ric[0])
    analysis = pd.read_pickle(port[0])
    print(f"qrun (Alpha158 + PIT features, LightGBM, backtest): {took:.0f} s")
    print(f"test IC {ic_s.mean():.4f}, ICIR {ic_s.mean() / ic_s.std():.3f}, rank IC {ric_s.mean():.4f} "
          f"over {len(ic_s)} sessions")
    for kind in ("excess_return_without_cost", "excess_return_with_cost"):
        rows = analysis.loc[kind]["risk"]
        print(f"{kind}: annualized_return {rows['annualized_return']:.4f}, "
              f"information_ratio {rows['information_ratio']:.3f}, max_drawdown {rows['max_drawdown']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
