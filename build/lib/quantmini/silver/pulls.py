"""Bronze REST pulls as one table: every partition's rows with the pull they came from.

Silver datasets are rebuilt from all the pulls the lake holds. Pulls overlap (a dividends
window reaches 30 days back and 90 ahead, so an event is in ~120 daily pulls), values get
revised, and events get withdrawn. Two rules settle it, both needing the pull's identity:

* the latest pull wins: pulls are ordered by pull date, then pull time (``seq``);
* a dated window is authoritative for its dates: an event whose date a later pull covers,
  but which that pull no longer lists, was withdrawn (see :func:`latest_covering`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ..rest.windows import Window



class BadPullPath(ValueError):
    """A path that is not ``<lake>/bronze/<dataset>/pull_date=<date>/window=<window>/part.parquet``."""


@dataclass(frozen=True)
class Pull:
    path: Path
    dataset: str
    pull_date: dt.date
    window: Window

    @classmethod
    def from_path(cls, path: str | Path) -> "Pull":
        from ..paths import rest_partition

        parts = rest_partition(path)
        if parts is None:
            raise BadPullPath(f"{path}: not a bronze REST partition (see quantmini.paths.Lake.bronze_rest)")
        dataset, date, window = parts
        return cls(Path(path), dataset, dt.date.fromisoformat(date), Window.parse(window))


@dataclass(frozen=True)
class PullSet:
    """Rows of some pulls, and the dated windows of all of them (pulls that found nothing
    included: an empty answer for a window still says its events are gone)."""

    rows: pl.DataFrame
    windows: pl.DataFrame  # _seq, _window_start, _window_end


def read_ordered(paths: list[str | Path], columns: list[str] | None = None) -> list[tuple[Pull, pl.DataFrame]]:
    """Each pull with its rows (``columns`` of them; include ``pulled_at`` to order by it), in
    silver's order: pull date, then pull time, then path. One read per file."""
    loaded = []
    for p in (Pull.from_path(p) for p in paths):
        frame = pl.from_arrow(pq.read_table(p.path, columns=columns))
        pulled_at = frame["pulled_at"].max() if "pulled_at" in frame.columns and frame.height else None
        loaded.append((p, pulled_at, frame))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    loaded.sort(key=lambda x: (x[0].pull_date, x[1] or epoch, x[0].path.as_posix()))
    return [(p, frame) for p, _, frame in loaded]


def load(paths: list[str | Path], columns: list[str] | None = None) -> PullSet:
    """All rows of the given partitions with ``_pull_date``, ``_window_start``/``_window_end``
    (null for label windows such as ``active`` or ``all``) and ``_seq``: the pull's rank by
    pull date, then pull time (two pulls of one date: the 1st of a month's backfill and daily
    window), then path."""
    loaded = read_ordered(paths, columns)
    frames = [
        frame.with_columns(
            pl.lit(p.pull_date, pl.Date).alias("_pull_date"),
            pl.lit(p.window.start, pl.Date).alias("_window_start"),
            pl.lit(p.window.end, pl.Date).alias("_window_end"),
            pl.lit(seq, pl.UInt32).alias("_seq"),
        )
        for seq, (p, frame) in enumerate(loaded)
    ]
    dated = pl.DataFrame(
        [(seq, p.window.start, p.window.end) for seq, (p, _) in enumerate(loaded) if p.window.start is not None],
        schema={"_seq": pl.UInt32, "_window_start": pl.Date, "_window_end": pl.Date},
        orient="row",
    )
    rows = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
    return PullSet(rows, dated)


def latest_covering(rows: pl.DataFrame, date_column: str, pull_windows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with ``_cover_seq``: the latest dated pull whose window holds the row's date
    (null when none does, e.g. a null date). Computed per distinct date, so its cost is
    dates x pulls, not rows x pulls."""
    dates = rows.select(pl.col(date_column).alias("_d")).drop_nulls().unique()
    cover = (
        dates.join(pull_windows, how="cross")
        .filter((pl.col("_window_start") <= pl.col("_d")) & (pl.col("_d") <= pl.col("_window_end")))
        .group_by("_d")
        .agg(pl.col("_seq").max().alias("_cover_seq"))
    )
    return rows.join(cover, left_on=date_column, right_on="_d", how="left")


def current(pulls: PullSet, key: list[str], date_column: str | None, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """The current version of every event: withdrawn events dropped (when ``date_column`` is
    given, see :func:`latest_covering`), then the latest pull's row per key. ``rows``: the
    pulls' rows with derived columns, if any."""
    rows = pulls.rows if rows is None else rows
    if rows.height == 0:
        return rows
    if date_column is not None:
        rows = latest_covering(rows, date_column, pulls.windows)
        rows = rows.filter(pl.col("_cover_seq").is_null() | (pl.col("_seq") >= pl.col("_cover_seq"))).drop("_cover_seq")
    return rows.sort("_seq").unique(subset=key, keep="last", maintain_order=True)
