"""Landing CSV -> bronze Parquet for the aggregate flat files, streamed in bounded memory.

All four aggregate datasets share the vendor's 8-column CSV. The vendor prints numbers in
several styles over the years (``1150``, ``1224.495``, ``150.000000`` since 2026-02-23), so
prices and volumes are float64, and ``window_start`` (UTC nanoseconds) is the one source of a
bar's New York trading date.

Conversion reads the CSV in blocks (``pyarrow.csv.open_csv``), types, checks and orders each
block, and writes it as it goes, so a job's memory is bounded by the block size whatever the
file size. Output must be sorted (stocks: ticker, window_start; options: underlying, ticker,
window_start). The vendor's files are grouped by ticker, so blocks usually arrive in order
and are written straight through; if a block would break the order (options with adjusted
roots such as ``TSLA1`` sort differently by underlying than by ticker), the job switches to
a bucketed pass: blocks are spilled to per-first-character buckets, then each bucket is
sorted and appended. Both paths give the same bytes for the same input.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from isal import igzip
from isal.isal_zlib import error as InflateError

from . import atomic
from .faults import crash_point
from .options import parse_contracts
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

_BAR_FIELDS = [
    pa.field("date", pa.date32(), nullable=False),
    pa.field("open", pa.float64(), nullable=False),
    pa.field("high", pa.float64(), nullable=False),
    pa.field("low", pa.float64(), nullable=False),
    pa.field("close", pa.float64(), nullable=False),
    pa.field("volume", pa.float64(), nullable=False),
    pa.field("transactions", pa.int64(), nullable=False),
    pa.field("window_start", pa.timestamp("ns", tz="UTC"), nullable=False),
]

STOCKS_SCHEMA = pa.schema([pa.field("ticker", pa.string(), nullable=False), *_BAR_FIELDS])
STOCKS_DAILY_SCHEMA = STOCKS_SCHEMA  # the foundation's name for it

OPTIONS_SCHEMA = pa.schema(
    [
        pa.field("ticker", pa.string(), nullable=False),
        # Null where the contract ticker does not parse (counted in the sidecar).
        pa.field("underlying", pa.string()),
        pa.field("expiration_date", pa.date32()),
        pa.field("contract_type", pa.string()),
        pa.field("strike", pa.float64()),
        *_BAR_FIELDS,
    ]
)


@dataclass(frozen=True)
class BronzeSpec:
    """How one aggregate dataset becomes bronze."""

    schema: pa.Schema
    sort_keys: tuple[str, ...]
    unique_keys: tuple[str, ...]
    options: bool
    row_group_size: int
    compression: str = "zstd"
    # Columns not worth a Parquet dictionary: in a day of options each row is its own
    # contract, so trying (and abandoning) a dictionary for `ticker` costs ~15% of the write;
    # dictionaries of the four prices save ~6% of the file for ~15% more write time.
    plain_columns: tuple[str, ...] = ()

    def dictionary_columns(self) -> list[str] | bool:
        if not self.plain_columns:
            return True
        return [n for n in self.schema.names if n not in self.plain_columns]


SPECS = {
    "stocks_daily": BronzeSpec(STOCKS_SCHEMA, ("ticker", "window_start"), ("ticker",), False, 128 * 1024),
    "stocks_minute": BronzeSpec(STOCKS_SCHEMA, ("ticker", "window_start"), ("ticker", "window_start"), False, 64 * 1024),
    "options_daily": BronzeSpec(OPTIONS_SCHEMA, ("underlying", "ticker", "window_start"), ("ticker",), True, 64 * 1024,
                                plain_columns=("ticker", "open", "high", "low", "close")),
    "options_minute": BronzeSpec(OPTIONS_SCHEMA, ("underlying", "ticker", "window_start"), ("ticker", "window_start"), True, 64 * 1024),
}

BLOCK_SIZE = 8 << 20  # bytes of CSV per block: bounds a job's memory


class BadFlatFile(ValueError):
    """A landing file that cannot become bronze; the message names the file and the problem."""


@dataclass(frozen=True)
class BronzeResult:
    rows: int
    tickers: int
    bytes: int
    unparsed_contracts: int = 0
    row_groups: int = 0
    bucketed: bool = False
    quarantined_rows: int = 0  # rows whose ticker is not a ticker: left out, counted, first named
    quarantined_first: str | None = None
    ohlc_inconsistent_rows: int = 0  # kept, counted: high < max(open, close), low > min(open, close)
    ohlc_inconsistent_first_line: int | None = None
    zero_price_rows: int = 0  # kept, counted: an open, high, low or close of 0 (negatives are refused)


# Tickers are data, never paths: the vendor's character set (letters, digits, '.', the
# lower-case suffix letters of preferreds such as ALLpB), bounded in length, no "..".
# Options add ':' (their "O:" prefix) and '-' (a contract that is not OCC-shaped is kept and
# counted as unparsed). A row whose ticker does not match is quarantined: left out, counted.
STOCK_TICKER = r"^[A-Za-z0-9][A-Za-z0-9.]{0,15}$"
OPTION_TICKER = r"^[A-Za-z0-9][A-Za-z0-9.:\-]{0,47}$"


@dataclass
class BlockStats:
    """What one block's checks found, summed over the file."""

    unparsed: int = 0
    quarantined: int = 0
    quarantined_first: str | None = None
    ohlc_inconsistent: int = 0
    ohlc_first_line: int | None = None
    zero_price: int = 0

    def add(self, other: "BlockStats") -> None:
        self.zero_price += other.zero_price
        self.unparsed += other.unparsed
        self.quarantined += other.quarantined
        self.quarantined_first = self.quarantined_first or other.quarantined_first
        self.ohlc_inconsistent += other.ohlc_inconsistent
        if self.ohlc_first_line is None:
            self.ohlc_first_line = other.ohlc_first_line


