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


@pytest.mark.parametrize(
    "text, fragment",
    [
        (f"ticker,volume,open,close,high,low,window_start\nAA,1,1,1,1,1,{WS}\n", "missing ['transactions']"),
        (f"ticker,open,volume,close,high,low,window_start,transactions\nAA,1,1,1,1,1,{WS},1\n", "different order"),
        (f"{HEADER},extra\nAA,1,1,1,1,1,{WS},1,0\n", "unexpected ['extra']"),
        (f"{HEADER}\nAA,abc,1,1,1,1,{WS},1\n", "line 2: column 'volume': invalid value 'abc'"),
        (f"{HEADER}\nAA,1,-1,1,1,1,{WS},1\n", "line 2: negative open"),
        (f"{HEADER}\nAA,1,1,1,1,1,1718078400000000000,1\n", "is 2024-06-11 in New York, not the file's date 2024-06-10"),
        (f"{HEADER}\nAA,1,1,1,1,1,{WS},1\nAA,1,1,1,1,1,{WS},1\n", "duplicate ticker"),
        ("", "empty file"),
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
