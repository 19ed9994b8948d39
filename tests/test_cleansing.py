"""Silver cleansing flags: each reason fires on a constructed case, clean rows stay clean,
nothing is deleted, the sidecar counts them, and the Qlib adjustment skips flagged rows."""

from __future__ import annotations

import polars as pl

from quantmini.gold import actions as adj
from quantmini.paths import Lake
from quantmini.silver import cleansing, corporate_actions

from .test_silver import D, div, put

W = "2024-05-01_2024-09-30"


def _bars(rows):
    return pl.DataFrame(rows, schema={"ticker": pl.String, "date": pl.Date, "close": pl.Float64}, orient="row")


# The lake holds 06-03 .. 06-12 for these tickers (NVDA: its real closes around the 10:1 split).
BARS = _bars([
    ("NVDA", D("2024-06-06"), 1209.98), ("NVDA", D("2024-06-07"), 1208.88), ("NVDA", D("2024-06-10"), 121.79),
    ("FLAT", D("2024-06-07"), 50.0), ("FLAT", D("2024-06-10"), 49.5),
    ("DEAD", D("2024-06-03"), 10.0), ("DEAD", D("2024-06-04"), 10.1),
    ("NEWX", D("2024-06-11"), 20.0), ("NEWX", D("2024-06-12"), 20.2),
    ("CHEAP", D("2024-06-06"), 1.00), ("CHEAP", D("2024-06-07"), 0.90),
    ("GOOD", D("2024-06-06"), 100.0), ("GOOD", D("2024-06-07"), 99.0), ("GOOD", D("2024-06-12"), 98.0),
])


def _flags(table) -> dict[str, list[str]]:
    return {r["event_id"]: r["flags"] for r in table.to_pylist()}


def test_split_flags(tmp_path):
    lake = Lake(str(tmp_path))
    p = put(lake, "splits", "2024-06-12", W, [
        {"id": "nvda", "ticker": "NVDA", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 10.0},
        {"id": "flat", "ticker": "FLAT", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 4.0},
        {"id": "huge", "ticker": "GOOD", "execution_date": D("2024-08-01"), "split_from": 1.0, "split_to": 500.0},
        {"id": "dead", "ticker": "DEAD", "execution_date": D("2024-06-07"), "split_from": 1.0, "split_to": 2.0},
        {"id": "unheld", "ticker": "ZZZ", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 2.0},
    ])
    table = corporate_actions.build("split", [p], BARS)
    assert table.num_rows == 5  # flagged, never dropped
    assert _flags(table) == {
        "nvda": [],  # 1208.88 -> 121.79: the 10x move is there
        "flat": ["split_without_price_jump"],  # 50 -> 49.5 on a 4:1 split
        "huge": ["split_ratio_out_of_range"],  # 500-for-1 (and in the future: no price check)
        "dead": ["after_last_trade"],  # DEAD's last bar is 06-04, the lake runs to 06-12
        "unheld": [],  # no bars held for ZZZ: nothing to check against
    }
    assert cleansing.counts(table) == {"split_without_price_jump": 1, "after_last_trade": 1, "split_ratio_out_of_range": 1}


def test_dividend_flags(tmp_path):
    lake = Lake(str(tmp_path))
    p = put(lake, "dividends", "2024-06-12", W, [
        div("a", "GOOD", "2024-06-07", 0.50), div("b", "GOOD", "2024-06-07", 0.55),  # two amounts, one ex-date
        div("c", "GOOD", "2024-06-12", 0.50),
        div("d", "CHEAP", "2024-06-07", 1.50),  # above the previous close of 1.00
        div("e", "NEWX", "2024-06-04", 0.10),  # before NEWX's first bar (06-11), within the lake
        div("f", "GOOD", "2024-09-15", 0.50),  # announced, after the lake's last session: not "after the last trade"
        div("g", "GOOD", "2024-06-12", 0.50, freq=0, dtype="SC"),  # a special beside a regular: not a duplicate
    ])
    table = corporate_actions.build("dividend", [p], BARS)
    assert _flags(table) == {"a": ["duplicate_ex_date"], "b": ["duplicate_ex_date"], "c": [],
                             "d": ["dividend_exceeds_close"], "e": ["before_first_trade"], "f": [], "g": []}
    path = tmp_path / "dividend.parquet"
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    kept = adj.load_actions(None, path, "total")
    # the Qlib adjustment takes the cash dividends (regular and special) that carry no flag
    assert sorted((a.ticker, a.event_id) for acts in kept.values() for a in acts) == [
        ("GOOD", "c"), ("GOOD", "f"), ("GOOD", "g")]


def test_no_bars_no_price_flags(tmp_path):
    lake = Lake(str(tmp_path))
    p = put(lake, "splits", "2024-06-12", W, [
        {"id": "flat", "ticker": "FLAT", "execution_date": D("2024-06-10"), "split_from": 1.0, "split_to": 4.0}])
    assert _flags(corporate_actions.build("split", [p])) == {"flat": []}
