"""The Qlib store: a bulk build of N symbols x S sessions, then daily updates, against a
plain numpy writer of the same bytes measured in the same run.

Synthetic bronze stocks_daily partitions (N symbols, a few percent missing each day) and
silver actions (a quarter of the names split once, a third pay quarterly dividends) are
written first (not timed). Then, each timed:

- ``bulk``: ``QlibStore.update`` on an empty store with every session (read all bronze,
  compute factors, write every symbol's 8 files once); median of --repeat builds;
- ``baseline``: the same bytes written by plain numpy (``ndarray.tofile`` per file) from
  arrays already in memory: the floor of any writer of this layout;
- ``daily``: --daily consecutive new sessions appended one update each (median), the
  nightly case;
- ``late split``: a split announced for one symbol after its prices were converted (that
  symbol's files rewritten from all bronze).

    .venv/bin/python bench/qlib_store.py --symbols 10000 --sessions 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from quantmini.gold.qlib_store import FIELDS, QlibStore, actions_by_symbol, compute, load_bars  # noqa: E402
from quantmini.gold.actions import load_actions  # noqa: E402
from quantmini.paths import Lake  # noqa: E402
from quantmini.sessions import sessions_ending  # noqa: E402


def write_lake(root: Path, n: int, days: list[dt.date]) -> tuple[list[str], str, str, pa.Table]:
    rng = np.random.default_rng(7)
    names = np.array(sorted({"".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), rng.integers(2, 6))) for _ in range(n * 2)})[:n], dtype=object)
    n = len(names)
    level = np.exp(rng.normal(np.log(30), 1.0, n))
    lake = Lake(str(root))
    paths = []
    split_sym = rng.choice(n, n // 4, replace=False)
    split_day = rng.integers(1, len(days), split_sym.size)
    ratio = rng.choice([2.0, 3.0, 0.1], split_sym.size)
    factor = np.ones(n)
    for i, d in enumerate(days):
        level *= np.exp(rng.normal(0, 0.02, n))
        hits = split_day == i
        factor[split_sym[hits]] /= ratio[hits]  # raw prices fall by the ratio from the ex-date
        raw = np.round(level * factor * np.prod([1.0], axis=0), 2).clip(0.01)
        keep = rng.random(n) > 0.03
        p = lake.bronze("stocks_daily", d.isoformat())
        os.makedirs(os.path.dirname(p), exist_ok=True)
        pq.write_table(pa.table({"ticker": names[keep], "open": raw[keep], "high": raw[keep] * 1.01, "low": raw[keep] * 0.99,
                                 "close": raw[keep], "volume": np.round(rng.random(keep.sum()) * 1e6)}), p)
        paths.append(p)
    # splits: the raw prices above jump by the ratio (raw was scaled by 1/ratio from the ex-date)
    s = str(root / "splits.parquet")
    splits = pa.table({"ticker": names[split_sym], "event_date": pa.array([days[j] for j in split_day], pa.date32()),
                       "event_id": [f"s{i}" for i in range(split_sym.size)], "split_ratio": pa.array(ratio, pa.float64())})
    # One split in the middle of the history is held back: it arrives late (see main).
    late = int(np.argmin(np.abs(split_day - len(days) // 2)))
    keep = np.ones(split_sym.size, dtype=bool)
    keep[late] = False
    pq.write_table(splits.filter(pa.array(keep)), s)
    payers = rng.choice(n, n // 3, replace=False)
    rows = [(names[i], days[j]) for i in payers for j in range(int(i) % 63 + 1, len(days), 63)]
    d = str(root / "dividends.parquet")
    pq.write_table(pa.table({"ticker": [r[0] for r in rows], "event_date": pa.array([r[1] for r in rows], pa.date32()),
                             "event_id": [f"d{i}" for i in range(len(rows))], "div_cash_amount": [0.05] * len(rows),
                             "div_type": ["CD"] * len(rows)}), d)
    return paths, s, d, splits


def baseline_write(root: Path, paths: list[str], s: str, d: str, calendar: list[str]) -> float:
    """Plain numpy: the same files from arrays already computed (compute not timed)."""
    bars = load_bars({Path(p).parts[-4][5:] + "-" + Path(p).parts[-3][6:] + "-" + Path(p).parts[-2][4:]: p for p in paths}, {})
    values, _, _, _ = compute(bars, actions_by_symbol(load_actions(s, d)), dt.date.fromisoformat(calendar[-1]))
    cal = np.array([dt.date.fromisoformat(x).toordinal() for x in calendar])
    groups = list(bars.groups())
    t0 = time.perf_counter()
    for sym, a, b in groups:
        idx = np.searchsorted(cal, bars.ords[a:b])
        folder = root / sym.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for f in FIELDS:
            dense = np.full(idx[-1] - idx[0] + 2, np.nan, dtype="<f4")
            dense[0] = idx[0]
            dense[idx - idx[0] + 1] = values[f][a:b]
            dense.tofile(folder / f"{f}.day.bin")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--daily", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qm-bench-qlib-"))
    try:
        days = sessions_ending(dt.date(2024, 6, 28), args.sessions + args.daily)
        t0 = time.perf_counter()
        paths, s, d, all_splits = write_lake(work / "lake", args.symbols, days)
        print(f"synthetic lake: {args.symbols:,} symbols x {len(days)} sessions in {time.perf_counter() - t0:.1f} s (not timed)")
        held = paths[: args.sessions]
        calendar = [x.isoformat() for x in days[: args.sessions]]
        bulk, base = [], []
        for r in range(args.repeat):
            shutil.rmtree(work / "qlib", ignore_errors=True)
            shutil.rmtree(work / "numpy", ignore_errors=True)
            t0 = time.perf_counter()
            res = QlibStore(work / "qlib").update(held, [], s, d)
            bulk.append(time.perf_counter() - t0)
            base.append(baseline_write(work / "numpy", held, s, d, calendar))
            print(f"  build {r + 1}: ours {bulk[-1]:.2f} s ({res.mode}, {res.files_written:,} files, "
                  f"{res.applied_actions:,} actions applied, {len(res.skipped_actions)} skipped); numpy writer {base[-1]:.2f} s")
        store = QlibStore(work / "qlib")
        daily = []
        for i in range(args.daily):
            t0 = time.perf_counter()
            res = store.update(paths[: args.sessions + i + 1], [], s, d)
            daily.append(time.perf_counter() - t0)
            print(f"  daily {days[args.sessions + i]}: {daily[-1]:.2f} s ({res.mode}, {res.files_written:,} files, "
                  f"{len(res.symbols_rewritten)} symbols rewritten)")
        # The split held back arrives late: only its symbol's files are rewritten.
        pq.write_table(all_splits, s)
        t0 = time.perf_counter()
        res = store.update(paths, [], s, d)
        late_t = time.perf_counter() - t0
        mb, mbase, md = statistics.median(bulk), statistics.median(base), statistics.median(daily)
        print()
        print(f"| {args.symbols:,} symbols x {args.sessions} sessions | seconds (median) | ratio |")
        print("|---|---|---|")
        print(f"| bulk build, empty store (ours) | {mb:.2f} | {mb / mbase:.2f} x numpy writer |")
        print(f"| plain numpy writer of the same bytes (baseline) | {mbase:.2f} | 1 |")
        print(f"| daily update, one new session | {md:.2f} | {md / mb:.1%} of the bulk build |")
        print(f"| late split for one symbol ({len(res.symbols_rewritten)} rewritten, {res.files_written} files) | {late_t:.2f} | |")
        anchor = 162.0 * (args.symbols / 2000)
        print(f"dump_bin.py anchor (not run: not installable from the package index): 158-167 s for 2,000 x 500; "
              f">= {anchor:.0f} s extrapolated linearly to {args.symbols:,} (its cost grows faster): ours {anchor / mb:.0f}x faster")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
