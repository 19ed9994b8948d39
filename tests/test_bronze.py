"""Landing CSV -> bronze: exact types, the vendor's number formats, clear errors."""

from __future__ import annotations

import datetime as dt
import gzip

import pyarrow.parquet as pq
import pytest

from quantmini.bronze import STOCKS_DAILY_SCHEMA, BadFlatFile, convert_stocks_daily

HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
WS = "1717992000000000000"  # 2024-06-10 00:00 New York


def write(tmp_path, text, name="in.csv.gz"):
    p = tmp_path / name
    p.write_bytes(gzip.compress(text.encode()))
    return p


def test_formats_parse_exactly(tmp_path):
    src = write(tmp_path, f"{HEADER}\nZZ,150.000000,1,2.5,3,0.5,{WS},7\nAA,17798.430378,1224.495,1150,1216.9171,1100,{WS},1187574\n")
    res = convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))
    t = pq.read_table(tmp_path / "out.parquet")
    assert res.rows == 2 and t.schema.remove_metadata() == STOCKS_DAILY_SCHEMA
    assert t.column("ticker").to_pylist() == ["AA", "ZZ"]
    assert t.column("volume").to_pylist() == [17798.430378, 150.0]
    assert t.column("open").to_pylist() == [1224.495, 1.0]
    assert t.column("date").to_pylist() == [dt.date(2024, 6, 10)] * 2



def test_quoted_fields_parse_like_plain_ones(tmp_path):
    """Chunks without a double quote skip quote handling; one with quotes keeps it, so a
    quoted ticker is read without its quotes."""
    rows = [f"T{k:04d},{k},1,1,1,1,{WS},1" for k in range(2000)]
    plain = write(tmp_path, "\n".join([HEADER, *rows]) + "\n", "plain.csv.gz")
    rows[1500] = f'"T1500",1500,1,1,1,1,{WS},1'
    quoted = write(tmp_path, "\n".join([HEADER, *rows]) + "\n", "quoted.csv.gz")
    convert_stocks_daily(plain, tmp_path / "plain.parquet", dt.date(2024, 6, 10))
    convert_stocks_daily(quoted, tmp_path / "quoted.parquet", dt.date(2024, 6, 10))
    assert pq.read_table(tmp_path / "quoted.parquet").equals(pq.read_table(tmp_path / "plain.parquet"))

@pytest.mark.parametrize(
    "text, fragment",
    [
        (f"ticker,volume,open,close,high,low,window_start\nAA,1,1,1,1,1,{WS}\n", "missing ['transactions']"),
        (f"ticker,open,volume,close,high,low,window_start,transactions\nAA,1,1,1,1,1,{WS},1\n", "different order"),
        (f"{HEADER},extra\nAA,1,1,1,1,1,{WS},1,0\n", "unexpected ['extra']"),
        (f"{HEADER}\nAA,abc,1,1,1,1,{WS},1\n", "line 2: column 'volume': invalid value 'abc'"),
        (f"{HEADER}\nAA,1,-1,1,1,1,{WS},1\n", "line 2: negative open"),
        (f"{HEADER}\nAA,1,1,1,1,1,1718078400000000000,1\n", "is 2024-06-11 in New York, not the file's date 2024-06-10"),
        (f"{HEADER}\nAA,1,1,1,1,1,{WS},1\nAA,1,1,1,1,1,{WS},1\n", "duplicate rows for ticker=AA"),
        ("", "empty file"),
        (f"{HEADER}\n", "header only, no data rows"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, text, fragment):
    src = write(tmp_path, text)
    with pytest.raises(BadFlatFile) as err:
        convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))
    assert str(src) in str(err.value) and fragment in str(err.value)
    assert not (tmp_path / "out.parquet").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv.gz"], "no temporary file left behind"


def test_corrupt_gzip(tmp_path):
    src = tmp_path / "bad.csv.gz"
    src.write_bytes(gzip.compress(f"{HEADER}\nAA,1,1,1,1,1,{WS},1\n".encode())[:-12])
    with pytest.raises(BadFlatFile, match="bad.csv.gz"):
        convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))


def _options_csv(rows):
    return HEADER + "\n" + "\n".join(rows) + "\n"


