"""Locating the real recorded Polygon fixtures (``shared/fixtures/polygon``), when present.

They are not part of the product: the sandbox serves them if it finds them, and runs
without them otherwise.
"""

from __future__ import annotations

import csv
import io
import os
from functools import lru_cache
from pathlib import Path

ENV = "QUANTMINI_POLYGON_FIXTURES"


def fixtures_dir() -> Path | None:
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        return path if path.is_dir() else None
    repo = Path(__file__).resolve().parents[2]
    for candidate in (repo.parent / "shared" / "fixtures" / "polygon", repo / "shared" / "fixtures" / "polygon"):
        if candidate.is_dir():
            return candidate
    return None


@lru_cache(maxsize=4)
def real_stock_day_rows(root: str | None) -> dict[str, dict[str, str]]:
    """Real ``day_aggs_v1`` rows from the fixtures, by NY date then ticker: the CSV line as is."""
    out: dict[str, dict[str, str]] = {}
    if root is None:
        return out
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    for path in sorted(Path(root, "flatfiles").glob("**/*.csv")):
        text = path.read_text()
        lines = text.splitlines()
        if not lines or lines[0].strip() != "ticker,volume,open,close,high,low,window_start,transactions":
            continue
        for row, line in zip(csv.DictReader(io.StringIO(text)), lines[1:]):
            ts = int(row["window_start"])
            day = dt.datetime.fromtimestamp(ts / 1e9, tz=dt.timezone.utc).astimezone(ny).date().isoformat()
            out.setdefault(day, {})[row["ticker"]] = line.strip()
    return out
