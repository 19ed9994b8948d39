"""The registry of flat-file datasets: one entry per dataset name, with its S3 prefix and the
memory of its bronze job; its bronze schema is ``quantmini.bronze.SPECS[name]`` and its lake
paths come from ``quantmini.paths.Lake``.

A dataset's whole path is found by its name: landing and bronze in ``rules/landing.smk`` and
``rules/bronze.smk`` (``quantmini/flatfiles.py``, ``quantmini/bronze.py``), gold in
``rules/gold.smk`` (``quantmini/gold/<name>.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlatFileDataset:
    """A daily flat-file dataset mirrored from the vendor's S3 bucket."""

    name: str
    s3_prefix: str  # e.g. "us_stocks_sip/day_aggs_v1"
    description: str
    # Memory of one bronze job: the peak RSS measured by bench/flatfiles.py at full market
    # scale (182, 414, 368 and 594 MB), with headroom. Streaming conversion keeps it bounded
    # by the block and row-group sizes, not by the file.
    bronze_mem_mb: int
    # The order a night starts its files in (higher first, Snakemake's ``priority``):
    # stocks_daily heads the longest chain (silver's flags, the Qlib store, the universes,
    # the minute store), then the files that take longest to convert, so that the biggest
    # conversion is not what the night ends waiting for. Without it the scheduler prefers
    # jobs with the largest inputs, and a download has none.
    priority: int = 0

    def s3_key(self, date: str) -> str:
        """Polygon's key layout: ``<prefix>/YYYY/MM/YYYY-MM-DD.csv.gz``."""
        return f"{self.s3_prefix}/{date[:4]}/{date[5:7]}/{date}.csv.gz"


FLATFILE_DATASETS: dict[str, FlatFileDataset] = {
    ds.name: ds
    for ds in (
        FlatFileDataset("stocks_daily", "us_stocks_sip/day_aggs_v1", "US stocks, one bar per ticker per session", 400, priority=4),
        FlatFileDataset("stocks_minute", "us_stocks_sip/minute_aggs_v1", "US stocks, minute bars 04:00-20:00 New York", 800, priority=3),
        FlatFileDataset("options_daily", "us_options_opra/day_aggs_v1", "US options (OPRA), one bar per traded contract", 700, priority=1),
        FlatFileDataset("options_minute", "us_options_opra/minute_aggs_v1", "US options (OPRA), minute bars", 1000, priority=2),
    )
}

#: Datasets a run may ask for (config key ``datasets``).
KNOWN_DATASETS = tuple(FLATFILE_DATASETS)


def flatfile_dataset_for_prefix(asset: str, feed: str) -> FlatFileDataset:
    prefix = f"{asset}/{feed}"
    for ds in FLATFILE_DATASETS.values():
        if ds.s3_prefix == prefix:
            return ds
    raise KeyError(f"no flat-file dataset has the S3 prefix {prefix!r}")