def test_bucketed_pass_gives_the_same_file_as_the_direct_pass(tmp_path):
    from quantmini.bronze import SPECS, convert

    ws = 1718078400000000000  # 2024-06-11
    tickers = [f"O:TSLA1240719C{k:08d}" for k in range(100000, 100000 + 40 * 1000, 1000)]
    tickers += [f"O:TSLA240719C{k:08d}" for k in range(100000, 100000 + 40 * 1000, 1000)]
    tickers += ["O:A240719C00050000", "BAD"]
    tickers.sort()  # the vendor's order: by ticker, so TSLA1... comes before TSLA2...
    rows = [f"{t},{i + 1},1,1,1,1,{ws + i * 60_000_000_000},1" for i, t in enumerate(tickers)]
    vendor = write(tmp_path, _options_csv(rows), "vendor.csv.gz")
    shuffled = write(tmp_path, _options_csv(rows[::-1]), "reversed.csv.gz")
    # Small blocks in vendor order: families carried across blocks, written directly.
    large = convert(vendor, tmp_path / "large.parquet", dt.date(2024, 6, 11), SPECS["options_minute"], block_size=256)
    # Out of order: the bucketed pass.
    small = convert(shuffled, tmp_path / "small.parquet", dt.date(2024, 6, 11), SPECS["options_minute"], block_size=256)
    assert small.bucketed and not large.bucketed
    a, b = pq.read_table(tmp_path / "small.parquet"), pq.read_table(tmp_path / "large.parquet")
    assert a.equals(b) and a.num_rows == len(rows)
    under = a.column("underlying").to_pylist()
    assert under[0] is None and under[1] == "A" and under.index("TSLA") < under.index("TSLA1")
    assert small.unparsed_contracts == large.unparsed_contracts == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_vectorised_option_parser_matches_reference():
    import pyarrow as pa

    from quantmini.options import parse_contracts, parse_one

    tickers = ["O:SPY241220C00450000", "O:TSLA1240119P00150500", "O:BRK.B250117C00400000", "O:BRKB250117C00400000",
               "O:A220520C00065000", "O:SPXW240621P05000000", "AAPL", "O:SPY241320C00450000", "O:SPY241220X00450000",
               "O:240119C00001000", "O:NANOS230327C00400000",
               # calendar and byte-level edge cases of the buffer parser
               "O:SPY230229C00450000", "O:SPY240229C00450000", "O:SPÝ241220C00450000", "O:spy241220C00450000",
               "", "O:X241220C0045000Z", "O:ABCDEFGHIJK241220C00450000", "O:Q991231P99999999", "O:SPY241220C0045000é"]
    cols, unparsed = parse_contracts(pa.array(tickers))
    got = pa.table(cols).to_pylist()
    for t, g in zip(tickers, got):
        ref = parse_one(t)
        if ref is None:
            assert g == {"underlying": None, "expiration_date": None, "contract_type": None, "strike": None}, t
        else:
            assert (g["underlying"], g["expiration_date"], g["contract_type"], g["strike"]) == (
                ref.underlying, ref.expiration_date, ref.contract_type, ref.strike), t
    assert unparsed == 4 + 7
    assert got[12]["expiration_date"].isoformat() == "2024-02-29" and got[18]["strike"] == 99999.999
    assert got[2]["underlying"] == "BRK.B" and got[1]["strike"] == 150.5 and got[5]["strike"] == 5000.0


def test_option_parser_on_well_formed_tickers_and_a_sliced_array():
    """Every ticker long enough (no placeholder pass) and an array with an offset: the tails
    are cut from the right rows and the parsed values are exact."""
    import random

    import pyarrow as pa

    from quantmini.options import parse_contracts, parse_one

    rng = random.Random(7)
    roots = ["A", "SPY", "TSLA1", "BRK.B", "SPXW", "GOOGL2"]
    tickers = [f"O:{rng.choice(roots)}{rng.randint(24, 30):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
               f"{rng.choice('CP')}{rng.randint(0, 99_999_999):08d}" for _ in range(3000)]
    array = pa.array(["pad"] * 5 + tickers).slice(5)
    for repeated in (False, True):
        cols, unparsed = parse_contracts(array, repeated=repeated)
        assert unparsed == 0
        got = pa.table(cols).to_pylist()
        for t, g in zip(tickers, got):
            ref = parse_one(t)
            assert (g["underlying"], g["expiration_date"], g["contract_type"], g["strike"]) == (
                ref.underlying, ref.expiration_date, ref.contract_type, ref.strike), t


def test_partial_reorder_equals_take():
    """_permuted moves only the stretches that change and equals a full take, for local
    shuffles, cycles around fixed rows, and a table in several chunks."""
    import numpy as np
    import pyarrow as pa

    from quantmini.bronze import _permuted

    rng = np.random.default_rng(3)
    n = 5000
    base = pa.table({"i": np.arange(n), "s": [f"r{k}" for k in range(n)]})
    chunked = pa.concat_tables([base.slice(0, 1234), base.slice(1234, 2000), base.slice(3234)])
    perms = [np.arange(n), np.arange(n)[::-1].copy(), np.array([2, 1, 0] + list(range(3, n)))]
    local = np.arange(n)
    for start in rng.choice(n - 50, 20, replace=False):
        local[start : start + 30] = local[start : start + 30][rng.permutation(30)]
    perms.append(local)
    for perm in perms:
        for table in (base, chunked):
            assert _permuted(table, perm).equals(base.take(pa.array(perm)))


