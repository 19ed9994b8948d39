"""Point-in-time universes read by Qlib itself: ``D.instruments("liquid<N>")`` on each
rebalance date equals an independent ranking from bronze known that day; a name that
delists mid-range keeps its span; no span starts before the member's first bar; a rerun
ranks nothing again and rewrites nothing; a corrected bronze day re-ranks only the
rebalance dates whose window holds it."""

from __future__ import annotations

import datetime as dt
import os
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantmini.gold import universes
from quantmini.gold.qlib_store import QlibStore
from quantmini.gold.symbols import qlib_symbol
from quantmini.paths import Lake
from quantmini.sandbox.market import Market
from quantmini.sessions import sessions_ending

from .test_silver import put

qlib = pytest.importorskip("qlib")

RULE = universes.Rule(sizes=(25, 250), lookback=20, min_sessions=5, types=("CS",))
DAYS = [d.isoformat() for d in sessions_ending(dt.date(2024, 6, 28), 90)]


def _write(path: str, frame: pd.DataFrame) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("universes")
    market = Market(n_tickers=300)
    lake = Lake(str(tmp / "lake"))
    bronze = {}
    for day in DAYS:
        bars = market.published_day_bars(dt.date.fromisoformat(day))
        bronze[day] = _write(lake.bronze("stocks_daily", day), bars[["ticker", "open", "high", "low", "close", "volume"]])
    u = market.universe
    # the reference pull as the REST job writes it: every name ever listed, with its type
    rows = [{"ticker": str(t), "type": str(k), "active": True} for t, k in zip(u.symbols, u.kind)]
    reference = put(lake, "tickers", "2024-06-24", "active", rows)
    root = tmp / "qlib"
    QlibStore(root).update(sorted(bronze.values()))
    result = universes.build(root, bronze, RULE, [reference])
    qlib.init(provider_uri=str(root), region="us", kernels=1, logging_level="WARNING")
    types = dict(zip(map(str, u.symbols), map(str, u.kind)))
    return root, bronze, reference, result, types


def _independent(bronze: dict[str, str], types: dict[str, str], size: int) -> dict[str, list[str]]:
    """Rebalance dates and members from bronze with pandas, written from the documented rule."""
    days = sorted(bronze)
    frames = {d: pd.read_parquet(bronze[d], columns=["ticker", "close", "volume"]) for d in days}
    out = {}
    for i, day in enumerate(days):
        if i < RULE.min_sessions:
            continue
        if out and day[:7] == days[i - 1][:7]:
            continue
        window = days[max(0, i - RULE.lookback):i]
        both = pd.concat([frames[d] for d in window])
        dv = (both["close"] * both["volume"]).groupby(both["ticker"]).sum()
        trading = set(frames[window[-1]]["ticker"])
        cand = pd.DataFrame({"ticker": sorted(t for t in trading if types.get(t) == "CS")})
        cand["dv"] = cand["ticker"].map(dv).fillna(0.0)
        cand = cand.sort_values(["dv", "ticker"], ascending=[False, True], kind="mergesort")
        out[day] = [qlib_symbol(t) for t in cand["ticker"].head(size)]
    return out


@pytest.mark.parametrize("size", RULE.sizes)
def test_membership_on_each_rebalance_date_equals_an_independent_ranking(built, size):
    from qlib.data import D

    _, bronze, _, result, types = built
    expected = _independent(bronze, types, size)
    assert result.rebalances == len(expected) == 5  # inception in February, then March..June
    assert list(expected)[0] == DAYS[RULE.min_sessions]
    for day, members in expected.items():
        got = D.list_instruments(D.instruments(f"liquid{size}"), start_time=day, end_time=day, as_list=True)
        assert sorted(got) == sorted(members), day
        assert len(members) == min(size, len(members)) and len(members) > 0


def test_a_name_that_delists_keeps_its_span_and_no_span_starts_before_a_first_bar(built):
    from qlib.data import D

    root, bronze, _, _, _ = built
    first_bar, last_bar = {}, {}
    for day in sorted(bronze):
        for t in pd.read_parquet(bronze[day], columns=["ticker"])["ticker"]:
            first_bar.setdefault(qlib_symbol(t), day)
            last_bar[qlib_symbol(t)] = day
    lines = [line.split("\t") for line in (root / "instruments" / "liquid250.txt").read_text().splitlines()]
    assert lines and all(first_bar[s] < a <= b for s, a, b in lines)
    # a member that stops trading inside its span: the span ends at its last bar
    delisted = [(s, a, b) for s, a, b in lines if last_bar[s] < DAYS[-5] and a <= last_bar[s] <= b]
    assert ("QMDL", "2024-02-28", "2024-06-14") in delisted, "QMDL (delisted 2024-06-14) keeps its span"
    for symbol, start, end in delisted:
        assert end == max(start, last_bar[symbol])
        assert symbol in D.list_instruments(D.instruments("liquid250"), start_time=start, end_time=start)
        assert symbol not in D.list_instruments(D.instruments("liquid250"), start_time=DAYS[-1], end_time=DAYS[-1])
    assert all(b <= last_bar[s] or a == b for s, a, b in lines)  # no span past a member's last bar
    # consecutive months of one name are one line: a name's spans neither overlap nor touch
    by_symbol = {}
    for s, a, b in lines:
        by_symbol.setdefault(s, []).append((a, b))
    for spans in by_symbol.values():
        for (_, end), (start, _) in zip(sorted(spans), sorted(spans)[1:]):
            assert DAYS.index(start) > DAYS.index(end) + 1
    assert len(by_symbol) < len(lines)  # names that left and came back have two spans


def test_rerun_ranks_nothing_and_a_corrected_day_reranks_only_its_windows(built, tmp_path):
    import shutil

    root, bronze, reference, first, _ = built
    copy = tmp_path / "qlib"
    shutil.copytree(root, copy)
    again = universes.build(copy, bronze, RULE, [reference])
    assert again.ranked == 0 and again.files_written == 0 and again.summary()["members"] == first.members
    # a corrected day in late April: only the May rebalance reads it (window: 20 sessions before)
    day = next(d for d in DAYS if d >= "2024-04-25")
    frame = pd.read_parquet(bronze[day])
    frame.loc[frame["ticker"] == frame["ticker"].iloc[0], "volume"] *= 1000
    time.sleep(0.01)
    bronze = dict(bronze)
    bronze[day] = _write(str(tmp_path / "corrected.parquet"), frame)
    fixed = universes.build(copy, bronze, RULE, [reference])
    assert fixed.ranked == 1


def test_without_a_reference_pull_every_name_is_a_candidate(built, tmp_path):
    _, bronze, _, _, types = built
    root = tmp_path / "qlib"
    QlibStore(root).update(sorted(bronze.values()))
    result = universes.build(root, bronze, universes.Rule(sizes=(400,), lookback=20, min_sessions=5), [])
    assert result.type_filter is None
    names = {line.split("\t")[0] for line in (root / "instruments" / "liquid400.txt").read_text().splitlines()}
    assert any(types[n] == "ETF" for n in names if n in types)


def test_bad_rules_are_named():
    with pytest.raises(universes.UniverseError, match="qlib_universes"):
        universes.Rule(sizes=(0,), lookback=20, min_sessions=5)
    with pytest.raises(universes.UniverseError, match="qlib_universe_min_sessions"):
        universes.Rule(sizes=(10,), lookback=5, min_sessions=10)
