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


def write_partition(table, output: str | Path, dictionary_columns: list[str] | bool = True) -> int:
    """Write one gold session atomically (zstd, statistics for predicate push-down);
    returns its size in bytes. ``dictionary_columns``: the columns worth a dictionary
    (building and abandoning one for a column of distinct prices costs a third of the write)."""
    import pyarrow.parquet as pq

    from .. import atomic

    with atomic.atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_SIZE, write_statistics=True,
                       use_dictionary=dictionary_columns)
    return Path(output).stat().st_size


def write_chunks(chunks, output: str | Path, dictionary_columns: list[str] | bool = True) -> tuple[int, int]:
    """Write the tables yielded by ``chunks`` (computed on a second thread, one ahead) as the
    row groups of one gold file, atomically; returns (rows, bytes).

    Computing a chunk (numpy, Arrow) and encoding the previous one (Parquet, zstd) both
    release the GIL, so on two cores the write hides most of the compute, as the bronze
    conversion overlaps its stages.
    """
    import queue
    import threading

    import pyarrow.parquet as pq

    from .. import atomic

    q: queue.Queue = queue.Queue(maxsize=1)
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                q.put(chunk)
            q.put(done)
        except BaseException as exc:  # handed to the writer, which re-raises it
            q.put(exc)

    threading.Thread(target=produce, daemon=True).start()
    rows = 0
    with atomic.atomic_path(output) as tmp:
        writer = None
        try:
            while True:
                item = q.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                if writer is None:
                    writer = pq.ParquetWriter(tmp, item.schema, compression="zstd", write_statistics=True,
                                              use_dictionary=dictionary_columns)
                writer.write_table(item, row_group_size=ROW_GROUP_SIZE)
                rows += item.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{output}: nothing to write")
    return rows, Path(output).stat().st_size
