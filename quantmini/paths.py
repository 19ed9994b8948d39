"""Lake layout: every path of every layer, derived from the lake root and a date.

Kept in one place so that the Snakemake rules, the scripts and the metadata reader agree.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from .datasets import FLATFILE_DATASETS

DEFAULT_LAKE_ROOT = "./quantlake"


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

    def rest_limiter_dir(self) -> str:
        return f"{self.root}/.quantmini/rate_limit"

    def bronze_rest_glob(self, dataset: str) -> str:
        return f"{self.bronze_dir(dataset)}/pull_date=*/window=*/part.parquet"

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
        return f"{self.bronze_dir(dataset)}/year=*/month=*/day=*/part.parquet"

    # metadata ------------------------------------------------------------------------------
    def metadata_root(self) -> str:
        return f"{self.root}/metadata"

    def sidecar(self, layer: str, data_type: str, date: str, part: str | None = None) -> str:
        """``<date>.json``; a dataset with several targets per date (REST pulls: one per
        window) adds the part: ``<date>.<part>.json``."""
        y, m, _ = split_date(date)
        name = f"{date}.{part}" if part else date
        return f"{self.metadata_root()}/{layer}/{data_type}/{y}/{m}/{name}.json"

    def watermark(self, layer: str, data_type: str) -> str:
        return f"{self.metadata_root()}/{layer}/{data_type}/watermark.json"

    def as_path(self, p: str) -> Path:
        return Path(p)


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
