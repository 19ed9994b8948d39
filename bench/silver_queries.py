"""The operations guide's four silver query types, and a point-in-time lookup, measured.

A silver corporate-actions directory as the workflow writes it (one file per event type,
``event_type=<type>/data.parquet``, sorted by ticker in 8 Ki-row groups, the key in the path
only), with ``--tickers`` names (default 12,000): 20 quarterly dividends each,
a split for one name in 20, an IPO for one in 10, a ticker change for one in 50. Queries, on
the directory with no options, medians of ``--repeat`` runs:

1. a single ticker, every event type (the guide quotes 5-10 ms);
2. a 10-ticker portfolio (50-100 ms);
3. one event type across all tickers (100-200 ms);
4. a full scan (0.5-1 s): also the baseline every other figure is a ratio to.

Each through pyarrow (``pq.read_table(dir, filters=...)``) and DuckDB. Then a point-in-time
lookup: ``silver.point_in_time.as_of`` for 500 tickers on one date, over a
``fundamentals_pit`` table of the same tickers (20 quarters, one in five amended), read from
its file each time.

    .venv/bin/python bench/silver_queries.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from quantmini import silver  # noqa: E402
from quantmini.silver import corporate_actions as ca  # noqa: E402
from quantmini.silver import point_in_time as pit  # noqa: E402
from sandbox import scratch, timed  # noqa: E402  (bench/sandbox.py: this folder is on sys.path)

GUIDE_MS = {"single_ticker": "5-10", "portfolio_10": "50-100", "one_event_type": "100-200", "full_scan": "500-1000"}


def names(n: int) -> list[str]:
    rng = random.Random(3)
    return sorted({"".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=4)) + str(i) for i in range(n)})


def event_table(kind: str, tickers: list[str], per: int, columns: dict) -> pa.Table:
    rows = len(tickers) * per
    base = {
        "ticker": pa.array([t for t in tickers for _ in range(per)]),
        "event_type": pa.array([kind] * rows),
        "event_date": pa.array([dt.date(2019, 3, 15) + dt.timedelta(days=91 * k) for _ in tickers for k in range(per)],
                               pa.date32()),
        "event_id": pa.array([f"{kind[:2]}{i:09d}" for i in range(rows)]),
        "flags": pa.array([[] for _ in range(rows)], pa.list_(pa.string())),
        "source_pull_date": pa.array([dt.date(2024, 6, 28)] * rows, pa.date32()),
        "pulled_at": pa.array([dt.datetime(2024, 6, 28, 12, tzinfo=dt.timezone.utc)] * rows, pa.timestamp("us", tz="UTC")),
    }
    base.update({k: v(rows) for k, v in columns.items()})
    return silver.conform(pa.table(base), ca.SCHEMA)


def build_actions(root: Path, tickers: list[str]) -> int:
    tables = {
        "dividend": event_table("dividend", tickers, 20, {
            "div_cash_amount": lambda n: pa.array(np.round(0.01 * (1 + np.arange(n) % 300), 2)),
            "div_frequency": lambda n: pa.array([4] * n, pa.int64()), "div_type": lambda n: pa.array(["CD"] * n)}),
        "split": event_table("split", tickers[::20], 1, {
            "split_from": lambda n: pa.array([1.0] * n), "split_to": lambda n: pa.array([2.0] * n),
            "split_ratio": lambda n: pa.array([2.0] * n)}),
        "ipo": event_table("ipo", tickers[::10], 1, {"ipo_issue_price": lambda n: pa.array([20.0] * n)}),
        "ticker_change": event_table("ticker_change", tickers[::50], 1, {"tc_new_ticker": lambda n: pa.array(["NEW"] * n)}),
    }
    rows = 0
    for kind, table in tables.items():
        silver.write(table, root / f"event_type={kind}" / "data.parquet")
        rows += table.num_rows
    return rows


def build_pit(path: Path, tickers: list[str]) -> int:
    rng = np.random.default_rng(5)
    ends = [dt.date(2019, 3, 31) + dt.timedelta(days=91 * k) for k in range(20)]
    rows = []
    for t in tickers:
        for e in ends:
            rows.append((t, e, e + dt.timedelta(days=35), float(rng.uniform(1e6, 1e9))))
            if rng.random() < 0.2:  # an amendment a month later
                rows.append((t, e, e + dt.timedelta(days=65), float(rng.uniform(1e6, 1e9))))
    n = len(rows)
    table = pa.table({
        "ticker": pa.array([r[0] for r in rows]), "timeframe": pa.array(["quarterly"] * n),
        "period_end": pa.array([r[1] for r in rows], pa.date32()), "filing_date": pa.array([r[2] for r in rows], pa.date32()),
        "known_date": pa.array([r[2] for r in rows], pa.date32()), "known_rule": pa.array(["filing_date"] * n),
        "revenue": pa.array([r[3] for r in rows]),
        "source_pull_date": pa.array([dt.date(2024, 6, 28)] * n, pa.date32()),
    })
    table = silver.conform(table, pit.SCHEMA)
    silver.write(table, path)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickers", type=int, default=12000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    import duckdb
    import polars as pl

    with scratch("qm-bench-queries-") as work:
        tickers = names(args.tickers)
        root = work / "silver" / "corporate_actions"
        rows = build_actions(root, tickers)
        rng = random.Random(11)
        singles = iter(rng.choices(tickers, k=args.repeat * 3))
        portfolios = iter([rng.sample(tickers, 10) for _ in range(args.repeat * 3)])
        glob = f"{root}/**/*.parquet"
        con = duckdb.connect()
        queries = {
            "single_ticker": (lambda: pq.read_table(root, filters=[("ticker", "=", next(singles))]).num_rows,
                              lambda: con.sql(f"select * from read_parquet('{glob}') where ticker = '{next(singles)}'").to_arrow_table().num_rows),
            "portfolio_10": (lambda: pq.read_table(root, filters=[("ticker", "in", next(portfolios))]).num_rows,
                             lambda: con.sql(f"select * from read_parquet('{glob}') where ticker in "
                                             f"({','.join(repr(t) for t in next(portfolios))})").to_arrow_table().num_rows),
            "one_event_type": (lambda: pq.read_table(root, filters=[("event_type", "=", "dividend")]).num_rows,
                               lambda: con.sql(f"select * from read_parquet('{glob}') where event_type = 'dividend'").to_arrow_table().num_rows),
            "full_scan": (lambda: pq.read_table(root).num_rows,
                          lambda: con.sql(f"select * from read_parquet('{glob}')").to_arrow_table().num_rows),
        }
        report: dict = {"rows": rows, "tickers": len(tickers), "queries": {}}
        medians = {}
        for name, (arrow_q, duck_q) in queries.items():
            a, got_a = timed(arrow_q, args.repeat)
            d, got_d = timed(duck_q, args.repeat)
            assert got_a > 0 and (name in ("single_ticker", "portfolio_10") or got_a == got_d), (name, got_a, got_d)
            medians[name] = a
            report["queries"][name] = {"pyarrow_ms": round(a * 1000, 2), "duckdb_ms": round(d * 1000, 2),
                                       "guide_ms": GUIDE_MS[name]}
        for name, a in medians.items():
            report["queries"][name]["ratio_to_full_scan"] = round(a / medians["full_scan"], 3)

        pit_path = work / "silver" / "fundamentals_pit" / "timeframe=quarterly" / "data.parquet"
        versions = build_pit(pit_path, tickers)
        day = dt.date(2023, 6, 30)
        portfolio = rng.sample(tickers, 500)
        lookup, got = timed(lambda: pit.as_of(pl.read_parquet(pit_path), portfolio, day), args.repeat)
        assert got.height == 500 and got["known_date"].max() <= day
        read_only, _ = timed(lambda: pl.read_parquet(pit_path), args.repeat)
        report["point_in_time"] = {"versions": versions, "tickers_asked": 500, "as_of": day.isoformat(),
                                   "lookup_ms_incl_read": round(lookup * 1000, 2),
                                   "read_only_ms_baseline": round(read_only * 1000, 2),
                                   "ratio_to_read": round(lookup / read_only, 2)}
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
