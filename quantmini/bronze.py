"""Landing CSV -> bronze Parquet for the aggregate flat files (one explicit, typed schema).

The vendor's CSV prints numbers in several styles over the years (``1150``, ``1224.495``,
``150.000000`` since 2026-02-23), so every price and volume is parsed as float64 and
``window_start`` (UTC nanoseconds) is the one source of the bar's New York trading date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import atomic
from .sessions import NEW_YORK

CSV_HEADER = ["ticker", "volume", "open", "close", "high", "low", "window_start", "transactions"]

CSV_TYPES = {
    "ticker": pa.string(),
    "volume": pa.float64(),
    "open": pa.float64(),
    "close": pa.float64(),
    "high": pa.float64(),
    "low": pa.float64(),
    "window_start": pa.int64(),
    "transactions": pa.int64(),
}

STOCKS_DAILY_SCHEMA = pa.schema(
    [
        pa.field("ticker", pa.string(), nullable=False),
        pa.field("date", pa.date32(), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("transactions", pa.int64(), nullable=False),
        pa.field("window_start", pa.timestamp("ns", tz="UTC"), nullable=False),
    ]
)


class BadFlatFile(ValueError):
    """A landing file that cannot become bronze; the message names the file and the problem."""


@dataclass(frozen=True)
class BronzeResult:
    rows: int
    tickers: int
    bytes: int


def read_header(path: Path) -> list[str]:
    import gzip

    try:
        with gzip.open(path, "rt", newline="") as fh:
            first = fh.readline()
    except (OSError, EOFError) as exc:
        raise BadFlatFile(f"{path}: not a readable gzip file ({exc})") from None
    if not first:
        raise BadFlatFile(f"{path}: empty file (no header line)")
    return first.rstrip("\r\n").split(",")


def read_aggregates_csv(path: Path) -> pa.Table:
    """Read one aggregates CSV with the explicit column types; errors name the file."""
    header = read_header(path)
    if header != CSV_HEADER:
        missing = [c for c in CSV_HEADER if c not in header]
        extra = [c for c in header if c not in CSV_HEADER]
        detail = []
        if missing:
            detail.append(f"missing {missing}")
        if extra:
            detail.append(f"unexpected {extra}")
        if not missing and not extra:
            detail.append("columns in a different order")
        raise BadFlatFile(f"{path}: line 1: header {header} is not {CSV_HEADER} ({'; '.join(detail)})")
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(column_types=CSV_TYPES, strings_can_be_null=False, include_columns=CSV_HEADER),
        )
    except pa.ArrowInvalid as exc:
        raise BadFlatFile(f"{path}: {_describe_parse_error(path, str(exc))}") from None
    except (OSError, EOFError) as exc:
        raise BadFlatFile(f"{path}: truncated or corrupt gzip ({exc})") from None


_CONVERSION = re.compile(r"CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'")


def _describe_parse_error(path: Path, message: str) -> str:
    """Turn pyarrow's "column #1 ... invalid value 'abc'" into the line, column and value."""
    m = _CONVERSION.search(message)
    if not m:
        return message
    column, kind, value = CSV_HEADER[int(m.group(1))], m.group(2), m.group(3)
    as_text = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in CSV_HEADER}))
    hits = pc.index(as_text.column(column), value).as_py()
    where = f"line {hits + 2}: " if hits >= 0 else ""
    return f"{where}column {column!r}: invalid value {value!r} (expected {kind})"


def to_bronze_table(raw: pa.Table, expected_date: dt.date, source: Path) -> pa.Table:
    """Type, check and order one day's aggregates: the bronze schema, sorted by ticker."""
    for name in CSV_HEADER:
        nulls = raw.column(name).null_count
        if nulls:
            raise BadFlatFile(f"{source}: column {name!r} has {nulls} empty values")
    ws = pc.cast(raw.column("window_start"), pa.timestamp("ns", tz="UTC"))
    local_date = _ny_date(ws)
    wrong = pc.not_equal(local_date, pa.scalar(expected_date, pa.date32()))
    if pc.any(wrong).as_py():
        idx = pc.index(wrong, True).as_py()
        raise BadFlatFile(
            f"{source}: line {idx + 2}: window_start {raw.column('window_start')[idx].as_py()} is "
            f"{local_date[idx].as_py()} in New York, not the file's date {expected_date}"
        )
    for name in ("open", "high", "low", "close", "volume"):
        neg = pc.less(raw.column(name), 0)
        if pc.any(neg).as_py():
            idx = pc.index(neg, True).as_py()
            raise BadFlatFile(f"{source}: line {idx + 2}: negative {name} {raw.column(name)[idx].as_py()}")
    table = pa.table(
        {
            "ticker": raw.column("ticker"),
            "date": local_date,
            "open": raw.column("open"),
            "high": raw.column("high"),
            "low": raw.column("low"),
            "close": raw.column("close"),
            "volume": raw.column("volume"),
            "transactions": raw.column("transactions"),
            "window_start": ws,
        }
    )
    table = table.sort_by([("ticker", "ascending"), ("window_start", "ascending")])
    return table.cast(STOCKS_DAILY_SCHEMA)


def _ny_date(ws: pa.ChunkedArray) -> pa.ChunkedArray:
    """New York calendar date of UTC timestamps (DST-aware)."""
    local = pc.local_timestamp(pc.cast(ws, pa.timestamp("ns", tz=NEW_YORK)))
    return pc.cast(pc.floor_temporal(local, unit="day"), pa.date32())


def write_parquet(table: pa.Table, dest: Path, row_group_size: int = 128 * 1024) -> int:
    with atomic.atomic_path(dest) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd", write_statistics=True)
    return dest.stat().st_size


def convert_stocks_daily(landing: Path, dest: Path, date: dt.date) -> BronzeResult:
    raw = read_aggregates_csv(landing)
    table = to_bronze_table(raw, date, landing)
    dup = table.num_rows - pc.count_distinct(table.column("ticker")).as_py()
    if dup:
        raise BadFlatFile(f"{landing}: {dup} duplicate ticker rows for {date}")
    size = write_parquet(table, dest)
    return BronzeResult(rows=table.num_rows, tickers=table.num_rows, bytes=size)
