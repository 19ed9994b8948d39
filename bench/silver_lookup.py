"""Single-ticker lookups in silver corporate actions: our layout against the guide's.

The silver dividends file is one Parquet file sorted by ticker in 8 Ki-row groups (see
quantmini/silver/__init__.py). The operations guide partitions by ticker instead
(``ticker=ABBV/event_type=dividend/data.parquet``) and quotes ~5–10 ms for a single ticker.
This measures, on the same rows (default: 12,000 tickers x 20 quarterly dividends = 5 years):

  - our file: ``pq.read_table(path, filters=[("ticker", "=", T)])`` (row groups skipped by
    their statistics) and the same through ``polars.scan_parquet``;
  - baseline in the same run: the whole file read, then filtered;
  - the guide's layout: reading the one small file of that ticker, and the time to write the
    whole layout (what every rebuild would rewrite) against writing our one file.

    .venv/bin/python bench/silver_lookup.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from quantmini import silver  # noqa: E402
from quantmini.silver.corporate_actions import SCHEMA  # noqa: E402
from sandbox import scratch, timed  # noqa: E402  (bench/sandbox.py: this folder is on sys.path)


def dividends(tickers: int, per_ticker: int) -> pa.Table:
    import datetime as dt

    names = sorted({"".join(random.Random(i).choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=4)) + str(i) for i in range(tickers)})
    rows = len(names) * per_ticker
    first = dt.date(2019, 3, 15)
    table = pa.table({
        "ticker": pa.array([n for n in names for _ in range(per_ticker)]),
        "event_type": pa.array(["dividend"] * rows),
        "event_date": pa.array([first + dt.timedelta(days=91 * k) for _ in names for k in range(per_ticker)], pa.date32()),
        "event_id": pa.array([f"E{i:09d}" for i in range(rows)]),
        "div_cash_amount": pa.array([0.01 * (1 + i % 300) for i in range(rows)]),
        "div_frequency": pa.array([4] * rows, pa.int64()),
        "source_pull_date": pa.array([dt.date(2024, 6, 28)] * rows, pa.date32()),
        "pulled_at": pa.array([dt.datetime(2024, 6, 28, 12, tzinfo=dt.timezone.utc)] * rows, pa.timestamp("us", tz="UTC")),
    })
    return silver.conform(table, SCHEMA)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--per-ticker", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=21)
    args = ap.parse_args()
    import polars as pl

    with scratch("qm-bench-silver-") as work:
        table = dividends(args.tickers, args.per_ticker)
        ours = work / "event_type=dividend" / "data.parquet"
        t = time.perf_counter()
        silver.write(table, ours)
        write_ours = time.perf_counter() - t

        guide = work / "guide"
        t = time.perf_counter()
        bounds = pc.run_end_encode(table.column("ticker")).combine_chunks()
        start = 0
        for name, end in zip(bounds.values.to_pylist(), bounds.run_ends.to_pylist()):
            part = guide / f"ticker={name}" / "event_type=dividend"
            part.mkdir(parents=True)
            pq.write_table(table.slice(start, end - start), part / "data.parquet", compression="zstd")
            start = end
        write_guide = time.perf_counter() - t

        probes = [table.column("ticker")[i].as_py() for i in random.Random(1).sample(range(table.num_rows), args.repeat)]
        it = iter(probes * 4)
        lookup, got = timed(lambda: pq.read_table(ours, filters=[("ticker", "=", next(it))]), args.repeat)
        assert got.num_rows == args.per_ticker
        polars_lookup, got = timed(lambda: pl.scan_parquet(ours).filter(pl.col("ticker") == next(it)).collect(), args.repeat)
        assert got.height == args.per_ticker
        full, got = timed(lambda: (lambda t, k: t.filter(pc.equal(t.column("ticker"), k)))(pq.read_table(ours), next(it)), args.repeat)
        assert got.num_rows == args.per_ticker
        guide_lookup, got = timed(lambda: pq.read_table(guide / f"ticker={next(it)}" / "event_type=dividend" / "data.parquet"), args.repeat)
        assert got.num_rows == args.per_ticker
        report = {
            "rows": table.num_rows,
            "tickers": args.tickers,
            "row_groups": pq.ParquetFile(ours).metadata.num_row_groups,
            "lookup_ms_ours_pyarrow_filters": round(lookup * 1000, 2),
            "lookup_ms_ours_polars_scan": round(polars_lookup * 1000, 2),
            "lookup_ms_baseline_full_read_then_filter": round(full * 1000, 2),
            "ratio_ours_to_full_read": round(lookup / full, 2),
            "lookup_ms_guide_layout_one_file": round(guide_lookup * 1000, 2),
            "write_s_ours_one_file": round(write_ours, 2),
            "write_s_guide_layout": round(write_guide, 2),
            "guide_layout_files": args.tickers,
        }
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
