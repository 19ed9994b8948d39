"""The Qlib store: adjustment factors, instrument names, and an incremental store that always
equals a full rebuild from the same bronze and silver (bytes, and mtimes where nothing changed)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.gold import actions as adj
from quantmini.gold.qlib_store import FIELDS, QlibStore, QlibStoreError
from quantmini.gold.symbols import PANDAS_NA_STRINGS, BadSymbol, code_to_fname, feature_dir_name, qlib_symbol
from quantmini.paths import Lake
from quantmini.sessions import sessions_between

DAYS = [d.isoformat() for d in sessions_between(dt.date(2024, 6, 3), dt.date(2024, 6, 28))]


# -- names --------------------------------------------------------------------------------------
def test_code_to_fname_matches_qlib():
    qutils = pytest.importorskip("qlib.utils")
    for code in ("AAPL", "BRK.B", "PRN", "prn", "CON", "COM1", "LPT9", "ALLpB", "NUL"):
        assert code_to_fname(code) == qutils.code_to_fname(code)
    assert feature_dir_name("PRN") == "_qlib_prn" and feature_dir_name("BRK.B") == "brk.b"


def test_symbols_upper_cased_and_na_names_escaped():
    assert qlib_symbol("ALLpB") == "ALLPB" and qlib_symbol("BRK.B") == "BRK.B"
    assert qlib_symbol("NA") == "_NA" and qlib_symbol("NULL") == "_NULL" and qlib_symbol("nan") == "NAN"
    import pandas as pd
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(STR_NA_VALUES) == set(PANDAS_NA_STRINGS)
    assert pd.read_csv(__import__("io").StringIO("_NA\n"), header=None, dtype=str).iloc[0, 0] == "_NA"


@pytest.mark.parametrize("bad", ["", "../../ESCAPED", "A/B", "..", ".", "A\\B", "X" * 17, "A B", "A\x00"])
def test_path_like_tickers_refused(bad):
    with pytest.raises(BadSymbol, match="not a stock ticker"):
        qlib_symbol(bad)


# -- factors ------------------------------------------------------------------------------------
def _ords(*days):
    return np.array([dt.date.fromisoformat(d).toordinal() for d in days])


def test_split_and_dividend_factors():
    ords = _ords("2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06")
    close = np.array([100.0, 102.0, 51.0, 50.0])
    acts = [adj.Action("X", "dividend", dt.date(2024, 6, 4), 2.0), adj.Action("X", "split", dt.date(2024, 6, 5), 2.0)]
    applied, skipped = adj.resolve(acts, ords, close)
    assert skipped == []
    f = adj.factors(ords, applied)
    np.testing.assert_allclose(f, [(1 - 2 / 100) * 0.5, 0.5, 1.0, 1.0])


def test_contradicted_actions_are_skipped_with_a_reason():
    ords = _ords("2024-06-03", "2024-06-04", "2024-06-05")
    close = np.array([100.0, 101.0, 99.0])
    acts = [adj.Action("X", "split", dt.date(2024, 6, 4), 10.0), adj.Action("X", "dividend", dt.date(2024, 6, 5), 150.0),
            adj.Action("X", "dividend", dt.date(2024, 6, 3), 1.0), adj.Action("X", "split", dt.date(2024, 6, 7), 2.0)]
    applied, skipped = adj.resolve(acts, ords, close)
    assert applied == []
    reasons = [s.reason for s in skipped]
    assert "no matching jump" in reasons[0] and "not below the previous close" in reasons[1]
    assert reasons[2] == "no close before the ex-date"
    assert reasons[3] == "no bar on or after the ex-date to verify the split"


def test_reverse_split_matches_its_jump():
    ords = _ords("2024-06-14", "2024-06-17")
    applied, skipped = adj.resolve([adj.Action("X", "split", dt.date(2024, 6, 17), 0.1)], ords, np.array([1.2, 12.3]))
    assert skipped == [] and applied == [(ords[1], 10.0)]


# -- the store ----------------------------------------------------------------------------------
class Lakeish:
    """Bronze partitions and silver action files written the way the lake holds them."""

    def __init__(self, root: Path, tickers=("AAA", "BBB", "CCC", "BRK.B", "PRN", "NA")):
        self.root = root
        self.lake = Lake(str(root))
        self.tickers = list(tickers)
        self.splits: list[tuple[str, str, float]] = []
        self.dividends: list[tuple[str, str, float]] = []
        self.split_on: dict[tuple[str, str], float] = {}

    def day(self, date: str, skip=(), scale=1.0, extra=()) -> str:
        rng = np.random.default_rng(int(date.replace("-", "")))
        names = sorted([t for t in self.tickers if t not in skip] + list(extra))
        base = 50 + rng.random(len(names)) * 10
        for i, t in enumerate(names):
            # raw prices before a split's ex-date are ratio times higher
            for (tk, ex), ratio in self.split_on.items():
                if tk == t and date < ex:
                    base[i] *= ratio
        base = np.round(base * scale, 2)
        p = self.lake.bronze("stocks_daily", date)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        pq.write_table(pa.table({"ticker": names, "open": base, "high": base + 1, "low": base - 1, "close": base,
                                 "volume": np.round(rng.random(len(names)) * 1e6)}), p)
        return p

    def silver(self) -> tuple[str, str]:
        s = self.lake.silver("corporate_actions", "event_type=split")
        d = self.lake.silver("corporate_actions", "event_type=dividend")
        os.makedirs(os.path.dirname(s), exist_ok=True)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        pq.write_table(pa.table({"ticker": pa.array([x[0] for x in self.splits], pa.string()),
                                 "event_date": pa.array([dt.date.fromisoformat(x[1]) for x in self.splits], pa.date32()),
                                 "event_id": pa.array([f"s{i}" for i in range(len(self.splits))], pa.string()),
                                 "split_ratio": pa.array([x[2] for x in self.splits], pa.float64())}), s)
        pq.write_table(pa.table({"ticker": pa.array([x[0] for x in self.dividends], pa.string()),
                                 "event_date": pa.array([dt.date.fromisoformat(x[1]) for x in self.dividends], pa.date32()),
                                 "event_id": pa.array([f"d{i}" for i in range(len(self.dividends))], pa.string()),
                                 "div_cash_amount": pa.array([x[2] for x in self.dividends], pa.float64()),
                                 "div_type": pa.array(["CD"] * len(self.dividends), pa.string())}), d)
        return s, d


def store_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".quantmini" not in p.parts}


def mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))
            if p.is_file() and ".quantmini" not in p.parts}


def rebuilt(tmp_path: Path, bronze, split_file, div_file, basis="total") -> dict[str, bytes]:
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    QlibStore(fresh, basis=basis).update(bronze, [], split_file, div_file)
    return store_files(fresh)


def test_daily_appends_late_split_and_dividend_equal_a_full_rebuild(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    lk.split_on[("BBB", "2024-06-12")] = 4.0
    store = QlibStore(tmp_path / "qlib")
    paths = []
    s, d = lk.silver()
    for day in DAYS[:10]:
        paths.append(lk.day(day, skip=("CCC",) if day == "2024-06-06" else ()))
        res = store.update(paths, [], s, d)
    assert res.mode == "append" and res.days_applied == [DAYS[9]]
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, paths, s, d)
    # BBB's split arrives after its prices were converted: only BBB's files change.
    before_m, before_b = mtimes(tmp_path / "qlib"), store_files(tmp_path / "qlib")
    lk.splits.append(("BBB", "2024-06-12", 4.0))
    s, d = lk.silver()
    res = store.update(paths, [], s, d)
    assert res.mode == "append" and res.symbols_rewritten == ["BBB"] and res.days_applied == []
    after_m, after_b = mtimes(tmp_path / "qlib"), store_files(tmp_path / "qlib")
    changed = sorted(k for k in after_b if after_b[k] != before_b[k])
    touched = sorted(k for k in after_m if after_m[k] != before_m[k])
    assert changed == touched == sorted(f"features/bbb/{f}.day.bin" for f in ("open", "high", "low", "close", "volume", "factor", "change"))
    assert after_b == rebuilt(tmp_path, paths, s, d)
    # A dividend announced ahead (ex-date after the last session) changes nothing yet ...
    lk.dividends.append(("AAA", DAYS[12], 0.5))
    s, d = lk.silver()
    res = store.update(paths, [], s, d)
    assert res.symbols_rewritten == [] and store_files(tmp_path / "qlib") == after_b
    # ... and rewrites AAA once its ex-date is reached by an appended day.
    for day in DAYS[10:14]:
        paths.append(lk.day(day))
        res = store.update(paths, [], s, d)
        if day == DAYS[12]:
            assert res.symbols_rewritten == ["AAA"]
        else:
            assert res.symbols_rewritten == []
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, paths, s, d)
    start, f = store.read_feature("AAA", "factor")
    assert start == 0 and f[DAYS.index(DAYS[12]) - 1] < 1.0 and f[DAYS.index(DAYS[12])] == 1.0


def test_adjusted_values_follow_qlib_convention(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    lk.split_on[("BBB", "2024-06-12")] = 4.0
    lk.splits.append(("BBB", "2024-06-12", 4.0))
    paths = [lk.day(day) for day in DAYS[:10]]
    raw_prev = pq.read_table(lk.lake.bronze("stocks_daily", "2024-06-11")).to_pandas().set_index("ticker")
    lk.dividends.append(("AAA", "2024-06-12", 1.0))
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(paths, [], s, d)
    for sym, ticker in (("AAA", "AAA"), ("BBB", "BBB")):
        _, close = store.read_feature(sym, "close")
        _, factor = store.read_feature(sym, "factor")
        _, volume = store.read_feature(sym, "volume")
        for i, day in enumerate(DAYS[:10]):
            raw = pq.read_table(lk.lake.bronze("stocks_daily", day)).to_pandas().set_index("ticker").loc[ticker]
            assert close[i] / factor[i] == pytest.approx(raw["close"], rel=1e-6)
            assert volume[i] * factor[i] == pytest.approx(raw["volume"], rel=1e-6)
    _, f_aaa = store.read_feature("AAA", "factor")
    assert f_aaa[:7] == pytest.approx(1 - 1.0 / raw_prev.loc["AAA", "close"]) and (f_aaa[7:] == 1.0).all()
    _, f_bbb = store.read_feature("BBB", "factor")
    assert (f_bbb[:7] == np.float32(0.25)).all() and (f_bbb[7:] == 1.0).all()
    # split-only basis: the dividend is ignored
    split_only = QlibStore(tmp_path / "qlib_split", basis="split")
    split_only.update(paths, [], s, d)
    assert (split_only.read_feature("AAA", "factor")[1] == 1.0).all()


def test_rerun_with_the_same_inputs_writes_nothing(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    paths = [lk.day(day) for day in DAYS[:5]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(paths, [], s, d)
    before = mtimes(tmp_path / "qlib")
    res = store.update(paths, [], s, d)
    assert res.files_written == 0 and mtimes(tmp_path / "qlib") == before
    # A bronze day rebuilt with identical bytes (new mtime) is not a change either.
    data = Path(paths[2]).read_bytes()
    Path(paths[2]).unlink()
    Path(paths[2]).write_bytes(data)
    res = store.update(paths, [], s, d)
    assert res.mode == "append" and res.files_written == 0 and mtimes(tmp_path / "qlib") == before


def test_corrected_day_and_removed_symbol_converge(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    paths = [lk.day(day, extra=("ZZZ",) if day == DAYS[3] else ()) for day in DAYS[:6]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(paths, [], s, d)
    assert "ZZZ" in store.instruments()
    lk.day(DAYS[3], scale=1.01)  # the vendor's corrected file: ZZZ gone, prices revised
    res = store.update(paths, [], s, d)
    assert res.mode == "full" and "ZZZ" not in store.instruments()
    assert not (tmp_path / "qlib" / "features" / "zzz").exists()
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, paths, s, d)


def test_days_out_of_order_and_gaps_converge(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    all_paths = [lk.day(day) for day in DAYS[:8]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(all_paths[4:6], [], s, d)
    store.update(all_paths[4:6] + all_paths[7:8], [], s, d)  # a gap at DAYS[6]
    _, v = store.read_feature("AAA", "close")
    assert np.isnan(v[2]) and store.calendar() == DAYS[4:8]
    res = store.update(all_paths, [], s, d)  # earlier days and the gap
    assert res.mode == "full" and store.calendar() == DAYS[:8]
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, all_paths, s, d)


def test_case_collision_refused_and_store_untouched(tmp_path):
    lk = Lakeish(tmp_path / "lake", tickers=("AAA", "ALLpB"))
    paths = [lk.day(day) for day in DAYS[:3]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(paths, [], s, d)
    before, before_m = store_files(tmp_path / "qlib"), mtimes(tmp_path / "qlib")
    paths.append(lk.day(DAYS[3], extra=("ALLPB",)))
    with pytest.raises(QlibStoreError, match="'ALLPB' and 'ALLpB' both become Qlib instrument 'ALLPB'"):
        store.update(paths, [], s, d)
    assert store_files(tmp_path / "qlib") == before and mtimes(tmp_path / "qlib") == before_m


def test_interrupted_update_is_finished_by_a_full_build(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    paths = [lk.day(day) for day in DAYS[:4]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    store.update(paths[:3], [], s, d)
    # Simulate a crash after half the files of the next append: journal left, files torn.
    store._begin("append")
    (tmp_path / "qlib" / "features" / "aaa" / "close.day.bin").write_bytes(b"\x00\x00")
    res = store.update(paths, [], s, d)
    assert res.mode == "full"
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, paths, s, d)


def test_binary_layout_and_fields(tmp_path):
    lk = Lakeish(tmp_path / "lake")
    paths = [lk.day(day, skip=("CCC",) if day == DAYS[1] else ()) for day in DAYS[:3]]
    s, d = lk.silver()
    store = QlibStore(tmp_path / "qlib")
    first = store.update(paths, [], s, d)
    assert first.mode == "full" and first.bytes == sum(
        p.stat().st_size for p in (tmp_path / "qlib").rglob("*") if p.is_file() and ".quantmini" not in p.parts)
    folder = tmp_path / "qlib" / "features" / "ccc"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{f}.day.bin" for f in FIELDS)
    raw = np.fromfile(folder / "close.day.bin", dtype="<f4")
    assert raw[0] == 0 and len(raw) == 4 and np.isnan(raw[2])
    closes = [pq.read_table(p).to_pandas().set_index("ticker").loc["CCC", "close"] for p in (paths[0], paths[2])]
    change = np.fromfile(folder / "change.day.bin", dtype="<f4")
    assert np.isnan(change[1]) and np.isnan(change[2]) and change[3] == np.float32(closes[1] / closes[0] - 1)
    assert np.isnan(np.fromfile(folder / "vwap.day.bin", dtype="<f4")[1:]).all()  # no minute bars held
    lines = (tmp_path / "qlib" / "instruments" / "all.txt").read_text().splitlines()
    assert lines == sorted(lines) and "_NA\t2024-06-03\t2024-06-05" in lines and "PRN\t2024-06-03\t2024-06-05" in lines
    assert (tmp_path / "qlib" / "features" / "_qlib_prn").is_dir() and (tmp_path / "qlib" / "features" / "_na").is_dir()
    res = store.update(paths + [lk.day(DAYS[3])], [], s, d)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "qlib").rglob("*") if p.is_file() and ".quantmini" not in p.parts)
    assert res.mode == "append" and res.bytes == on_disk


def test_actions_before_a_symbols_first_bar_rewrite_nothing_and_are_not_reported(tmp_path):
    """The monthly 2-year corporate-action backfill brings dividends and splits whose ex-dates
    precede the lake's bars: they cannot change any series, so no symbol is rewritten for them
    and no result lists them as skipped (issue: 4,084 symbols rewritten on the 1st)."""
    lk = Lakeish(tmp_path / "lake")
    store = QlibStore(tmp_path / "qlib")
    s, d = lk.silver()
    paths = [lk.day(day) for day in DAYS[5:10]]
    store.update(paths, [], s, d)
    before_m, before_b = mtimes(tmp_path / "qlib"), store_files(tmp_path / "qlib")
    lk.dividends += [("AAA", "2023-06-01", 0.5), ("BBB", DAYS[5], 0.25), ("CCC", "2022-11-15", 0.1)]
    lk.splits += [("PRN", "2023-01-03", 2.0)]
    s, d = lk.silver()
    res = store.update(paths, [], s, d)
    assert res.symbols_rewritten == [] and res.skipped_actions == [] and res.applied_actions == 0
    assert mtimes(tmp_path / "qlib") == before_m and store_files(tmp_path / "qlib") == before_b
    # a new day appends as usual, and the store still equals a full rebuild, which reports none either
    paths.append(lk.day(DAYS[10]))
    res = store.update(paths, [], s, d)
    assert res.mode == "append" and res.symbols_rewritten == [] and res.skipped_actions == []
    assert store_files(tmp_path / "qlib") == rebuilt(tmp_path, paths, s, d)
    fresh = QlibStore(tmp_path / "fresh2").update(paths, [], s, d)
    assert fresh.skipped_actions == [] and fresh.applied_actions == 0
    # an action after the first bar still rewrites exactly its symbol
    lk.dividends.append(("AAA", DAYS[8], 0.5))
    s, d = lk.silver()
    res = store.update(paths, [], s, d)
    assert res.symbols_rewritten == ["AAA"] and res.applied_actions == 1


def test_a_large_full_build_in_groups_of_symbols_writes_the_same_store(tmp_path, monkeypatch):
    """Past BULK_CHUNK_ROWS bars a full build reads and computes groups of symbols one at a
    time (bounded memory over decades): the store, its result and its records are those of
    a build in one piece, splits, dividends, a gap and a late listing included."""
    from quantmini.gold import qlib_store

    lk = Lakeish(tmp_path / "lake", tickers=("AAA", "BBB", "CCC", "BRK.B", "PRN", "NA", "ZZZ"))
    lk.split_on[("BBB", "2024-06-12")] = 4.0
    lk.splits.append(("BBB", "2024-06-12", 4.0))
    lk.dividends.append(("AAA", DAYS[5], 0.5))
    s, d = lk.silver()
    paths = [lk.day(day, skip=("CCC",) if day == DAYS[3] else (), extra=("NEW",) if day >= DAYS[8] else ())
             for day in DAYS[:14]]
    whole = QlibStore(tmp_path / "whole").update(paths, [], s, d)
    assert qlib_store.symbol_groups({qlib_store.session_of(p).isoformat(): p for p in paths}, 10**6) is None
    monkeypatch.setattr(qlib_store, "BULK_CHUNK_ROWS", 20)  # 14 bars a symbol: one symbol a group
    groups = qlib_store.symbol_groups({qlib_store.session_of(p).isoformat(): p for p in paths}, 20)
    names = [line.split("\t")[0] for line in (tmp_path / "whole/instruments/all.txt").read_text().splitlines()]
    assert sorted(x for g in groups for x in g) == sorted(names) and len(names) == 8
    assert len(groups) == 7  # CCC (13 bars, one gap) and the late listing NEW (6) share one
    grouped = QlibStore(tmp_path / "grouped").update(paths, [], s, d)
    assert store_files(tmp_path / "grouped") == store_files(tmp_path / "whole")
    assert (tmp_path / "grouped/.quantmini/state.json").read_bytes() == (tmp_path / "whole/.quantmini/state.json").read_bytes()
    assert grouped == whole and whole.mode == "full" and whole.bars_written == 7 * 14 - 1 + 6
