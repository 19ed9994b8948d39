"""Vendor tickers as Qlib instruments, and the one place a path is built from a ticker.

Qlib's ``dump_bin.py`` writes ``instruments/all.txt`` with the symbol upper-cased
(``ALLpB`` -> ``ALLPB``) and reads features from ``features/<code_to_fname(code).lower()>``.
Its instrument loader reads ``all.txt`` with pandas' default missing-value markers, so a
symbol spelled like one of them (the real NASDAQ ticker ``NA``, or ``NULL``) comes back as
NaN and the instrument is lost. Such symbols are stored with a leading underscore
(``NA`` -> ``_NA``); no vendor ticker starts with ``_``, so the escape cannot collide.
"""

from __future__ import annotations

import re

# pandas' default ``na_values`` (pandas._libs.parsers.STR_NA_VALUES): the strings its CSV
# reader turns into NaN unless told otherwise. Only the upper-case ones matter here.
PANDAS_NA_STRINGS = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
ESCAPE = "_"
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(10)} | {f"LPT{i}" for i in range(10)})
# Letters, digits and '.', as the vendor spells stock tickers (BRK.B, ALLpB), at most 16.
_TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.]{0,15}$")


class BadSymbol(ValueError):
    """A ticker that cannot be stored: the message names it and says why."""


def check_ticker(ticker: str) -> str:
    """Refuse what is not a stock ticker before any path is built from it."""
    if not isinstance(ticker, str) or not _TICKER.match(ticker) or ".." in ticker:
        raise BadSymbol(f"ticker {ticker!r} is not a stock ticker (letters, digits and '.', 1-16 characters)")
    return ticker


def qlib_symbol(ticker: str) -> str:
    """The instrument name in ``all.txt``: upper-cased, escaped when pandas would read NaN."""
    symbol = check_ticker(ticker).upper()
    return ESCAPE + symbol if symbol in PANDAS_NA_STRINGS else symbol


def ticker_of(symbol: str) -> str:
    """The upper-cased vendor ticker of an instrument (inverse of the escape)."""
    return symbol[len(ESCAPE):] if symbol.startswith(ESCAPE) else symbol


def code_to_fname(code: str) -> str:
    """Qlib's ``qlib.utils.code_to_fname``: names Windows reserves get a ``_qlib_`` prefix."""
    return "_qlib_" + code if code.upper() in _WINDOWS_RESERVED else code


def feature_dir_name(symbol: str) -> str:
    """The directory Qlib reads an instrument's features from (lower-cased), checked to be
    one plain path component."""
    name = code_to_fname(symbol).lower()
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BadSymbol(f"instrument {symbol!r} does not give a safe directory name")
    return name
