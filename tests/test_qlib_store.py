"""The Qlib store's update rules: appends, in-place backfill, prepends, crash repair."""

from __future__ import annotations

import datetime as dt
import struct

import numpy as np
import pyarrow as pa
import pytest

from quantmini.qlib_store import QlibStore, StoreError, code_to_fname, feature_dir_name

D = [dt.date(2024, 6, d) for d in (7, 10, 11, 12, 13, 14, 17, 18, 20)]


def bars(tickers, base=10.0):
    n = len(tickers)
    vals = [base + i for i in range(n)]
    return pa.table({"ticker": tickers, "open": vals, "high": vals, "low": vals, "close": vals, "volume": [100.0] * n})


def test_code_to_fname_matches_qlib():
    qutils = pytest.importorskip("qlib.utils")
    for code in ("AAPL", "BRK.B", "PRN", "prn", "CON", "COM1", "LPT9", "ALLpB", "NUL"):
        assert code_to_fname(code) == qutils.code_to_fname(code)
    assert feature_dir_name("PRN") == "_qlib_prn" and feature_dir_name("BRK.B") == "brk.b"


def test_append_with_gap_then_backfill_in_place(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[0], bars(["AAA"], 1.0))
    store.apply_day(D[3], bars(["AAA"], 4.0))  # two sessions skipped -> NaN
    start, close = store.read_feature("AAA", "close")
    assert start == 0 and np.isnan(close[1:3]).all() and close[0] == 1.0 and close[3] == 4.0
    path = tmp_path / "features" / "aaa" / "close.day.bin"
    inode = path.stat().st_ino
    store.apply_day(D[1], bars(["AAA"], 2.0))  # backfill inside the span: in place
    assert path.stat().st_ino == inode
    assert store.read_feature("AAA", "close")[1].tolist()[:4][0:2] == [1.0, 2.0]
    assert store.calendar() == [d.isoformat() for d in D[:4]]


def test_day_before_store_start_reindexes_every_symbol(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[2], bars(["AAA", "BBB"]))
    store.apply_day(D[3], bars(["BBB"], 20.0))
    store.apply_day(D[0], bars(["BBB"], 30.0))  # earlier than the calendar start
    assert store.calendar() == [d.isoformat() for d in D[:4]]
    a_start, a = store.read_feature("AAA", "close")
    b_start, b = store.read_feature("BBB", "close")
    assert a_start == 2 and a.tolist() == [10.0]
    assert b_start == 0 and b[0] == 30.0 and np.isnan(b[1]) and b[2] == 11.0 and b[3] == 20.0
    assert store.instruments() == {"AAA": ["2024-06-11", "2024-06-11"], "BBB": ["2024-06-07", "2024-06-12"]}


def test_reapplying_a_day_is_idempotent(tmp_path):
    store = QlibStore(tmp_path)
    for d in D[:3]:
        store.apply_day(d, bars(["AAA", "BBB"]))
    snap = {p: p.read_bytes() for p in tmp_path.rglob("*.bin")}
    store.apply_day(D[1], bars(["AAA", "BBB"]))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.bin")} == snap


def test_torn_append_is_repaired(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[0], bars(["AAA"], 1.0))
    path = tmp_path / "features" / "aaa" / "close.day.bin"
    with open(path, "ab") as fh:
        fh.write(b"\x00\x00")  # half a value from a killed process
    store.apply_day(D[1], bars(["AAA"], 2.0))
    assert store.read_feature("AAA", "close")[1].tolist() == [1.0, 2.0]


def test_interrupted_reindex_is_finished_by_the_next_update(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[2], bars(["AAA"], 1.0))
    # Simulate a crash after the calendar grew at the front but before headers moved.
    (tmp_path / "calendars" / "day.txt").write_text("".join(f"{d}\n" for d in D[:3]))
    (tmp_path / ".journal.json").write_text('{"op": "reindex"}')
    store.apply_day(D[2], bars(["AAA"], 1.0))
    assert store.read_feature("AAA", "close")[0] == 2
    assert not (tmp_path / ".journal.json").exists()


def test_case_collision_is_refused(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[0], bars(["ABCPA"]))
    with pytest.raises(StoreError, match="same Qlib directory"):
        store.apply_day(D[1], bars(["ABCpA"]))


def test_non_session_refused(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[0], bars(["AAA"]))
    with pytest.raises(StoreError, match="not an XNYS session"):
        store.apply_day(dt.date(2024, 6, 19), bars(["AAA"]))


def test_binary_layout_is_little_endian_float32(tmp_path):
    store = QlibStore(tmp_path)
    store.apply_day(D[4], bars(["AAA"], 2.5))
    raw = (tmp_path / "features" / "aaa" / "open.day.bin").read_bytes()
    assert raw == struct.pack("<ff", 0.0, 2.5)
    assert (tmp_path / "features" / "aaa" / "factor.day.bin").read_bytes() == struct.pack("<ff", 0.0, 1.0)
