"""Vendor corrections and hostile input, end to end against the sandbox.

For each kind of bad flat file: the vendor publishes it (at the real key), a plain run
refuses it or accepts it with flags, the vendor re-publishes the good file at the same key,
and one plain run later the lake equals a clean run's, file for file by sha256 (sidecars and
run state aside). No file is ever created outside the lake.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.config import Config

from quantmini.paths import Lake

from .conftest import S3_KEY, S3_SECRET, run_workflow

pytestmark = pytest.mark.workflow

WINDOW = {"start": "2024-06-24", "end": "2024-06-25"}
VICTIM = "2024-06-25"
KEY = f"us_stocks_sip/day_aggs_v1/2024/06/{VICTIM}.csv.gz"


def s3(sandbox):
    return boto3.client("s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                        region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def data_digest(lake: Path) -> dict[str, str]:
    """sha256 of every data file: landing, bronze, silver, gold (sidecars and run state aside)."""
    out = {}
    for p in sorted(lake.rglob("*")):
        rel = p.relative_to(lake)
        if not p.is_file() or rel.parts[0] in ("metadata", ".quantmini") or ".quantmini" in rel.parts:
            continue
        out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def outside(workdir: Path) -> set[str]:
    """Files under the lake's parent that are not the lake, logs or Snakemake's own state."""
    return {p.relative_to(workdir).as_posix() for p in workdir.rglob("*")
            if p.is_file() and p.relative_to(workdir).parts[0] not in ("quantlake", "logs", ".snakemake")}


def _rows(good: bytes) -> tuple[str, list[str]]:
    lines = gzip.decompress(good).decode().splitlines()
    return lines[0], lines[1:]


def _csv(header: str, rows: list[str]) -> bytes:
    return gzip.compress(("\n".join([header, *rows]) + "\n").encode(), mtime=0)


def _edit(good: bytes, i: int, **fields) -> bytes:
    header, rows = _rows(good)
    names = header.split(",")
    cells = rows[i].split(",")
    for k, v in fields.items():
        cells[names.index(k)] = v
    rows[i] = ",".join(cells)
    return _csv(header, rows)


def _add(good: bytes, row: str) -> bytes:
    header, rows = _rows(good)
    return _csv(header, rows + [row])


def _first(good: bytes) -> list[str]:
    return _rows(good)[1][0].split(",")


KINDS = {
    # kind: (make the bad file from the good one, refused?)
    "corrupt gzip": (lambda g: g[:40] + bytes(range(256)) * 8, True),
    "truncated gzip": (lambda g: g[: len(g) // 2], True),
    "header only": (lambda g: _csv(_rows(g)[0], []), True),
    "wrong header": (lambda g: gzip.compress(b"a,b,c\n1,2,3\n"), True),
    "negative price": (lambda g: _edit(g, 3, open="-1"), True),
    "infinite volume": (lambda g: _edit(g, 5, volume="inf"), True),
    "bar outside the day": (lambda g: _edit(g, 7, window_start=str(int(_first(g)[6]) + 86_400_000_000_000)), True),
    "duplicate row": (lambda g: _add(g, _rows(g)[1][0]), True),
    "empty ticker": (lambda g: _add(g, "," + ",".join(_first(g)[1:])), False),
    "high below low": (lambda g: _edit(g, 2, high="0.5", low="900"), False),
    "path-like ticker": (lambda g: _add(g, "../../ESCAPED," + ",".join(_first(g)[1:])), False),
    "phantom symbol": (lambda g: _add(g, "ZZZZZ," + ",".join(_first(g)[1:])), False),
    "wrong prices": (lambda g: _edit(_edit(g, 4, close="1234.5", high="1300"), 6, open="0.01", low="0.01"), False),
}


#: the kinds played end to end (a refused file, a file accepted with counted rows, one whose
#: rows look valid): every kind is checked against the bronze conversion itself below, and the
#: workflow's handling of a refusal or an acceptance does not depend on the kind.
END_TO_END = ("corrupt gzip", "path-like ticker", "wrong prices")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_bad_file_is_refused_or_kept_with_counts_by_bronze(kind, tmp_path, sandbox):
    """What a bad vendor file becomes, kind by kind, at the conversion a bronze job runs (the
    end-to-end loop below plays three kinds through whole runs)."""
    import datetime as dt

    from quantmini import bronze

    good = s3(sandbox).get_object(Bucket="flatfiles", Key=KEY)["Body"].read()
    make, refused = KINDS[kind]
    landing = tmp_path / "bad.csv.gz"
    landing.write_bytes(make(good))
    dest = tmp_path / "part.parquet"
    if refused:
        with pytest.raises(bronze.BadFlatFile, match="bad.csv.gz"):
            bronze.convert_stocks_daily(landing, dest, dt.date.fromisoformat(VICTIM))
        assert not dest.exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv.gz"]
    else:
        got = bronze.convert_stocks_daily(landing, dest, dt.date.fromisoformat(VICTIM))
        assert got.quarantined_rows + got.ohlc_inconsistent_rows > 0 or kind in ("phantom symbol", "wrong prices")
        table = pq.read_table(dest)
        assert table.num_rows == got.rows and "../../ESCAPED" not in table.column("ticker").to_pylist()


@pytest.fixture(scope="module")
def clean(tmp_path_factory, sandbox):
    wd = tmp_path_factory.mktemp("clean")
    run_workflow(wd, sandbox, config=WINDOW)
    return wd, data_digest(wd / "quantlake")


def test_bad_then_good_converges_to_the_clean_lake(tmp_path, sandbox, clean):
    clean_dir, clean = clean
    client = s3(sandbox)
    good = client.get_object(Bucket="flatfiles", Key=KEY)["Body"].read()
    # The clean lake, copied: the bad files arrive on a lake that already holds the window.
    tmp_path = tmp_path / "wd"
    shutil.copytree(clean_dir, tmp_path, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    lake = Lake(str(tmp_path / "quantlake"))
    assert data_digest(tmp_path / "quantlake") == clean
    files_outside = outside(tmp_path)
    try:
        for kind in END_TO_END:
            make, refused = KINDS[kind]
            client.put_object(Bucket="flatfiles", Key=KEY, Body=make(good))
            bad = run_workflow(tmp_path, sandbox, config=WINDOW, check=False)
            side = json.loads(Path(lake.sidecar("bronze", "stocks_daily", VICTIM)).read_text())
            if refused:
                assert bad.returncode != 0 and side["status"] == "failed", kind
                assert "day_aggs_v1/2024/06/2024-06-25.csv.gz" in side["error"], (kind, side["error"])
                assert "Error -3" not in side["error"] or "not a readable gzip file" in side["error"], side["error"]
            else:
                assert bad.returncode == 0 and side["status"] == "success", (kind, bad.stderr[-2000:])
                stats = side["statistics"]
                assert stats["quarantined_rows"] + stats["ohlc_inconsistent_rows"] > 0 or kind in ("phantom symbol", "wrong prices")
            assert not list(tmp_path.rglob("*scaped*")) and not list(tmp_path.parent.glob("escaped")), kind
            assert outside(tmp_path) == files_outside, kind
            client.put_object(Bucket="flatfiles", Key=KEY, Body=good)  # the vendor's corrected file
            run_workflow(tmp_path, sandbox, config=WINDOW)
            assert data_digest(tmp_path / "quantlake") == clean, kind
    finally:
        client.put_object(Bucket="flatfiles", Key=KEY, Body=good)
    # Converged: an unchanged window plans nothing and downloads nothing.
    landing = Path(lake.landing("stocks_daily", VICTIM))
    before = landing.stat().st_mtime_ns
    again = run_workflow(tmp_path, sandbox, config=WINDOW)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert landing.stat().st_mtime_ns == before


def test_a_daily_run_re_checks_the_previous_sessions(tmp_path, sandbox):
    """A nightly run (one new session) re-downloads an earlier session within refresh_days
    whose object changed, and rebuilds what was built from it, Qlib included."""
    client = s3(sandbox)
    key = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-20.csv.gz"
    good = client.get_object(Bucket="flatfiles", Key=key)["Body"].read()
    lake = Lake(str(tmp_path / "quantlake"))
    run_workflow(tmp_path, sandbox, config={"start": "2024-06-18", "end": "2024-06-21"})
    try:
        client.put_object(Bucket="flatfiles", Key=key, Body=_add(good, "ZZZZZ," + ",".join(_first(good)[1:])))
        dry = run_workflow(tmp_path, sandbox, "-n", config={"date": "2024-06-24", "refresh_days": 0})
        assert "landing_correction" not in dry.stdout  # refresh_days=0: no check
        run_workflow(tmp_path, sandbox, config={"date": "2024-06-24"})
        assert "ZZZZZ" in (tmp_path / "quantlake" / "gold" / "qlib" / "instruments" / "all.txt").read_text()
        side = json.loads(Path(lake.sidecar("landing", "stocks_daily", "2024-06-20")).read_text())
        assert side["statistics"]["etag"] == hashlib.md5(gzip.compress(b"") * 0 + client.get_object(
            Bucket="flatfiles", Key=key)["Body"].read()).hexdigest()
    finally:
        client.put_object(Bucket="flatfiles", Key=key, Body=good)
    run_workflow(tmp_path, sandbox, config={"date": "2024-06-24"})
    assert "ZZZZZ" not in (tmp_path / "quantlake" / "gold" / "qlib" / "instruments" / "all.txt").read_text()
    assert not (tmp_path / "quantlake" / "gold" / "qlib" / "features" / "zzzzz").exists()


def test_a_correction_lost_to_a_full_disk_is_fetched_the_next_night(tmp_path, sandbox):
    """Found by the soak: the night a corrected file was re-downloaded the disk was full. The
    landing job failed before it could record anything and Snakemake had removed the landing
    copy, leaving the old bronze. The next nightly run (the corrected session now outside
    refresh_days) fetches it again and rebuilds bronze from the corrected file."""
    client = s3(sandbox)
    key = "us_stocks_sip/day_aggs_v1/2024/06/2024-06-20.csv.gz"
    good = client.get_object(Bucket="flatfiles", Key=key)["Body"].read()
    lake = Lake(str(tmp_path / "quantlake"))
    run_workflow(tmp_path, sandbox, config={"start": "2024-06-18", "end": "2024-06-21"})
    bronze = Path(lake.bronze("stocks_daily", "2024-06-20"))
    try:
        corrected = _add(good, "ZZZZZ," + ",".join(_first(good)[1:]))
        client.put_object(Bucket="flatfiles", Key=key, Body=corrected)
        full = run_workflow(tmp_path, sandbox, config={"date": "2024-06-24"}, env={"QUANTMINI_DISK_FULL": "1"},
                            check=False)
        assert full.returncode != 0
        assert not Path(lake.landing("stocks_daily", "2024-06-20")).exists()
        assert not Path(lake.sidecar("landing", "stocks_daily", "2024-06-20")).exists()
        assert "ZZZZZ" not in pq.read_table(bronze).column("ticker").to_pylist()
        # the next night: no explicit date (the nightly run), the corrected session outside
        # refresh_days; the session the full disk stopped (06-24) is caught up too
        run_workflow(tmp_path, sandbox, config={"date": "", "refresh_days": 1},
                     env={"QUANTMINI_NOW": "2024-06-26T16:30:00+00:00"})
        assert pq.read_table(bronze).column("ticker").to_pylist().count("ZZZZZ") == 1
        side = json.loads(Path(lake.sidecar("landing", "stocks_daily", "2024-06-20")).read_text())
        assert side["status"] == "success"
        assert side["statistics"]["etag"] == hashlib.md5(corrected).hexdigest()
        assert Path(lake.bronze("stocks_daily", "2024-06-24")).exists()
        dry = run_workflow(tmp_path, sandbox, "-n", config={"date": "", "refresh_days": 1},
                           env={"QUANTMINI_NOW": "2024-06-26T16:30:00+00:00"})
        assert "Nothing to be done" in dry.stdout + dry.stderr
    finally:
        client.put_object(Bucket="flatfiles", Key=key, Body=good)