# -- reading -------------------------------------------------------------------------------

def read_header(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", newline="") as fh:
            first = fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise BadFlatFile(f"{path}: not a readable gzip file ({exc})") from None
    if not first:
        raise BadFlatFile(f"{path}: empty file (no header line)")
    return first.rstrip("\r\n").split(",")


def check_header(path: Path) -> None:
    header = read_header(path)
    if header == CSV_HEADER:
        return
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


_CONVERSION = re.compile(r"CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'")


def _describe_parse_error(path: Path, message: str) -> str:
    """Turn pyarrow's "column #1 ... invalid value 'abc'" into the line, column and value."""
    m = _CONVERSION.search(message)
    if not m:
        return message
    column, kind, value = CSV_HEADER[int(m.group(1))], m.group(2), m.group(3)
    line = _find_line(path, CSV_HEADER.index(column), value)
    where = f"line {line}: " if line else ""
    return f"{where}column {column!r}: invalid value {value!r} (expected {kind})"


def _find_line(path: Path, column: int, value: str) -> int | None:
    with gzip.open(path, "rt", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if number > 1 and line.rstrip("\r\n").split(",")[column : column + 1] == [value]:
                return number
    return None


def iter_blocks(path: Path, block_size: int = BLOCK_SIZE):
    """Typed record batches of the CSV, read one block ahead on a background thread (Arrow
    releases the GIL while it inflates and parses, so reading overlaps our processing and
    writing); errors name the file (and line where we can)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=2)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for batch in _read_blocks(path, block_size):
                while not stop.is_set():
                    try:
                        q.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _csv_chunks(path: Path, block_size: int):
    """The CSV after its header, in chunks of whole lines of about ``block_size`` bytes, each
    with whether it holds a double quote (the vendor never quotes, so such a chunk is rare and
    is the only one parsed with quote handling, which costs ~13% of the parse).

    Inflated with ISA-L (python-isal), about twice as fast as zlib: gzip inflation is serial
    and is most of the cost of reading a flat file, for us and for a plain pyarrow read alike.
    The chunks are views of one reused buffer (no new block-sized allocation per chunk, which
    costs a page fault per 4 KiB); each is valid until the next is asked for, and Arrow's
    CSV parser copies what it keeps.
    """
    with igzip.open(path, "rb") as fh:
        fh.readline()  # the header, checked by check_header
        buf = bytearray(min(block_size, _inflated_size_hint(path)))
        view = memoryview(buf)
        held = 0  # bytes of an unfinished line carried to the front of the buffer
        while True:
            if held == len(buf):  # one line longer than the buffer: a bigger buffer
                view.release()
                buf = buf + bytearray(len(buf))
                view = memoryview(buf)
            got = fh.readinto(view[held:])
            filled = held + got
            if not got:
                if held:  # the last line, without its newline
                    last = bytes(view[:held]) + b"\n"
                    yield last, b'"' in last
                return
            cut = buf.rfind(b"\n", 0, filled) + 1
            if not cut:
                held = filled
                continue
            yield view[:cut], buf.find(b'"', 0, cut) >= 0
            held = filled - cut
            view[:held] = bytes(view[cut:filled])


def _inflated_size_hint(path: Path) -> int:
    """The gzip trailer's ISIZE (inflated size mod 2**32, of the last member): a small file
    gets a buffer its size, not a whole block. Only a hint: a wrong value only changes how
    the file is cut into chunks."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        if fh.tell() < 18:
            return 1 << 16
        fh.seek(-4, 2)
        return max(1 << 16, int.from_bytes(fh.read(4), "little") + 1)


def _read_blocks(path: Path, block_size: int):
    check_header(path)
    convert = pacsv.ConvertOptions(column_types=CSV_TYPES, strings_can_be_null=False)
    unquoted = pacsv.ParseOptions(quote_char=False, double_quote=False)
    quoted = pacsv.ParseOptions()
    try:
        for chunk, has_quote in _csv_chunks(path, block_size):
            read = pacsv.ReadOptions(column_names=CSV_HEADER, use_threads=False, block_size=len(chunk) + 1)
            table = pacsv.read_csv(pa.py_buffer(chunk), read_options=read, convert_options=convert,
                                   parse_options=quoted if has_quote else unquoted)
            for batch in table.to_batches():
                yield batch
    except pa.ArrowInvalid as exc:
        raise BadFlatFile(f"{path}: {_describe_parse_error(path, str(exc))}") from None
    except (OSError, EOFError, InflateError, zlib.error) as exc:
        raise BadFlatFile(f"{path}: not a readable gzip file: truncated or corrupt ({exc})") from None


# -- typing and checks ---------------------------------------------------------------------

def _ny_date(ws: pa.Array) -> pa.Array:
    """New York calendar date of UTC timestamps (DST-aware)."""
    local = pc.local_timestamp(pc.cast(ws, pa.timestamp("ns", tz=NEW_YORK)))
    return pc.cast(pc.floor_temporal(local, unit="day"), pa.date32())


@lru_cache(maxsize=8)
def _day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[00:00, next 00:00) New York of ``day``, in UTC nanoseconds (DST-aware)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(NEW_YORK)

    def midnight_ns(d: dt.date) -> int:
        return int(dt.datetime(d.year, d.month, d.day, tzinfo=zone).timestamp()) * 1_000_000_000

    return midnight_ns(day), midnight_ns(day + dt.timedelta(days=1))


def _date_column(window_start, day: dt.date) -> pa.Array | None:
    """The constant ``date`` column when every bar starts within ``day`` in New York (two
    comparisons on min/max instead of a time-zone conversion per row); None otherwise."""
    n = len(window_start)
    if n == 0:
        return pa.array([], pa.date32())
    lo, hi = _day_bounds_ns(day)
    bounds = pc.min_max(window_start)
    if bounds["min"].as_py() < lo or bounds["max"].as_py() >= hi:
        return None
    return pa.repeat(pa.scalar(day, pa.date32()), n)


def _first_true(mask) -> int:
    return pc.index(mask, True).as_py()


def type_block(raw: pa.RecordBatch | pa.Table, expected_date: dt.date, source: Path, spec: BronzeSpec,
               first_line: int = 2) -> tuple[pa.Table, BlockStats]:
    """One block in the bronze schema (not yet ordered) and what its checks found.

    Refused (the file fails, naming the line): an empty field, a bar outside the file's New
    York day, a negative or non-finite price or volume. Quarantined (left out, counted, the
    first named): a ticker outside the vendor's character set. Counted and kept: bars whose
    high and low do not bound open and close.
    """
    stats = BlockStats()
    for name in CSV_HEADER:
        nulls = raw.column(name).null_count
        if nulls:
            idx = _first_true(pc.is_null(raw.column(name)))
            raise BadFlatFile(f"{source}: line {first_line + idx}: column {name!r} is empty")
    ws = pc.cast(raw.column("window_start"), pa.timestamp("ns", tz="UTC"))
    local_date = _date_column(raw.column("window_start"), expected_date)
    if local_date is None:  # some bar is outside the New York day: find and name it
        local_date = _ny_date(ws)
        wrong = pc.not_equal(local_date, pa.scalar(expected_date, pa.date32()))
        idx = _first_true(wrong)
        raise BadFlatFile(
            f"{source}: line {first_line + idx}: window_start {raw.column('window_start')[idx].as_py()} is "
            f"{local_date[idx].as_py()} in New York, not the file's date {expected_date}"
        )
    for name in ("open", "high", "low", "close", "volume"):
        col = raw.column(name)
        if pa.types.is_floating(col.type):
            infinite = pc.invert(pc.is_finite(col))
            if pc.any(infinite).as_py():
                idx = _first_true(infinite)
                raise BadFlatFile(f"{source}: line {first_line + idx}: {name} {col[idx].as_py()} is not a finite number")
        neg = pc.less(col, 0)
        if pc.any(neg).as_py():
            idx = _first_true(neg)
            raise BadFlatFile(f"{source}: line {first_line + idx}: negative {name} {col[idx].as_py()}")
    o, h, lo, c = (raw.column(k) for k in ("open", "high", "low", "close"))
    inconsistent = pc.or_(pc.less(h, pc.max_element_wise(o, c)), pc.greater(lo, pc.min_element_wise(o, c)))
    stats.ohlc_inconsistent = pc.sum(pc.cast(inconsistent, pa.int64())).as_py() or 0
    if stats.ohlc_inconsistent:
        stats.ohlc_first_line = first_line + _first_true(inconsistent)
    zero = pc.or_(pc.or_(pc.equal(o, 0), pc.equal(h, 0)), pc.or_(pc.equal(lo, 0), pc.equal(c, 0)))
    stats.zero_price = pc.sum(pc.cast(zero, pa.int64())).as_py() or 0
    ticker = raw.column("ticker")
    good = pc.and_(pc.match_substring_regex(ticker, OPTION_TICKER if spec.options else STOCK_TICKER),
                   pc.invert(pc.match_substring(ticker, "..")))
    good_count = pc.sum(pc.cast(good, pa.int64())).as_py() or 0
    if good_count < raw.num_rows:
        idx = _first_true(pc.invert(good))
        stats.quarantined = raw.num_rows - good_count
        stats.quarantined_first = f"line {first_line + idx}: ticker {raw.column('ticker')[idx].as_py()!r}"
        keep = good
        raw = raw.filter(keep)
        ws = ws.filter(keep)
        local_date = local_date.filter(keep)
    columns = {"ticker": raw.column("ticker")}
    if spec.options:
        parsed, stats.unparsed = parse_contracts(raw.column("ticker"), repeated="window_start" in spec.unique_keys)
        columns.update(parsed)
    columns.update(
        date=local_date,
        open=raw.column("open"),
        high=raw.column("high"),
        low=raw.column("low"),
        close=raw.column("close"),
        volume=raw.column("volume"),
        transactions=raw.column("transactions"),
        window_start=ws,
    )
    return pa.table(columns).cast(spec.schema), stats


def _sorted(table: pa.Table, spec: BronzeSpec) -> pa.Table:
    # Null underlyings (unparsed contracts) sort first, as _is_sorted expects.
    if spec.options and _is_sorted(table, spec, ("ticker", "window_start")):
        return _stable_by_underlying(table)
    return table.sort_by([(k, "ascending", "at_start") for k in spec.sort_keys])


def _stable_by_underlying(table: pa.Table) -> pa.Table:
    """Rows already in the vendor's (ticker, time) order, stably ordered by underlying: that is
    (underlying, ticker, time). The underlying is ranked through its few thousand distinct
    values and the integer ranks are sorted with numpy's stable sort, which is near-linear on
    this almost-sorted input (only roots sharing a family, TSLA and TSLA1, interleave)."""
    import numpy as np

    und = table.column("underlying").combine_chunks()
    enc = pc.dictionary_encode(und)
    if len(enc.dictionary) == 0:  # every contract unparsed: nothing to order by
        return table
    order_of_values = pc.sort_indices(enc.dictionary).to_numpy()
    rank_of_code = np.empty(len(order_of_values), dtype=np.int32)
    rank_of_code[order_of_values] = np.arange(len(order_of_values), dtype=np.int32)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    if enc.indices.null_count:  # unparsed contracts: null underlying, first
        missing = np.asarray(pc.is_null(enc.indices))
        codes = np.where(missing, 0, codes).astype(np.int64)
        rank = np.where(missing, -1, rank_of_code[codes])
    else:
        rank = rank_of_code[codes]
    if rank.size < 2 or bool((rank[1:] >= rank[:-1]).all()):
        return table
    return _permuted(table, np.argsort(rank, kind="stable"))


def _permuted(table: pa.Table, perm) -> pa.Table:
    """``table.take(perm)``, touching only the rows that move.

    A block is reordered in a few short stretches (one option family each), so the table is
    cut where every row before the cut stays before it (the running maximum of ``perm``
    equals the position), the stretches that move are taken, and the rest are zero-copy
    slices. Taking a whole block costs more than its CSV parse, most of all after it was
    concatenated with the previous block's last family (a take across chunks)."""
    import numpy as np

    n = len(perm)
    ends = np.flatnonzero(np.maximum.accumulate(perm) == np.arange(n)) + 1  # closed prefixes
    starts = np.concatenate(([0], ends[:-1]))
    moving = np.flatnonzero(ends - starts > 1)
    if moving.size == 0:
        return table
    pieces, at = [], 0
    for s, e in zip(starts[moving].tolist(), ends[moving].tolist()):
        if s > at:
            pieces.append(table.slice(at, s - at))
        stretch = table.slice(s, e - s).combine_chunks()
        pieces.append(stretch.take(pa.array(perm[s:e] - s)))
        at = e
    if at < n:
        pieces.append(table.slice(at))
    return pa.concat_tables(pieces)


def _key_column(col):
    """Sort-key view of a column: null strings (unparsed contracts) compare as "", first."""
    return pc.fill_null(col, "") if pa.types.is_string(col.type) else col


def _is_sorted(table: pa.Table, spec: BronzeSpec, keys: tuple[str, ...] | None = None) -> bool:
    keys = keys or spec.sort_keys
    n = table.num_rows
    if n < 2:
        return True
    # Lexicographic order on the keys, vectorised over neighbouring rows.
    less = equal = None
    for k in keys:
        col = _key_column(table.column(k))
        a, b = col.slice(0, n - 1), col.slice(1)
        lt, eq = pc.less(a, b), pc.equal(a, b)
        if less is None:
            less, equal = lt, eq
        else:
            less = pc.or_(less, pc.and_(equal, lt))
            equal = pc.and_(equal, eq)
    return pc.all(pc.or_(less, equal)).as_py()


def _duplicate_index(table: pa.Table, spec: BronzeSpec) -> int | None:
    """Index of the first row equal, on the unique keys, to its predecessor (sorted input)."""
    n = table.num_rows
    if n < 2:
        return None
    same = None
    for k in spec.unique_keys:
        eq = pc.equal(table.column(k).slice(0, n - 1), table.column(k).slice(1))
        same = eq if same is None else pc.and_(same, eq)
    if pc.any(same).as_py():
        return _first_true(same) + 1
    return None


# -- writing -------------------------------------------------------------------------------

class _BackgroundWriter:
    """A ParquetWriter fed through a small queue on its own thread: encoding and compressing
    row groups (which release the GIL) overlap with reading and typing the next blocks."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str, use_dictionary: list[str] | bool = True):
        import queue
        import threading

        self._writer = pq.ParquetWriter(path, schema, compression=compression, write_statistics=True,
                                        use_dictionary=use_dictionary)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:
                try:
                    table, size = item
                    self._writer.write_table(table, row_group_size=size)
                except BaseException as exc:
                    self._error = exc

    def write_table(self, table: pa.Table, row_group_size: int) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((table, row_group_size))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        if self._error is not None:
            raise self._error


class _OrderedWriter:
    """Appends ordered tables to a Parquet file, checking order and uniqueness at the seams."""

    def __init__(self, path: Path, spec: BronzeSpec, source: Path):
        self.spec = spec
        self.source = source
        self.writer = _BackgroundWriter(path, spec.schema, spec.compression, spec.dictionary_columns())
        self.last: pa.Table | None = None
        self.rows = 0
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.tickers = 0  # distinct tickers: rows are grouped by ticker, so count the changes

    def fits(self, table: pa.Table) -> bool:
        if self.last is None or table.num_rows == 0:
            return True
        seam = pa.concat_tables([self.last, table.slice(0, 1)])
        return _is_sorted(seam, self.spec)

    def append(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self.last is not None:
            seam = pa.concat_tables([self.last, table.slice(0, 1)])
            if _duplicate_index(seam, self.spec) is not None:
                self._duplicate(table.slice(0, 1))
        dup = _duplicate_index(table, self.spec)
        if dup is not None:
            self._duplicate(table.slice(dup, 1))
        tick = table.column("ticker")
        n = table.num_rows
        changes = pc.sum(pc.cast(pc.not_equal(tick.slice(1), tick.slice(0, n - 1)), pa.int64())).as_py() or 0
        new_group = self.last is None or self.last.column("ticker")[0].as_py() != tick[0].as_py()
        self.tickers += changes + (1 if new_group else 0)
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.last = table.slice(table.num_rows - 1, 1)
        self.rows += table.num_rows
        # Write whole row groups of the configured size, whatever the block size.
        if self.pending_rows >= self.spec.row_group_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        if not self.pending:
            return
        data = pa.concat_tables(self.pending)
        size = self.spec.row_group_size
        whole = (data.num_rows // size) * size if not final else data.num_rows
        if whole:
            self.writer.write_table(data.slice(0, whole), row_group_size=size)
            crash_point("bronze.mid_write")
        rest = data.slice(whole)
        self.pending = [rest] if rest.num_rows else []
        self.pending_rows = rest.num_rows

    def _duplicate(self, row: pa.Table) -> None:
        keys = ", ".join(f"{k}={row.column(k)[0].as_py()}" for k in self.spec.unique_keys)
        raise BadFlatFile(f"{self.source}: duplicate rows for {keys}")

    def close(self) -> None:
        self._flush(final=True)
        self.writer.close()


def _bucket_of(table: pa.Table, spec: BronzeSpec) -> pa.Array:
    """First character of the leading sort key: buckets in that order are in sort order."""
    lead = pc.fill_null(table.column(spec.sort_keys[0]), "")
    return pc.utf8_slice_codeunits(lead, 0, 1)


_FAMILY = re.compile(r"O:([A-Z]+)")


def _split_last_family(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(rows of complete families, the trailing rows of the last family).

    A family is an option root's leading letters (``TSLA`` for TSLA and TSLA1, ``BRK`` for
    BRK.B). In the vendor's ticker order a family's rows are contiguous and ordering by
    underlying only reorders rows within a family, so complete families can be written
    while the last one waits for the next block. Its tickers are those in
    ["O:" + F, "O:" + F + "A"): the root's next character is a digit or a dot.
    """
    if table.num_rows == 0:
        return table, table
    tickers = table.column("ticker")
    last = tickers[len(tickers) - 1].as_py()
    m = _FAMILY.match(last)
    if m:
        lo = "O:" + m.group(1)
        member = pc.and_(pc.greater_equal(tickers, lo), pc.less(tickers, lo + "A"))
    else:
        member = pc.equal(tickers, last)
    other = pc.invert(member).to_numpy(zero_copy_only=False)
    cut = int(other.nonzero()[0][-1]) + 1 if other.any() else 0
    return table.slice(0, cut), table.slice(cut)


def convert(landing: Path, dest: Path, date: dt.date, spec: BronzeSpec, block_size: int = BLOCK_SIZE) -> BronzeResult:
    """Convert one landing file; the bronze file appears only when complete (atomic rename)."""
    stats = BlockStats()
    with atomic.atomic_path(dest) as tmp:
        writer = _OrderedWriter(tmp, spec, landing)
        in_order = True
        line = 2
        carry: pa.Table | None = None

        def emit(table: pa.Table) -> bool:
            if spec.options:
                table = _sorted(table, spec)  # a no-op when already ordered
            elif not _is_sorted(table, spec):
                table = _sorted(table, spec)
            if not writer.fits(table):
                return False
            writer.append(table)
            return True

        try:
            for raw in iter_blocks(landing, block_size):
                table, block = type_block(raw, date, landing, spec, first_line=line)
                line += raw.num_rows
                stats.add(block)
                if spec.options:
                    if carry is not None:
                        table = pa.concat_tables([carry, table])
                    table, carry = _split_last_family(table)
                if not emit(table):
                    in_order = False
                    break
            if in_order and carry is not None:
                in_order = emit(carry)
        except BaseException:
            writer.writer.close()
            raise
        if in_order:
            writer.close()
            tickers = writer.tickers
        else:
            writer.writer.close()
            stats, tickers = _convert_bucketed(landing, tmp, date, spec, block_size)
        meta = pq.ParquetFile(tmp).metadata
        rows, groups = meta.num_rows, meta.num_row_groups
        if rows == 0:
            # A session's file always lists bars; a header alone is a truncated publication.
            raise BadFlatFile(f"{landing}: header only, no data rows")
    return BronzeResult(rows=rows, tickers=tickers, bytes=dest.stat().st_size, unparsed_contracts=stats.unparsed,
                        row_groups=groups, bucketed=not in_order, quarantined_rows=stats.quarantined,
                        quarantined_first=stats.quarantined_first, ohlc_inconsistent_rows=stats.ohlc_inconsistent,
                        ohlc_inconsistent_first_line=stats.ohlc_first_line, zero_price_rows=stats.zero_price)


def _convert_bucketed(landing: Path, out: Path, date: dt.date, spec: BronzeSpec, block_size: int) -> tuple[BlockStats, int]:
    """Two passes in bounded memory: spill blocks to per-bucket files, then sort each bucket."""
    spill = Path(tempfile.mkdtemp(prefix=".tmp-buckets-", dir=out.parent))
    stats = BlockStats()
    try:
        writers: dict[str, pq.ParquetWriter] = {}
        line = 2
        for raw in iter_blocks(landing, block_size):
            table, block = type_block(raw, date, landing, spec, first_line=line)
            line += raw.num_rows
            stats.add(block)
            buckets = _bucket_of(table, spec)
            for key in pc.unique(buckets).to_pylist():
                part = table.filter(pc.equal(buckets, key))
                name = f"{ord(key) if key else 0:05d}"
                if name not in writers:
                    writers[name] = pq.ParquetWriter(spill / f"{name}.parquet", spec.schema, compression="none")
                writers[name].write_table(part)
        for w in writers.values():
            w.close()
        writer = _OrderedWriter(out, spec, landing)
        for name in sorted(writers):
            bucket = _sorted(pq.read_table(spill / f"{name}.parquet"), spec)
            writer.append(bucket)
        writer.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return stats, writer.tickers


def convert_stocks_daily(landing: Path, dest: Path, date: dt.date) -> BronzeResult:
    return convert(landing, dest, date, SPECS["stocks_daily"])
