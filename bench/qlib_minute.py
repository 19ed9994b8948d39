"""The Qlib minute store: a bulk build of one month of full-scale minutes for a 1,000-symbol
universe, and one session appended (1,000 symbols and every symbol), each with its peak RSS,
against a plain reader-and-writer of the same bytes measured in the same run.

Setup (not timed): the sandbox market's full-scale stocks_minute (~3.3 M bars a session,
12,000 tickers) for every session of the month is written as bronze Parquet, and the daily
Qlib store (the factors) is built from its stocks_daily.

Timed, each in a fresh process (its ``VmHWM`` is its peak RSS):

- ``bulk``: ``MinuteStore.update`` on an empty minute store with the month's sessions;
- ``baseline``: the same bytes by plain pyarrow + numpy, Qlib ``dump_bin.py``'s way: every
  session's bars read into memory at once, then each symbol's dense arrays written with
  ``ndarray.tofile``; the bytes are checked equal to the store's;
- ``append``: the month less its last session built first (not timed), then the last
  session appended, for the 1,000-symbol universe and for every symbol.

    .venv/bin/python bench/qlib_minute.py --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def setup(root: Path, month: str, n_tickers: int) -> dict:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from quantmini.gold.qlib_store import QlibStore
    from quantmini.paths import Lake
    from quantmini.sandbox.market import Market
    from quantmini.sessions import sessions_between

    first = dt.date.fromisoformat(month + "-01")
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    days = [d.isoformat() for d in sessions_between(first, last)]
    market = Market(n_tickers=n_tickers)
    lake = Lake(str(root / "lake"))
    daily, minute = [], {}
    volume = None
    for d in days:
        bars = market.published_day_bars(dt.date.fromisoformat(d))[["ticker", "open", "high", "low", "close", "volume"]]
        path = lake.bronze("stocks_daily", d)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(pa.Table.from_pandas(bars, preserve_index=False), path)
        daily.append(path)
        v = bars.set_index("ticker")["volume"] * bars.set_index("ticker")["close"]
        volume = v if volume is None else volume.add(v, fill_value=0)
        m = market.stocks_minute(dt.date.fromisoformat(d))
        m["window_start"] = pd.to_datetime(m["window_start"], utc=True)
        path = lake.bronze("stocks_minute", d)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(pa.Table.from_pandas(m.sort_values(["ticker", "window_start"]), preserve_index=False), path,
                       compression="zstd")
        minute[d] = path
    QlibStore(root / "qlib").update(sorted(daily))
    top = [str(t) for t in volume.sort_values(ascending=False).index[:1000]]
    everyone = sorted(map(str, volume.index))
    size = sum(os.path.getsize(p) for p in minute.values())
    return {"days": days, "minute": minute, "top": top, "all": everyone, "bronze_bytes": size,
            "bars": int(sum(pq.ParquetFile(p).metadata.num_rows for p in minute.values()))}


# -- the timed children ---------------------------------------------------------------------
def child_bulk(setup_info: dict, store: Path, symbols: list[str], days: list[str]) -> dict:
    from quantmini.gold.qlib_minute import Membership, MinuteStore

    t = time.perf_counter()
    res = MinuteStore(store).update({d: setup_info["minute"][d] for d in days}, Membership.read(store, None, symbols))
    return {"seconds": time.perf_counter() - t, "mode": res.mode, "bytes": res.bytes, "bars": res.bars_written}


def child_baseline(setup_info: dict, out: Path, symbols: list[str], days: list[str], qlib: Path) -> dict:
    """Plain pyarrow + numpy, everything in memory (dump_bin's way), the same bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from quantmini.gold.qlib_minute import FIELDS, MINUTE_NS, session_minutes
    from quantmini.gold.symbols import feature_dir_name, qlib_symbol
    from quantmini.sessions import regular_session_bounds

    t = time.perf_counter()
    cal = (qlib / "calendars" / "day.txt").read_text().split()
    day_index = {d: i for i, d in enumerate(cal)}
    wanted = pa.array(sorted(symbols))
    tables, offset = [], 0
    for d in days:
        o, c = regular_session_bounds(dt.date.fromisoformat(d))
        tb = pq.read_table(setup_info["minute"][d], columns=["ticker", "window_start", "open", "high", "low", "close", "volume"])
        ts = pc.cast(tb["window_start"], pa.int64())
        tb = tb.filter(pc.and_(pc.and_(pc.greater_equal(ts, o), pc.less(ts, c)), pc.is_in(tb["ticker"], wanted)))
        idx = (pc.cast(tb["window_start"], pa.int64()).to_numpy() - o) // MINUTE_NS + offset
        tables.append((d, tb, idx))
        offset += len(session_minutes(dt.date.fromisoformat(d)))
    tickers = np.concatenate([tb["ticker"].to_numpy(zero_copy_only=False) for _, tb, _ in tables])
    idx = np.concatenate([i for _, _, i in tables])
    day_of = np.concatenate([np.full(tb.num_rows, k) for k, (_, tb, _) in enumerate(tables)])
    cols = {f: np.concatenate([tb[f].to_numpy() for _, tb, _ in tables]).astype(np.float64)
            for f in ("open", "high", "low", "close", "volume")}
    order = np.lexsort((idx, tickers))
    tickers, idx, day_of = tickers[order], idx[order], day_of[order]
    cols = {f: v[order] for f, v in cols.items()}
    bounds = np.flatnonzero(tickers[1:] != tickers[:-1]) + 1
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(tickers)]):
        sym = qlib_symbol(tickers[a])
        factor_file = np.fromfile(qlib / "features" / feature_dir_name(sym) / "factor.day.bin", dtype="<f4")
        fday = np.array([factor_file[1 + day_index[days[k]] - int(factor_file[0])] for k in day_of[a:b]], dtype=np.float64)
        folder = out / feature_dir_name(sym)
        folder.mkdir(parents=True, exist_ok=True)
        start, end = int(idx[a]), int(idx[b - 1])
        values = {f: cols[f][a:b] * fday for f in ("open", "high", "low", "close")}
        values["volume"] = cols["volume"][a:b] / fday
        values["factor"] = fday
        for f in FIELDS:
            dense = np.full(end - start + 2, np.nan, dtype="<f4")
            dense[0] = start
            dense[idx[a:b] - start + 1] = values[f]
            dense.tofile(folder / f"{f}.1min.bin")
    return {"seconds": time.perf_counter() - t}


