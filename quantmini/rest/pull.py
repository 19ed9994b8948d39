"""One REST pull: run the dataset's requests, build its bronze rows, write one Parquet file.

A pull is an immutable partition ``bronze/<dataset>/pull_date=<D>/window=<W>/part.parquet``:
rerunning the same pull date and window replaces it whole (atomically), never appends, so a
retried or repeated run cannot duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .. import atomic
from ..sessions import now_utc
from .client import NotFound, RestClient
from .datasets import RestDataset
from .windows import Window

log = logging.getLogger("quantmini.rest")


@dataclass
class PullResult:
    rows: int
    rows_downloaded: int
    requests: int
    not_found: list[str]
    bytes: int


def build_table(dataset: RestDataset, rows: list[dict], pulled_at: dt.datetime) -> pa.Table:
    """Rows (dicts of Python values) -> a table of exactly the dataset's schema, sorted."""
    names = dataset.schema.names
    columns = {n: [r.get(n) for r in rows] for n in names if n != "pulled_at"}
    columns["pulled_at"] = [pulled_at] * len(rows)
    table = pa.Table.from_pydict(columns, schema=dataset.schema)
    if table.num_rows:
        table = table.sort_by([(c, "ascending") for c in dataset.sort_by])
    return table


def fetch_rows(client: RestClient, dataset: RestDataset, style: str, window: Window, tickers: list[str],
               keep_tickers: set[str] | None = None) -> tuple[list[dict], int, list[str], int]:
    """The rows of every request of a pull, the number of requests, the tickers the vendor
    did not know, and the number of records dropped. With ``keep_tickers`` (an endpoint that
    returns every ticker whatever is asked, one row per record), the records of other
    tickers are dropped before their rows are built: a month of short volume is ~220,000
    records for the few tickers kept."""
    requests = dataset.plan(style, window, tickers)
    rows: list[dict] = []
    not_found: list[str] = []
    dropped = 0
    for req in requests:
        try:
            for record in client.results(req.path, req.params):
                if keep_tickers is not None and record.get("ticker") not in keep_tickers:
                    dropped += 1
                    continue
                rows.extend(dataset.rows(style, record, req))
        except NotFound:
            if not req.ticker:
                raise
            # A ticker the vendor does not know (e.g. renamed since the list was made).
            not_found.append(req.ticker)
            log.warning("%s: no data for %s (404)", dataset.name, req.ticker)
    return rows, len(requests), not_found, dropped


def pull(client: RestClient, dataset: RestDataset, style: str, window: Window, tickers: list[str],
         output: str | Path, keep_tickers: set[str] | None = None,
         pulled_at: dt.datetime | None = None) -> PullResult:
    # QUANTMINI_NOW pins it (sessions.now_utc): a replayed night writes the same bytes.
    pulled_at = pulled_at or now_utc().replace(microsecond=0)
    rows, n_requests, not_found, dropped = fetch_rows(client, dataset, style, window, tickers, keep_tickers)
    downloaded = len(rows) + dropped
    if keep_tickers is not None:
        log.info("%s: the endpoint returns every ticker whatever the filter; kept %d of %d rows downloaded "
                 "for %d configured tickers", dataset.name, len(rows), downloaded, len(keep_tickers))
    table = build_table(dataset, rows, pulled_at)
    with atomic.atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return PullResult(table.num_rows, downloaded, n_requests, not_found, Path(output).stat().st_size)
