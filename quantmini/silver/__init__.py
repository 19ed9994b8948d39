"""Silver layer: bronze REST pulls cleaned, deduplicated and joined.

``corporate_actions`` (dividends, splits, IPOs, ticker changes in one schema),
``fundamentals`` (statements flattened to a row per period) and ``financial_ratios``
(derived from the flattened statements). Each silver file is rebuilt whole from all the
bronze pulls the lake holds and replaces the previous one atomically.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import atomic

# A column that is also the file's hive key (event_type=, timeframe=) is stored dictionary-
# encoded, the type pyarrow infers for a hive key: pandas.read_parquet and pyarrow then read
# the directory (string vs dictionary would refuse to merge), and polars and DuckDB as before.
HIVE_KEY_TYPE = pa.dictionary(pa.int32(), pa.string())

ROW_GROUP_SIZE = 8192  # rows sorted by ticker: one ticker's history is in one or two groups


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in its order and types; columns it lacks
    (another event type's fields, a concept nobody filed) are all null."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def write(table: pa.Table, output: str | Path) -> int:
    """Write ``table`` (already sorted) atomically; returns the file's size in bytes."""
    with atomic.atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_SIZE, write_statistics=True)
    return Path(output).stat().st_size
