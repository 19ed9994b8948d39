"""OCC/OPRA option contract tickers: ``O:<underlying><YYMMDD><C|P><strike x 1000, 8 digits>``.

The underlying is everything between ``O:`` and the fixed 15-character tail, so roots with
digits (adjusted contracts after a corporate action, e.g. ``O:TSLA1…``) or dots parse the same
way. Vectorised with Arrow compute: a day of options minute bars has millions of rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

PATTERN = r"^O:[A-Z0-9.]{1,10}[0-9]{6}[CP][0-9]{8}$"


@dataclass(frozen=True)
class Contract:
    underlying: str
    expiration_date: dt.date
    contract_type: str
    strike: float


def parse_one(ticker: str) -> Contract | None:
    """Pure-Python reference parser (tests compare the vectorised one against it)."""
    import re

    if not re.match(PATTERN, ticker):
        return None
    tail = ticker[-15:]
    try:
        expiry = dt.date(2000 + int(tail[0:2]), int(tail[2:4]), int(tail[4:6]))
    except ValueError:
        return None
    return Contract(ticker[2:-15], expiry, "call" if tail[6] == "C" else "put", int(tail[7:]) / 1000.0)


def parse_contracts(tickers: pa.Array | pa.ChunkedArray, repeated: bool = True) -> tuple[dict[str, pa.Array], int]:
    """Columns underlying, expiration_date, contract_type, strike; nulls where a ticker
    does not parse. Returns the columns and the count of unparsed tickers.

    Minute files repeat each contract many times (``repeated``), so the distinct tickers are
    parsed once and the results taken back to the rows; day files list each contract once.
    """
    if isinstance(tickers, pa.ChunkedArray):
        tickers = tickers.combine_chunks()
    if not repeated:
        cols, ok = _parse_distinct(tickers)
        unparsed = len(tickers) - pc.sum(pc.cast(ok, pa.int64())).as_py() if len(tickers) else 0
        return cols, int(unparsed or 0)
    encoded = pc.dictionary_encode(tickers)
    cols, ok = _parse_distinct(encoded.dictionary)
    indices = encoded.indices
    out = {name: pc.take(col, indices) for name, col in cols.items()}
    valid_rows = pc.take(ok, indices)
    unparsed = len(tickers) - pc.sum(pc.cast(pc.fill_null(valid_rows, False), pa.int64())).as_py() if len(tickers) else 0
    return out, int(unparsed or 0)


@lru_cache(maxsize=1)
def _yymmdd_days():
    """Days since 1970-01-01 for every YYMMDD 000101..991231 (-1 where not a date): a day of
    contracts has a few dozen expiries, so a lookup beats date arithmetic per row."""
    import numpy as np

    table = np.full(1_000_000, -1, dtype=np.int32)
    start = dt.date(2000, 1, 1)
    for offset in range((dt.date(2099, 12, 31) - start).days + 1):
        d = start + dt.timedelta(days=offset)
        table[(d.year - 2000) * 10000 + d.month * 100 + d.day] = (d - dt.date(1970, 1, 1)).days
    return table


def _parse_distinct(tickers: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
    """Parse the fixed 15-byte tail (YYMMDD, C|P, strike x 1000) straight from the Arrow
    string buffers with numpy, and validate roots on their distinct values only: a day of
    options lists a million contracts but a few thousand roots."""
    import numpy as np

    n = len(tickers)
    if tickers.type != pa.string():
        tickers = pc.cast(tickers, pa.string())
    if tickers.null_count:
        tickers = pc.fill_null(tickers, "")
    offsets = np.frombuffer(tickers.buffers()[1], dtype=np.int32)[tickers.offset : tickers.offset + n + 1]
    data_buf = tickers.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    start, end = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    ok = (end - start) >= 18  # "O:" + a root of 1+ characters + the 15-byte tail
    rows = np.flatnonzero(ok)
    s, e = start[rows], end[rows]
    good = (data[s] == ord("O")) & (data[s + 1] == ord(":"))
    digit = [data[e - 15 + j].astype(np.int64) - 48 for j in range(15)]
    for j in (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14):
        good &= (digit[j] >= 0) & (digit[j] <= 9)
    kind = data[e - 9]
    is_call_rows = kind == ord("C")
    good &= is_call_rows | (kind == ord("P"))
    yymmdd = np.zeros(rows.size, dtype=np.int64)
    for j in range(6):
        yymmdd = yymmdd * 10 + digit[j]
    days = _yymmdd_days()[np.clip(yymmdd, 0, 999_999)]
    good &= days >= 0  # a real calendar date (no 2023-02-29, no month 13)
    strike_int = np.zeros(rows.size, dtype=np.int64)
    for j in range(7, 15):
        strike_int = strike_int * 10 + digit[j]

    # Byte slicing (3x cheaper than by code points): a root that passes the ASCII check below
    # is valid UTF-8; rows that fail are nulled before the bytes are viewed as strings.
    root = pc.binary_slice(tickers.view(pa.binary()), 2, -15)
    enc = pc.dictionary_encode(root)
    root_ok = pc.take(pc.match_substring_regex(enc.dictionary, r"^[A-Z0-9.]{1,10}$"), enc.indices)
    valid = np.zeros(n, dtype=bool)
    valid[rows[good]] = True
    valid &= np.asarray(root_ok.to_numpy(zero_copy_only=False), dtype=bool)

    expiry = np.zeros(n, dtype=np.int32)
    expiry[rows] = days
    strike = np.zeros(n, dtype=np.float64)
    strike[rows] = strike_int / 1000.0
    is_call = np.zeros(n, dtype=bool)
    is_call[rows] = is_call_rows
    missing = ~valid
    ok_arr = pa.array(valid)
    kinds = pc.if_else(pa.array(is_call), pa.scalar("call"), pa.scalar("put"))
    all_valid = bool(valid.all())
    null = pa.scalar(None, pa.string())
    underlying = root if all_valid else pc.if_else(ok_arr, root, pa.scalar(None, pa.binary()))
    cols = {
        "underlying": underlying.view(pa.string()),
        "expiration_date": pa.array(expiry, type=pa.int32(), mask=None if all_valid else missing).view(pa.date32()),
        "contract_type": kinds if all_valid else pc.if_else(ok_arr, kinds, null),
        "strike": pa.array(strike, type=pa.float64(), mask=None if all_valid else missing),
    }
    return cols, ok_arr
