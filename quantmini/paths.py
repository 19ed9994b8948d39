"""Lake layout: every path of every layer, derived from the lake root and a date.

The one place the layout is written: the Snakemake rules take their output patterns from the
``*_pattern`` methods (Snakemake wildcards in braces), the planner, the jobs, the metadata
reader and the commands take concrete paths from the others, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .datasets import FLATFILE_DATASETS

DEFAULT_LAKE_ROOT = "./quantlake"
HIVE_GLOB = "year=*/month=*/day=*"
HIVE_PATTERN = "year={year}/month={month}/day={day}"


#: The per-session jobs' logs (relative to the working directory), in the rules' wildcards:
#: the rules' ``log:`` patterns, and where a backfill batch writes each session's log.
LOG_PATTERNS = {
    "landing": "logs/landing/{asset}/{feed}/{year}/{month}/{date}.log",
    "bronze": "logs/bronze/{dataset}/{year}/{month}/{day}.log",
    "gold_stocks_daily": "logs/gold/stocks_daily/{year}/{month}/{day}.log",
}


def session_log(step: str, dataset: str, date: str) -> str:
    """The log a per-session job of ``step`` writes for one session of a dataset."""
    if step == "landing":
        asset, feed, year, month = FLATFILE_DATASETS[dataset].s3_key(date).split("/")[:4]
        return LOG_PATTERNS[step].format(asset=asset, feed=feed, year=year, month=month, date=date)
    d = dt.date.fromisoformat(date)
    return LOG_PATTERNS[step].format(dataset=dataset, year=d.year, month=d.month, day=d.day)


def resolve_lake_root(configured: str | None) -> str:
    """``QUANTLAKE_ROOT`` overrides the configured root; the default is ``./quantlake``."""
    root = os.environ.get("QUANTLAKE_ROOT") or configured or DEFAULT_LAKE_ROOT
    return os.path.normpath(root)  # "./quantlake" -> "quantlake", as Snakemake prefers


def split_date(date: str) -> tuple[str, str, str]:
    d = dt.date.fromisoformat(date)
    return f"{d.year:04d}", f"{d.month:02d}", f"{d.day:02d}"


def hive_date(date: str) -> str:
    """``year=2024/month=6/day=3``: hive keys without leading zeros, so every engine gives
    them one integer type in every dataset (DuckDB reads a zero-padded ``day=03`` as VARCHAR
    but ``day=27`` as BIGINT, so padded keys typed differently from one dataset to the next)."""
    d = dt.date.fromisoformat(date)
    return f"year={d.year}/month={d.month}/day={d.day}"


_REST_PARTITION = re.compile(
    r"/bronze/(?P<dataset>[a-z_]+)/pull_date=(?P<date>\d{4}-\d{2}-\d{2})/window=(?P<window>[^/]+)/part\.parquet$"
)


def rest_partition(path: str | Path) -> tuple[str, str, str] | None:
    """(dataset, pull date, window) of a ``.../bronze/<dataset>/pull_date=<D>/window=<W>/part.parquet``
    REST pull, or None for any other path."""
    m = _REST_PARTITION.search(Path(path).as_posix())
    return (m["dataset"], m["date"], m["window"]) if m else None


def partition_date(path: str) -> str:
    """The ISO date of a ``.../year=YYYY/month=MM/day=DD/part.parquet`` partition."""
    parts = Path(path).parts
    try:
        y, m, d = (p.split("=", 1)[1] for p in parts[-4:-1])
        return dt.date(int(y), int(m), int(d)).isoformat()
    except (IndexError, ValueError):
        raise ValueError(f"{path}: not a year=/month=/day= partition") from None


@dataclass(frozen=True)
class Lake:
    root: str

    # landing -------------------------------------------------------------------------------
    def landing(self, dataset: str, date: str) -> str:
        return f"{self.root}/landing/{FLATFILE_DATASETS[dataset].s3_key(date)}"

    # bronze --------------------------------------------------------------------------------
    def bronze_dir(self, dataset: str) -> str:
        return f"{self.root}/bronze/{dataset}"

    def bronze(self, dataset: str, date: str) -> str:
        return f"{self.bronze_dir(dataset)}/{hive_date(date)}/part.parquet"

    def bronze_rest(self, dataset: str, pull_date: str, window: str) -> str:
        """One REST pull: an immutable partition keyed by pull date and window."""
        return f"{self.bronze_dir(dataset)}/pull_date={pull_date}/window={window}/part.parquet"

    def bronze_rest_glob(self, dataset: str, window: str = "*") -> str:
        return self.bronze_rest(dataset, "*", window)

    # silver --------------------------------------------------------------------------------
    def silver(self, dataset: str, partition: str) -> str:
        """One silver file, rebuilt whole: ``silver/<dataset>/<key>=<value>/data.parquet``."""
        return f"{self.root}/silver/{dataset}/{partition}/data.parquet"

    # gold ----------------------------------------------------------------------------------
    def gold_dir(self, dataset: str) -> str:
        return f"{self.root}/gold/{dataset}"

    def gold(self, dataset: str, date: str) -> str:
        """One session of a gold feature dataset (stocks_daily, stocks_minute, options_daily),
        partitioned like bronze."""
        return f"{self.gold_dir(dataset)}/{hive_date(date)}/part.parquet"

    def qlib_root(self) -> str:
        return f"{self.root}/gold/qlib"

    def qlib_receipt(self, dataset: str) -> str:
        """Output of the Qlib update: what the store holds (deterministic, no timestamps)."""
        return f"{self.qlib_root()}/.quantmini/{dataset}.json"

    def bronze_glob(self, dataset: str) -> str:
        return f"{self.bronze_dir(dataset)}/{HIVE_GLOB}/part.parquet"

    def gold_glob(self, dataset: str) -> str:
        return f"{self.gold_dir(dataset)}/{HIVE_GLOB}/part.parquet"

    # metadata ------------------------------------------------------------------------------
    def metadata_root(self) -> str:
        return f"{self.root}/metadata"

    def metadata_layer(self, layer: str) -> str:
        """One layer's sidecars (``metadata/<layer>/<dataset>/YYYY/MM/``)."""
        return f"{self.metadata_root()}/{layer}"

    def sidecar(self, layer: str, data_type: str, date: str, part: str | None = None) -> str:
        """``<date>.json``; a dataset with several targets per date (REST pulls: one per
        window) adds the part: ``<date>.<part>.json``."""
        y, m, _ = split_date(date)
        name = f"{date}.{part}" if part else date
        return f"{self.metadata_root()}/{layer}/{data_type}/{y}/{m}/{name}.json"

    def watermark(self, layer: str, data_type: str) -> str:
        return f"{self.metadata_root()}/{layer}/{data_type}/watermark.json"

    def actions_settled(self) -> str:
        """The silver actions the held gold sessions were last completed against (a run's
        plan covers only sessions its own pulls can change while this matches silver)."""
        return f"{self.state_dir()}/actions_settled.txt"

    def batch_manifest(self, kind: str, dataset: str, first: str, last: str) -> str:
        """A completed backfill batch (quantmini/batches.py): the sessions one job built, so
        later runs name the same job as their producer."""
        return f"{self.state_dir()}/batches/{kind}/{dataset}/{first}_{last}.json"

    def batch_manifest_glob(self) -> str:
        return self.batch_manifest("*", "*", "*", "*")

    def summary(self) -> str:
        """The run summary (one row per layer and dataset), derived from the sidecars."""
        return f"{self.metadata_root()}/summary.tsv"

    def report_asset(self, name: str) -> str:
        """A figure or table of the HTML report (``records.png``, ``quality.html`` ...)."""
        return f"{self.metadata_root()}/report/{name}"

    # run state (never data) ------------------------------------------------------------------
    def state_dir(self) -> str:
        """``.quantmini/``: locks, correction markers, rate-limit windows, caches."""
        return f"{self.root}/.quantmini"

    def correction_marker_dir(self, asset: str, feed: str, year: str, month: str) -> str:
        """Markers of a landing file's corrections (quantmini/corrections.py), by S3 prefix."""
        return f"{self.correction_root()}/{asset}/{feed}/{year}/{month}"

    def correction_root(self) -> str:
        return f"{self.state_dir()}/corrections"

    def stored_dirs(self) -> tuple[str, ...]:
        """What lives in the lake's object store when it has one (quantmini/store.py): the
        landing, bronze and silver layers and the correction markers; gold stays local."""
        return tuple(f"{self.root}/{layer}" for layer in ("landing", "bronze", "silver")) + (self.correction_root(),)

    def rate_limit_dir(self) -> str:
        """One calls-per-minute window per API host, shared by every run on the lake."""
        return f"{self.state_dir()}/rate_limit"

    def store_cache(self) -> str:
        """Local copies of stored lake files the controller reads (quantmini/store.py)."""
        return f"{self.state_dir()}/store-cache"

    # Snakemake output patterns: the same layout, wildcards in braces --------------------------
    def landing_pattern(self) -> str:
        return f"{self.root}/landing/{{asset}}/{{feed}}/{{year}}/{{month}}/{{date}}.csv.gz"

    def correction_marker_pattern(self) -> str:
        return self.correction_marker_dir("{asset}", "{feed}", "{year}", "{month}") + "/{date}.{stamp}"

    def bronze_pattern(self, dataset: str = "{dataset}") -> str:
        return f"{self.bronze_dir(dataset)}/{HIVE_PATTERN}/part.parquet"

    def bronze_rest_pattern(self) -> str:
        return self.bronze_rest("{rest_dataset}", "{pull_date}", "{window}")

    def gold_pattern(self, dataset: str) -> str:
        return f"{self.gold_dir(dataset)}/{HIVE_PATTERN}/part.parquet"


