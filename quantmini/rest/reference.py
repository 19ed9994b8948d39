"""Reference tickers pulls (``bronze/tickers/pull_date=D/window=active``): which one was the
latest on a date, and its active common stocks, the universe fundamentals are pulled for and
the quality check's coverage is measured against."""

from __future__ import annotations

import glob
import os
from functools import lru_cache
from pathlib import Path

from ..store import LakeStore, glob_listing, readable


def active_pulls(lake_root: str) -> list[tuple[str, str]]:
    """(pull date, path) of every active reference tickers pull the lake holds, oldest first."""
    pattern = f"{lake_root}/bronze/tickers/pull_date=*/window=active/part.parquet"
    store = LakeStore.from_env()
    paths = glob_listing(store.listing(f"{lake_root}/bronze/tickers"), os.path.normpath(pattern)) if store \
        else glob.glob(pattern)
    return sorted((Path(p).parent.parent.name.split("=", 1)[1], p) for p in paths)


def latest_active_pull(lake_root: str, date: str) -> tuple[str, str] | None:
    """The (pull date, path) of the latest active tickers pull on or before ``date``."""
    held = [x for x in active_pulls(lake_root) if x[0] <= date]
    return held[-1] if held else None


@lru_cache(maxsize=16)
def active_common_stocks(path: str) -> frozenset[str]:
    """Tickers of type CS marked active in one reference tickers pull (read once per process)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(readable(path), columns=["ticker", "type", "active"])
    keep = pc.and_(pc.equal(table["type"], "CS"), pc.equal(table["active"], True))
    return frozenset(table.filter(keep)["ticker"].to_pylist())
