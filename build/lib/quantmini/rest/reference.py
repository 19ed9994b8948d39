"""Reference tickers pulls (``bronze/tickers/pull_date=D/window=active``): which one was the
latest on a date, and its active common stocks, the universe fundamentals are pulled for and
the quality check's coverage is measured against."""

from __future__ import annotations

import glob
import os
from functools import lru_cache
from pathlib import Path

from ..paths import Lake
from ..store import LakeStore, glob_listing, readable


def active_pulls(lake_root: str) -> list[tuple[str, str]]:
    """(pull date, path) of every active reference tickers pull the lake holds, oldest first."""
    lake = Lake(lake_root)
    pattern = lake.bronze_rest_glob("tickers", "active")
    store = LakeStore.from_env()
    paths = glob_listing(store.listing(lake.bronze_dir("tickers")), os.path.normpath(pattern)) if store \
        else glob.glob(pattern)
    return sorted((Path(p).parent.parent.name.split("=", 1)[1], p) for p in paths)


@lru_cache(maxsize=16)
def active_common_stocks(path: str) -> frozenset[str]:
    """Tickers of type CS marked active in one reference tickers pull (read once per process)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(readable(path), columns=["ticker", "type", "active"])
    keep = pc.and_(pc.equal(table["type"], "CS"), pc.equal(table["active"], True))
    return frozenset(table.filter(keep)["ticker"].to_pylist())