def test_chunks_cover_the_file_whatever_the_block_size(tmp_path):
    """Whole lines per chunk, nothing lost or doubled: tiny blocks, a line longer than the
    block, and a last line without its newline."""
    from quantmini.bronze import _csv_chunks

    lines = [HEADER] + [f"T{k},{k},1,1,1,1,{WS},1" for k in range(500)] + ["X" * 300 + ",1,1,1,1,1,1,1", "LAST,1,1,1,1,1,1,1"]
    src = write(tmp_path, "\n".join(lines))  # no final newline
    expected = ("\n".join(lines[1:]) + "\n").encode()
    for block in (7, 64, 1000, 1 << 20):
        chunks = [bytes(c) for c, quoted in _csv_chunks(src, block) if not quoted]
        assert b"".join(chunks) == expected, block
        assert all(c.endswith(b"\n") for c in chunks)


@pytest.mark.parametrize("day", ["2024-03-10", "2024-03-11", "2024-11-03", "2024-06-27", "2003-01-02"])
def test_new_york_day_bounds_across_daylight_saving(day):
    import pandas as pd

    from quantmini.bronze import _day_bounds_ns

    d = dt.date.fromisoformat(day)
    nxt = d + dt.timedelta(days=1)
    assert _day_bounds_ns(d) == (pd.Timestamp(day, tz="America/New_York").value,
                                 pd.Timestamp(nxt.isoformat(), tz="America/New_York").value)


def test_multi_member_gzip_reads_whole(tmp_path):
    """The trailer's size is only a buffer hint: a file of two gzip members (whose trailer
    gives the second member's size) converts exactly like the same CSV in one member."""
    rows = [f"T{k:05d},{k},1,1,1,1,{WS},1" for k in range(20000)]
    text = "\n".join([HEADER, *rows]) + "\n"
    one = write(tmp_path, text, "one.csv.gz")
    cut = text.index("\nT19990") + 1
    two = tmp_path / "two.csv.gz"
    two.write_bytes(gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode()))
    a = convert_stocks_daily(one, tmp_path / "one.parquet", dt.date(2024, 6, 10))
    b = convert_stocks_daily(two, tmp_path / "two.parquet", dt.date(2024, 6, 10))
    assert a.rows == b.rows == 20000
    assert pq.read_table(tmp_path / "one.parquet").equals(pq.read_table(tmp_path / "two.parquet"))


@pytest.mark.parametrize("value, name, message", [
    ("inf", "volume", "volume inf is not a finite number"), ("-inf", "high", "high -inf is not a finite number"),
    ("Infinity", "open", "open inf is not a finite number"), ("nan", "close", "column 'close' is empty"),
])
def test_non_finite_values_refused_naming_the_line(tmp_path, value, name, message):
    cols = {"volume": "5", "open": "1", "close": "1", "high": "1", "low": "1"}
    cols[name] = value
    row = f"BB,{cols['volume']},{cols['open']},{cols['close']},{cols['high']},{cols['low']},{WS},1"
    src = write(tmp_path, f"{HEADER}\nAA,1,1,1,1,1,{WS},1\n{row}\n")
    with pytest.raises(BadFlatFile, match=rf"in.csv.gz: line 3: {message}"):
        convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))
    assert not (tmp_path / "out.parquet").exists()


def test_path_like_tickers_quarantined_counted_and_named(tmp_path):
    rows = ["../../ESCAPED", "A/B", "..", "A..B", "X" * 17, "AA", "ALLpB", "BRK.B", "OK"]
    body = "\n".join(f"{t},1,1,1,1,1,{WS},1" for t in sorted(rows))
    src = write(tmp_path, f"{HEADER}\n{body}\n")
    res = convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))
    kept = pq.read_table(tmp_path / "out.parquet").column("ticker").to_pylist()
    assert kept == ["AA", "ALLpB", "BRK.B", "OK"]
    assert res.quarantined_rows == 5 and res.rows == 4
    assert res.quarantined_first == "line 2: ticker '..'"  # sorted: '..' comes first


def test_ohlc_inconsistencies_kept_and_counted(tmp_path):
    body = (f"AA,1,10,10,9,11,{WS},1\n"  # high < low
            f"BB,1,10,12,11,9,{WS},1\n"  # high below the close
            f"CC,1,10,10,11,9,{WS},1\n")
    src = write(tmp_path, f"{HEADER}\n{body}")
    res = convert_stocks_daily(src, tmp_path / "out.parquet", dt.date(2024, 6, 10))
    assert res.rows == 3 and res.ohlc_inconsistent_rows == 2 and res.ohlc_inconsistent_first_line == 2
