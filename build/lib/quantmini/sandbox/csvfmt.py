"""The vendor's aggregates CSV, written fast with Arrow: unquoted, shortest float form,
integer volumes before 2026-02-23 and six-decimal volumes from then on."""

from __future__ import annotations

import datetime as dt
import io
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .market import CSV_HEADER, DECIMAL_VOLUME_SINCE


def aggregates_csv(day: dt.date, ticker, volume, open_, close, high, low, window_start, transactions) -> bytes:
    volume = np.asarray(volume, dtype=np.float64)
    if day >= DECIMAL_VOLUME_SINCE:
        vol = pc.cast(pc.cast(pa.array(np.round(volume, 6)), pa.decimal128(24, 6)), pa.string())
    else:
        vol = pa.array(np.round(volume).astype(np.int64))
    table = pa.table(
        {
            "ticker": pa.array(ticker, pa.string()),
            "volume": vol,
            "open": pa.array(open_, pa.float64()),
            "close": pa.array(close, pa.float64()),
            "high": pa.array(high, pa.float64()),
            "low": pa.array(low, pa.float64()),
            "window_start": pa.array(window_start, pa.int64()),
            "transactions": pa.array(transactions, pa.int64()),
        }
    )
    buf = io.BytesIO()
    buf.write((CSV_HEADER + "\n").encode())
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65536))
    return buf.getvalue()


def gzip_bytes(data: bytes, level: int = 1) -> bytes:
    """gzip container (what ``.csv.gz`` readers expect); level 1 keeps generation fast."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()
