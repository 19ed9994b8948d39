"""OCC/OPRA option contract tickers: ``O:<underlying><YYMMDD><C|P><strike x 1000, 8 digits>``.

The underlying is everything between ``O:`` and the fixed 15-character tail, so roots with
digits (adjusted contracts after a corporate action, e.g. ``O:TSLA1…``) or dots parse the same
way. Vectorised with Arrow compute: a day of options minute bars has millions of rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


def _parse_distinct(tickers: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
    """Parse by fixed-width pieces. The pieces repeat a lot (a day has a few thousand roots,
    a dozen expiries, a few thousand strikes), so each is validated and converted on its
    distinct values only and taken back to the rows."""
    long_enough = pc.greater_equal(pc.utf8_length(tickers), 18)
    prefixed = pc.starts_with(tickers, "O:")
    root = pc.utf8_slice_codeunits(tickers, 2, -15)
    yymmdd = pc.utf8_slice_codeunits(tickers, -15, -9)
    kind = pc.utf8_slice_codeunits(tickers, -9, -8)
    digits = pc.utf8_slice_codeunits(tickers, -8)

    def on_distinct(values: pa.Array, convert) -> pa.Array:
        enc = pc.dictionary_encode(values)
        return pc.take(convert(enc.dictionary), enc.indices)

    root_ok = on_distinct(root, lambda d: pc.match_substring_regex(d, r"^[A-Z0-9.]{1,10}$"))
    expiry = on_distinct(
        yymmdd, lambda d: pc.cast(pc.strptime(pc.if_else(pc.match_substring_regex(d, r"^[0-9]{6}$"), d, pa.scalar(None, pa.string())),
                                              format="%y%m%d", unit="s", error_is_null=True), pa.date32())
    )
    strike = on_distinct(
        digits, lambda d: pc.divide(pc.cast(pc.if_else(pc.match_substring_regex(d, r"^[0-9]{8}$"), d, pa.scalar(None, pa.string())),
                                            pa.int64()), 1000.0)
    )
    is_call = pc.equal(kind, "C")
    kind_ok = pc.or_(is_call, pc.equal(kind, "P"))
    ok = pc.fill_null(
        pc.and_(pc.and_(pc.and_(long_enough, prefixed), pc.and_(root_ok, kind_ok)), pc.and_(pc.is_valid(expiry), pc.is_valid(strike))),
        False,
    )
    null = pa.scalar(None, pa.string())
    cols = {
        "underlying": pc.if_else(ok, root, null),
        "expiration_date": pc.if_else(ok, expiry, pa.scalar(None, pa.date32())),
        "contract_type": pc.if_else(ok, pc.if_else(is_call, pa.scalar("call"), pa.scalar("put")), null),
        "strike": pc.if_else(ok, strike, pa.scalar(None, pa.float64())),
    }
    return cols, ok