def run_child(kind: str, args: list) -> dict:
    """Run one timed part in a fresh process; its result and peak RSS (MB)."""
    spec = json.dumps([kind, args])
    proc = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_main(spec: str) -> None:
    kind, args = json.loads(spec)
    info = json.loads(Path(args[0]).read_text())
    if kind == "bulk":
        out = child_bulk(info, Path(args[1]), args[2], args[3])
    else:
        out = child_baseline(info, Path(args[1]), args[2], args[3], Path(args[4]))
    # VmHWM: this process image's own high-water mark (ru_maxrss would carry the forking
    # parent's, which holds the generated month, across the exec)
    hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    out["peak_rss_mb"] = int(hwm.split()[1]) / 1024
    print(json.dumps(out))


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.1min.bin"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", default="2024-06")
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child")
    a = ap.parse_args()
    if a.child:
        return child_main(a.child)
    tmp = Path(tempfile.mkdtemp(prefix="qm-minute-"))
    try:
        t = time.perf_counter()
        info = setup(tmp, a.month, a.tickers)
        info_path = tmp / "info.json"
        info_path.write_text(json.dumps(info))
        days, top = info["days"], info["top"]
        print(f"setup: {len(days)} sessions of {a.month}, {info['bars']:,} minute bars, bronze "
              f"{info['bronze_bytes'] / 1e9:.2f} GB, {time.perf_counter() - t:.0f} s (not timed)")
        bulk, base = [], []
        for _ in range(a.repeat):
            store = tmp / "store"
            if store.exists():
                shutil.rmtree(store)
            shutil.copytree(tmp / "qlib", store)
            bulk.append(run_child("bulk", [str(info_path), str(store), top, days]))
            out = tmp / "baseline"
            shutil.rmtree(out, ignore_errors=True)
            base.append(run_child("baseline", [str(info_path), str(out), top, days, str(tmp / "qlib")]))
        mine = {k.removeprefix("features/"): v for k, v in files(tmp / "store").items()}
        theirs = files(tmp / "baseline")
        assert mine == theirs, "the baseline writes other bytes than the store"
        b, s = statistics.median(r["seconds"] for r in bulk), statistics.median(r["seconds"] for r in base)
        print(f"bulk, 1,000 symbols x {len(days)} sessions: {b:.2f} s (median of {a.repeat}), "
              f"peak RSS {max(r['peak_rss_mb'] for r in bulk):.0f} MB, {bulk[0]['bars']:,} bars, "
              f"{bulk[0]['bytes'] / 1e6:.0f} MB written")
        print(f"baseline (pyarrow + numpy, all in memory, same bytes): {s:.2f} s, "
              f"peak RSS {max(r['peak_rss_mb'] for r in base):.0f} MB")
        print(f"ratio bulk / baseline: {b / s:.2f}  (target <= 1.5; peak RSS target <= 1 GB)")
        per_session = bulk[0]["bytes"] / len(days)
        print(f"size on disk: {per_session / 1e6:.1f} MB per session per 1,000 symbols")
        for label, symbols in (("1,000 symbols", top), (f"all {len(info['all']):,} symbols", info["all"])):
            times = []
            for _ in range(a.repeat):
                store = tmp / "append"
                shutil.rmtree(store, ignore_errors=True)
                shutil.copytree(tmp / "qlib", store)
                run_child("bulk", [str(info_path), str(store), symbols, days[:-1]])
                times.append(run_child("bulk", [str(info_path), str(store), symbols, days]))
            assert times[0]["mode"] == "append"
            print(f"append one session, {label}: {statistics.median(r['seconds'] for r in times):.2f} s, "
                  f"peak RSS {max(r['peak_rss_mb'] for r in times):.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
