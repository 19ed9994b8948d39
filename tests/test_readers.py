"""Every table of every layer reads on its directory, with no options, in pandas, pyarrow,
pyarrow.dataset (hive partitioning), polars and DuckDB, to the same rows (silver's hive keys
used to refuse pyarrow.dataset: "Field event_type has incompatible types: dictionary vs
string", because the key was stored in the files as well as in the path)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from .conftest import run_workflow

pytestmark = pytest.mark.workflow

CONFIG = {"date": "2024-06-28", "datasets": "[stocks_daily,stocks_minute,options_daily]", "pull_date": "2024-06-24",
          "rest_datasets": "[]", "rest_force": "[dividends,splits,ipos,ticker_events,fundamentals,tickers]"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory, sandbox) -> Path:
    wd = tmp_path_factory.mktemp("readers")
    run_workflow(wd, sandbox, config=CONFIG)
    return wd / "quantlake"


def _tables(lake: Path) -> list[Path]:
    out = []
    for layer in ("bronze", "silver", "gold"):
        for d in sorted((lake / layer).iterdir()):
            if d.is_dir() and d.name != "qlib":
                out.append(d)
    return out


def test_every_table_reads_everywhere_to_the_same_rows(lake):
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    tables = _tables(lake)
    names = {f"{t.parent.name}/{t.name}" for t in tables}
    assert {"silver/corporate_actions", "silver/fundamentals", "silver/fundamentals_pit", "silver/financial_ratios",
            "bronze/stocks_daily", "bronze/dividends", "gold/stocks_daily", "gold/options_daily"} <= names, names
    for table in tables:
        files = sorted(table.rglob("*.parquet"))
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        counts = {
            "pandas": len(pd.read_parquet(table)),
            "pyarrow": pq.read_table(table).num_rows,
            "pyarrow.dataset": ds.dataset(table, format="parquet", partitioning="hive").to_table().num_rows,
            "polars": pl.scan_parquet(table).select(pl.len()).collect().item(),
            "duckdb": duckdb.sql(f"select count(*) from read_parquet('{table}/**/*.parquet')").fetchall()[0][0],
        }
        assert set(counts.values()) == {rows}, (table, counts, rows)


def test_silver_hive_keys_keep_their_values(lake):
    """The key is in the path only, and every directory reader gives it its value."""
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    from quantmini import silver

    keys = {"corporate_actions": ("event_type", {"dividend", "split", "ipo", "ticker_change"})}
    keys |= {name: ("timeframe", {"quarterly", "annual"}) for name in ("fundamentals", "fundamentals_pit", "financial_ratios")}
    for name, (key, values) in keys.items():
        folder = lake / "silver" / name
        for f in folder.rglob("*.parquet"):
            assert key not in pq.read_schema(f).names, f
            assert set(silver.read(f).column(key).to_pylist()) == {f.parent.name.split("=", 1)[1]}
        got = {
            "pandas": set(pd.read_parquet(folder)[key].astype(str)),
            "pyarrow.dataset": set(ds.dataset(folder, format="parquet", partitioning="hive").to_table()[key].to_pylist()),
            "polars": set(pl.scan_parquet(folder).select(key).collect()[key].cast(pl.String).to_list()),
            "duckdb": {r[0] for r in duckdb.sql(f"select distinct {key} from read_parquet('{folder}/**/*.parquet', "
                                                 "hive_partitioning=true)").fetchall()},
        }
        for reader, seen in got.items():
            assert seen <= values and seen, (name, reader, seen)
        if name != "fundamentals_pit":
            assert got["pandas"] == got["pyarrow.dataset"] == got["duckdb"], (name, got)


def test_partition_keys_have_one_type_per_engine_in_every_table(lake):
    """year=/month=/day= are unpadded, so DuckDB reads them as BIGINT everywhere (a padded
    `day=03` was VARCHAR in one dataset and `day=27` BIGINT in another), pyarrow (and pandas)
    as int32 dictionaries and polars as Int64."""
    import duckdb
    import polars as pl

    dated = [t for t in _tables(lake) if any(t.glob("year=*"))]
    assert len(dated) == 6  # bronze and gold: stocks_daily, stocks_minute, options_daily
    for table in dated:
        kinds = duckdb.sql(f"select distinct typeof(year), typeof(month), typeof(day) "
                           f"from read_parquet('{table}/**/*.parquet')").fetchall()
        assert kinds == [("BIGINT", "BIGINT", "BIGINT")], (table, kinds)
        schema = pq.read_table(table).schema
        assert [str(schema.field(k).type) for k in ("year", "month", "day")] == [
            "dictionary<values=int32, indices=int32, ordered=0>"] * 3, table
        ps = pl.scan_parquet(table).collect_schema()
        assert [ps[k] for k in ("year", "month", "day")] == [pl.Int64] * 3, table


def test_migrate_layout_renames_padded_directories(tmp_path):
    from quantmini.paths import migrate_hive_dates

    old = tmp_path / "bronze" / "stocks_daily" / "year=2024" / "month=06"
    for day in ("day=03", "day=14"):
        (old / day).mkdir(parents=True)
        (old / day / "part.parquet").write_bytes(b"x" + day.encode())
    (tmp_path / "gold" / "stocks_daily" / "year=2024" / "month=12" / "day=05").mkdir(parents=True)
    assert migrate_hive_dates(tmp_path) == 3  # month=06, day=03, day=05 (month=12 and day=14 need nothing)
    new = tmp_path / "bronze" / "stocks_daily" / "year=2024" / "month=6"
    assert (new / "day=3" / "part.parquet").read_bytes() == b"xday=03"
    assert (new / "day=14" / "part.parquet").read_bytes() == b"xday=14"
    assert (tmp_path / "gold" / "stocks_daily" / "year=2024" / "month=12" / "day=5").is_dir()
    assert migrate_hive_dates(tmp_path) == 0