def migrate_hive_dates(root: str | Path) -> int:
    """Rename zero-padded ``month=06``/``day=03`` directories of a lake made before the
    unpadded layout to ``month=6``/``day=3`` (renames only: files, bytes and mtimes are kept,
    so nothing is rebuilt). Returns how many directories were renamed."""
    import os
    import re

    padded = re.compile(r"^(month|day)=0(\d)$")
    renamed = 0
    for layer in ("bronze", "gold"):
        base = Path(root) / layer
        if not base.is_dir():
            continue
        # deepest first, so a day= rename happens inside the month= it lives in before that moves
        for path in sorted(base.glob("*/year=*/month=*/day=*"), reverse=True) + sorted(base.glob("*/year=*/month=*"), reverse=True):
            m = padded.match(path.name)
            if not m or not path.is_dir():
                continue
            dest = path.with_name(f"{m[1]}={m[2]}")
            if dest.exists():  # a partly migrated lake: move what is not there yet
                for child in path.iterdir():
                    if not (dest / child.name).exists():
                        os.replace(child, dest / child.name)
                try:
                    path.rmdir()
                except OSError:
                    raise ValueError(f"{path} and {dest} both hold the same files: remove one, then migrate again") from None
            else:
                os.replace(path, dest)
            renamed += 1
    return renamed
