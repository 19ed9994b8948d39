"""Gold layer: analysis-ready datasets built from bronze and silver.

- :mod:`.symbols`: how a vendor ticker becomes a Qlib instrument and a feature directory.
- :mod:`.actions`: split and dividend adjustment factors (Qlib's backward convention).
- :mod:`.vwap`: the true session VWAP from bronze minute bars.
- :mod:`.qlib_store`: the Qlib binary store, built in bulk or updated incrementally.
- :mod:`.stocks_daily`, :mod:`.stocks_minute`, :mod:`.options_daily`: the enriched
  per-session datasets ``gold/<dataset>/year=/month=/day=/part.parquet``;
  :mod:`.blackscholes`: the options' implied volatility and greeks.
"""

from __future__ import annotations

from pathlib import Path

FEATURE_DATASETS = ("stocks_daily", "stocks_minute", "options_daily")
ROW_GROUP_SIZE = 128 * 1024


def write_partition(table, output: str | Path) -> int:
    """Write one gold session atomically (zstd, statistics for predicate push-down);
    returns its size in bytes."""
    import pyarrow.parquet as pq

    from .. import atomic

    with atomic.atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_SIZE, write_statistics=True)
    return Path(output).stat().st_size
