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

# The file's hive key (event_type=, timeframe=) is in its path only, never in the file: every
# reader of the directory (pyarrow.dataset, pq.read_table, pandas, polars, DuckDB) then takes
# it from the path in the type it infers, with nothing in the files to disagree with; the
# package reads one file through :func:`read`, which adds it back from the path.
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


def hive_keys(path: str | Path) -> dict[str, str]:
    """The ``key=value`` folder a silver file sits in: ``{"event_type": "split"}``."""
    folder = Path(path).parent.name
    key, sep, value = folder.partition("=")
    return {key: value} if sep else {}


def read(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """One silver file with its hive key as a string column (from its path), as the
    package's own jobs and commands read it."""
    keys = hive_keys(path)
    wanted = None if columns is None else [c for c in columns if c not in keys]
    table = pq.read_table(path, columns=wanted)
    for key, value in keys.items():
        if columns is None or key in columns:
            table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
    return table if columns is None else table.select(columns)


def write(table: pa.Table, output: str | Path) -> int:
    """Write ``table`` (already sorted) atomically, its hive key left to the path; returns
    the file's size in bytes."""
    keys = [k for k in hive_keys(output) if k in table.column_names]
    table = table.drop_columns(keys)
    with atomic.atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_SIZE, write_statistics=True)
    return Path(output).stat().st_size


def read_clean(path: str | Path, columns: list[str]) -> pa.Table:
    """The rows of a silver corporate-actions file that carry no flag (a file written before
    flags existed has none to skip)."""
    import pyarrow.compute as pc

    names = pq.read_schema(path).names
    table = pq.read_table(path, columns=[*columns, *(["flags"] if "flags" in names else [])])
    if "flags" not in names:
        return table
    keep = pc.equal(pc.list_value_length(table["flags"]), 0)
    return table.filter(pc.fill_null(keep, True)).drop_columns(["flags"])
