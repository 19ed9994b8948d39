"""The body of each workflow job, called by a rule's `run:` block in Snakemake's own process
(the per-session rules, the summary and the report: a script job's Python start and imports
cost more than a session's work) or by the thin scripts in ``scripts/`` (the silver, REST and
Qlib jobs, which need their own process's memory or environment).

Each job: sets up a redacting log, clears its sidecar, does its work writing atomically,
then records a ``success`` sidecar; on error it records ``failed`` with the message and
re-raises so Snakemake marks the job failed and builds nothing downstream.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import datetime as dt
import inspect
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from . import atomic, metadata
from .datasets import FLATFILE_DATASETS
from .faults import crash_point
from .flatfiles import FlatFileMissing
from .metadata import JobRecorder
from .paths import Lake
from .secrets import RedactingFilter, redact
from .settings import with_defaults
from .store import sync_sidecars_from_env

log = logging.getLogger("quantmini")


def _redacting(handler: logging.Handler) -> logging.Handler:
    """Every job log handler: secrets masked, one format."""
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def _file_handler(log_file: str | Path) -> logging.Handler:
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    return _redacting(logging.FileHandler(log_file, mode="w"))


def setup_logging(log_file: str | Path | None) -> None:
    """A script job's own process: every logger to the console and the job's file."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(_redacting(logging.StreamHandler(sys.stderr)))
    if log_file:
        root.addHandler(_file_handler(log_file))
    root.setLevel(logging.INFO)
    for noisy in _LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


#: Libraries whose warnings (retries, connection resets) belong in the job's log.
_LIBRARY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3")


class JobFailed(Exception):
    """A job in Snakemake's own process failed; its sidecar says why. (A job in its own
    process exits with status 1 instead: a SystemExit in Snakemake's thread pool would be
    lost, and the run would wait for the job for ever.)"""


class _InProcess:
    """Job bodies run in Snakemake's own process, several at once on its thread pool
    (`run:` rules, ``force-use-threads``): each job's records go to its own log file only,
    chosen by a context variable that each job thread sets, so that concurrent jobs never
    write into each other's logs and Snakemake's console and root logger stay untouched."""

    def __init__(self) -> None:
        self.enabled = False
        self.current: contextvars.ContextVar[logging.Handler | None] = contextvars.ContextVar("quantmini_job_log", default=None)
        self.lock = threading.Lock()
        self.active = 0
        self.saved: dict[str, tuple[int, bool]] = {}
        self.router = _JobRouter(self.current)

    def enter(self) -> None:
        with self.lock:
            self.active += 1
            if self.active > 1:
                return
            for name in ("quantmini", *_LIBRARY_LOGGERS):
                logger = logging.getLogger(name)
                self.saved[name] = (logger.level, logger.propagate)
                logger.addHandler(self.router)
                logger.setLevel(logging.INFO if name == "quantmini" else logging.WARNING)
                logger.propagate = False

    def leave(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active:
                return
            for name, (level, propagate) in self.saved.items():
                logger = logging.getLogger(name)
                logger.removeHandler(self.router)
                logger.setLevel(level)
                logger.propagate = propagate


class _JobRouter(logging.Handler):
    def __init__(self, current: contextvars.ContextVar) -> None:
        super().__init__()
        self.current = current

    def emit(self, record: logging.LogRecord) -> None:
        handler = self.current.get()
        if handler is not None:  # outside a job (another thread of Snakemake's): not a job's record
            handler.handle(record)

    def handle(self, record: logging.LogRecord) -> bool:  # no lock: each job's file handler has its own
        self.emit(record)
        return True


IN_PROCESS = _InProcess()


def run_in_snakemake_process() -> None:
    """Called by the workflow (rules/common.smk): the `run:` rules call the job bodies on
    Snakemake's threads, so their logs are scoped per job and failures raise JobFailed."""
    IN_PROCESS.enabled = True


@contextlib.contextmanager
def job_log(log_file: str | Path) -> Iterator[None]:
    """A job's log: in Snakemake's process, the job's file only (redacted); in a job's own
    process, the console and the file (setup_logging)."""
    if not IN_PROCESS.enabled:
        setup_logging(log_file)
        yield
        return
    handler = _file_handler(log_file)
    token = IN_PROCESS.current.set(handler)
    IN_PROCESS.enter()
    try:
        yield
    except JobFailed:
        raise  # its record is written already (recorded)
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, redact(str(exc)))
        raise
    finally:
        IN_PROCESS.leave()
        IN_PROCESS.current.reset(token)
        handler.close()


def job(body: Callable[..., None]) -> Callable[..., None]:
    """A job body: its ``log_file`` argument set up as its log for the body's length."""
    signature = inspect.signature(body)

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        log_file = signature.bind(*args, **kwargs).arguments["log_file"]
        with job_log(log_file):
            return body(*args, **kwargs)

    return wrapper


def _failed(message: str) -> BaseException:
    return JobFailed(message) if IN_PROCESS.enabled else SystemExit(1)


class JobResult(dict):
    """What a job body reports for its sidecar: records, size_mb and any extra statistics."""


@contextlib.contextmanager
def recorded(lake: Lake, layer: str, data_type: str, date: str, part: str | None = None) -> Iterator[JobResult]:
    recorder = JobRecorder(lake, layer, data_type, date, part)
    result = JobResult()
    try:
        yield result
    except FlatFileMissing as exc:
        # Not published yet (files appear ~11:00 New York the next day): not a permanent
        # failure. The job still fails, so nothing downstream runs; the next run retries.
        message = redact(str(exc))
        log.warning("%s %s %s pending: %s", layer, data_type, date, message)
        recorder.write("pending", error=message)
        raise _failed(f"{layer} {data_type} {date} pending: {message}") from None
    except BaseException as exc:
        message = redact(f"{type(exc).__name__}: {exc}")
        log.error("%s %s %s failed: %s", layer, data_type, date, message)
        recorder.write("failed", error=message, **result.get("on_failure", {}))
        raise _failed(f"{layer} {data_type} {date} failed: {message}") from None
    result.pop("on_failure", None)
    records = int(result.pop("records", 0))
    size_mb = float(result.pop("size_mb", 0.0))
    recorder.write("success", records=records, size_mb=size_mb, **result)
    log.info("%s %s %s%s: %d records, %.3f MB in %.2f s", layer, data_type, date, f" {part}" if part else "", records, size_mb,
             recorder.elapsed())


@job
def landing_flatfile(config: dict, lake_root: str, dataset: str, date: str, output: str, log_file: str) -> None:
    from .flatfiles import S3Settings, download  # boto3: only the download jobs pay its import

    lake = Lake(lake_root)
    with recorded(lake, "landing", dataset, date) as result:
        from .corrections import head
        from .flatfiles import make_client

        settings = S3Settings.from_config(config)
        key = FLATFILE_DATASETS[dataset].s3_key(date)
        client = make_client(settings)
        size = download(settings, key, output, client=client)
        # What was downloaded, so a later run can tell a re-published object (one HEAD here;
        # runs compare by listing, see quantmini.corrections).
        remote = head(client, settings.bucket, key)
        etag = remote.etag if remote.size == size else "changed-during-download"  # re-checked next run
        result.update(records=0, size_mb=size / 1e6, bytes=size, etag=etag, last_modified=remote.last_modified)


@job
def bronze_flatfile(lake_root: str, dataset: str, date: str, landing: str, output: str, log_file: str) -> None:
    from .bronze import SPECS, convert  # pyarrow: only the conversion jobs pay its import

    lake = Lake(lake_root)
    spec = SPECS[dataset]
    with recorded(lake, "bronze", dataset, date) as result:
        res = convert(Path(landing), Path(output), dt.date.fromisoformat(date), spec)
        result.update(records=res.rows, size_mb=res.bytes / 1e6, tickers=res.tickers, row_groups=res.row_groups)
        if spec.options:
            result.update(unparsed_contracts=res.unparsed_contracts)
        result.update(quarantined_rows=res.quarantined_rows, ohlc_inconsistent_rows=res.ohlc_inconsistent_rows,
                      zero_price_rows=res.zero_price_rows)
        if res.quarantined_rows:
            result.update(quarantined_first=res.quarantined_first)
            log.warning("%s: %d rows quarantined (ticker not a ticker), first at %s", landing, res.quarantined_rows,
                        res.quarantined_first)
        if res.ohlc_inconsistent_rows:
            result.update(ohlc_inconsistent_first_line=res.ohlc_inconsistent_first_line)
            log.warning("%s: %d bars whose high/low do not bound open/close (kept), first at line %d", landing,
                        res.ohlc_inconsistent_rows, res.ohlc_inconsistent_first_line)


@job
def gold_qlib_stocks_daily(lake_root: str, basis: str, bronze: list[str], minute: list[str], splits: list[str],
                           dividends: list[str], output: str, log_file: str, history: bool = False) -> None:
    """Bring the Qlib store up to date (appending new days, rewriting the symbols whose
    adjustment changed, or building in bulk; see quantmini.gold.qlib_store). ``history``:
    the inputs name this run's days, the held ones are found in the lake (plan.history_on_disk)."""
    from .gold.qlib_store import QlibStore, receipt_json, session_of

    lake = Lake(lake_root)
    if history:
        bronze, minute = held_history(lake, "stocks_daily", bronze), held_history(lake, "stocks_minute", minute)
    last = max((session_of(p) for p in bronze), default=dt.date.today()).isoformat()
    with recorded(lake, "gold", "stocks_daily_qlib", last) as result:
        store = QlibStore(lake.qlib_root(), basis=basis)
        res = store.update(bronze, minute, splits[0] if splits else None, dividends[0] if dividends else None)
        for s in res.skipped_actions:
            log.warning("adjustment not applied: %s %s %s %s: %s", s["ticker"], s["kind"], s["value"], s["ex_date"], s["reason"])
        if res.symbols_rewritten:
            log.info("rewrote %d symbols whose adjustment changed: %s", len(res.symbols_rewritten),
                     ", ".join(res.symbols_rewritten[:20]) + (" ..." if len(res.symbols_rewritten) > 20 else ""))
        atomic.write_text(output, receipt_json(res))
        result.update(records=res.bars_written, size_mb=res.bytes / 1e6, bytes=res.bytes, mode=res.mode, basis=basis, sessions=res.sessions,
                      symbols=res.symbols, days_applied=len(res.days_applied),
                      first_day_applied=min(res.days_applied, default=None),
                      files_written=res.files_written, symbols_rewritten=len(res.symbols_rewritten),
                      symbols_removed=len(res.symbols_removed), applied_actions=res.applied_actions,
                      vwap_days=res.vwap_days, skipped_actions=res.skipped_actions)


@job
def gold_qlib_fundamentals(lake_root: str, pit: dict[str, str], output: str, log_file: str) -> None:
    """The Qlib store's point-in-time fundamentals (``financial/``) from silver's every
    filing version (quantmini.gold.qlib_pit); ``pit``: timeframe -> silver file."""
    import json

    import polars as pl

    from .gold import qlib_pit
    from .store import readable

    lake = Lake(lake_root)
    tables = {tf: pl.read_parquet(readable(path)) for tf, path in pit.items()}
    as_of = max((t["known_date"].max() for t in tables.values() if t.height), default=None)
    with recorded(lake, "gold", "qlib_fundamentals", str(as_of or dt.date.today())) as result:
        res = qlib_pit.write(lake.qlib_root(), tables)
        log.info("%d symbols, %d field files (%d replaced, %d removed), %d records", res.symbols, res.fields,
                 res.files_written, res.files_removed, res.records)
        atomic.write_text(output, json.dumps({"fields": sorted(qlib_pit.FIELDS), **res.summary(),
                                              "files_written": None, "files_removed": None}, sort_keys=True) + "\n")
        result.update(size_mb=res.bytes / 1e6, **res.summary())


@job
def gold_qlib_stocks_minute(lake_root: str, minute: list[str], universe: str, symbols: list[str], output: str,
                            log_file: str, history: bool = False) -> None:
    """The Qlib minute store (quantmini.gold.qlib_minute) from the bronze stocks_minute days
    whose session the daily store holds (their factors); the others wait for it."""
    import json

    from .gold.qlib_minute import Membership, MinuteStore
    from .gold.qlib_store import QlibStore, session_of

    lake = Lake(lake_root)
    if history:
        minute = held_history(lake, "stocks_minute", minute)
    daily_store = QlibStore(lake.qlib_root())
    daily = set(daily_store.calendar())
    days = {session_of(p).isoformat(): p for p in minute}
    waiting = sorted(d for d in days if d not in daily)
    with recorded(lake, "gold", "stocks_minute_qlib", max(days, default=str(dt.date.today()))) as result:
        if waiting:
            log.warning("%d stocks_minute sessions wait for their stocks_daily in the daily store (their factors): %s",
                        len(waiting), ", ".join(waiting[:5]) + (" ..." if len(waiting) > 5 else ""))
        store = MinuteStore(lake.qlib_root())
        with daily_store.locked():
            res = store.update({d: p for d, p in days.items() if d in daily},
                               Membership.read(lake.qlib_root(), universe or None, symbols))
        if res.symbols_rewritten:
            log.info("rewrote %d symbols whose stored minutes changed: %s", len(res.symbols_rewritten),
                     ", ".join(res.symbols_rewritten[:20]))
        summary = res.summary()
        atomic.write_text(output, json.dumps({k: v for k, v in summary.items()
                                              if k in ("sessions", "minutes", "symbols", "bytes")}, sort_keys=True) + "\n")
        result.update(**summary, records=res.bars_written, size_mb=res.bytes / 1e6, waiting_for_daily=waiting)


@job
def gold_qlib_universes(lake_root: str, bronze: list[str], tickers: list[str], rule: dict, output: str,
                        log_file: str, history: bool = False) -> None:
    """The point-in-time universes (``instruments/liquid<N>.txt``, quantmini.gold.universes)
    from the bronze stocks_daily days the store was built from and the reference tickers.
    ``rule`` holds the rule's fields by name (sizes, lookback, min_sessions, types): one
    parameter, so that the rule's run block stays a single call."""
    import json

    from .gold import universes
    from .gold.qlib_store import session_of

    lake = Lake(lake_root)
    if history:
        bronze = held_history(lake, "stocks_daily", bronze)
    days = {session_of(p).isoformat(): p for p in bronze}
    rule = universes.Rule(sizes=tuple(rule["sizes"]), lookback=int(rule["lookback"]),
                          min_sessions=int(rule["min_sessions"]), types=tuple(rule["types"]))
    with recorded(lake, "gold", "qlib_universes", max(days, default=str(dt.date.today()))) as result:
        res = universes.build(lake.qlib_root(), days, rule, tickers)
        if res.type_filter is None:
            log.warning("no reference tickers pull held: every ticker is a candidate (ETFs, preferreds and "
                        "warrants included); pull `tickers` to keep only %s", ", ".join(rule.types))
        log.info("%d rebalance dates (%d ranked now); members %s", res.rebalances, res.ranked, res.members)
        summary = res.summary()
        atomic.write_text(output, json.dumps({**summary, "ranked": None, "files_written": None}, sort_keys=True) + "\n")
        result.update(**summary, records=sum(res.spans.values()))


def held_history(lake: Lake, dataset: str, named: list[str]) -> list[str]:
    """Every bronze day of ``dataset`` the lake holds, with the ones a job's inputs name."""
    import glob
    import os

    return sorted({os.path.normpath(p) for p in [*named, *glob.glob(lake.bronze_glob(dataset))]})


def _nulls(table, columns) -> dict[str, int]:
    return {c: int(table.column(c).null_count) for c in columns}


@job
def gold_stocks_daily(lake_root: str, date: str, basis: str, bronze: list[str], minute: list[str], splits: list[str],
                      dividends: list[str], output: str, log_file: str, window_bars=None, actions=None) -> None:
    """One session of gold stocks_daily from the bronze days of its look-back window.
    ``window_bars``: those days' bars already read and sorted (a backfill batch sorts its
    month once and filters each session's window from it); ``actions``: the silver actions
    already loaded (the batch loads them once)."""
    import pyarrow as pa

    from .gold import actions as adj
    from .gold import stocks_daily, write_partition
    from .gold.vwap import session_vwap
    from .paths import partition_date

    lake = Lake(lake_root)
    day = dt.date.fromisoformat(date)
    with recorded(lake, "gold", "stocks_daily", date) as result:
        dates = sorted(partition_date(p) for p in bronze)
        if not dates or dates[-1] != date:
            raise ValueError(f"gold stocks_daily {date}: the bronze inputs do not include {date}")
        bars = window_bars if window_bars is not None else pa.concat_tables([_read_bars(p) for p in bronze])
        acts = actions if actions is not None else adj.load_actions(splits[0] if splits else None,
                                                                    dividends[0] if dividends else None, basis)
        adjusted = stocks_daily.adjust(bars, stocks_daily.window_actions(acts, dt.date.fromisoformat(dates[0]), day),
                                       presorted=window_bars is not None)
        vwap = None
        if minute:
            v = session_vwap(minute[0], day)
            vwap = dict(zip(v.column("ticker").to_pylist(), v.column("vwap").to_pylist()))
        table = stocks_daily.features(adjusted, day, vwap)
        size = write_partition(table, output)
        for s in adjusted.skipped:
            log.warning("adjustment not applied: %s: %s", s.action.describe(), s.reason)
        result.update(records=table.num_rows, size_mb=size / 1e6, bytes=size, tickers=table.num_rows,
                      window_sessions=len(dates), window_first=dates[0], vwap_source="stocks_minute" if minute else None,
                      applied_actions=len(adjusted.applied), skipped_actions=[s.to_json() for s in adjusted.skipped],
                      nulls=_nulls(table, stocks_daily.NULL_COUNTED))


def _read_bars(path: str):
    import pyarrow.parquet as pq

    from .gold import stocks_daily

    return pq.read_table(path, columns=stocks_daily.BAR_COLUMNS)


#: a batch's last log line: its whole time, shared reads included (bench/backfill.py reads it
#: back with :func:`batch_seconds`)
BATCH_DONE = "batch %s: %d sessions done in %.2f s"


def batch_seconds(log_text: str) -> tuple[str, float] | None:
    """(rule name, seconds) from a batch log's :data:`BATCH_DONE` line; None before it."""
    import re

    m = re.search(r"batch (\S+): \d+ sessions done in ([\d.]+) s", log_text)
    return (m[1], float(m[2])) if m else None


@job
def backfill_flatfiles(config: dict, lake_root: str, dataset: str, dates: list[str], landing: list[str],
                       bronze: list[str], manifest: str, log_file: str) -> None:
    """A backfill batch (quantmini/batches.py): each session downloaded and converted by the
    per-session job bodies, each with its own sidecars and log; the manifest last."""
    from .batches import Batch, write_manifest
    from .paths import session_log

    started = time.perf_counter()
    batch = Batch("flatfile", dataset, tuple(dates))
    log.info("batch %s: %d sessions", batch.rule_name, len(dates))
    for date, landing_file, bronze_file in zip(dates, list(landing), list(bronze), strict=True):
        landing_flatfile(config=config, lake_root=lake_root, dataset=dataset, date=date, output=landing_file,
                         log_file=session_log("landing", dataset, date))
        bronze_flatfile(lake_root=lake_root, dataset=dataset, date=date, landing=landing_file, output=bronze_file,
                        log_file=session_log("bronze", dataset, date))
    write_manifest(batch, manifest)
    log.info(BATCH_DONE, batch.rule_name, len(dates), time.perf_counter() - started)


@job
def backfill_gold_stocks_daily(lake_root: str, basis: str, sessions: dict[str, dict[str, list[str]]],
                               splits: list[str], dividends: list[str], outputs: list[str], manifest: str,
                               log_file: str) -> None:
    """A month of gold stocks_daily sessions, each by the per-session body. The month's bronze
    days (and the look-back before them) are read and sorted once; each session's window is
    filtered from them, in the order its own sort gives (one bar per ticker and date)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .batches import Batch, write_manifest
    from .gold.stocks_daily import SORT_KEYS
    from .paths import partition_date, session_log

    started = time.perf_counter()
    dates = sorted(sessions)
    batch = Batch("gold", "stocks_daily", tuple(dates))
    log.info("batch %s: %d sessions", batch.rule_name, len(dates))
    days = sorted({p for s in sessions.values() for p in s["bronze"]})
    from .gold import actions as adj

    month = pa.concat_tables([_read_bars(p) for p in days]).sort_by(SORT_KEYS)
    splits, dividends = list(splits), list(dividends)
    acts = adj.load_actions(splits[0] if splits else None, dividends[0] if dividends else None, basis)
    for date, output in zip(dates, list(outputs), strict=True):
        window = sessions[date]["bronze"]
        held = pa.array(sorted(dt.date.fromisoformat(partition_date(p)) for p in window), pa.date32())
        bars = month.filter(pc.is_in(month.column("date"), value_set=held))
        gold_stocks_daily(lake_root=lake_root, date=date, basis=basis, bronze=window, minute=sessions[date]["minute"],
                          splits=splits, dividends=dividends, output=output,
                          log_file=session_log("gold_stocks_daily", "stocks_daily", date), window_bars=bars,
                          actions=acts)
    write_manifest(batch, manifest)
    log.info(BATCH_DONE, batch.rule_name, len(dates), time.perf_counter() - started)


@job
def gold_stocks_minute(lake_root: str, date: str, bronze: str, output: str, log_file: str) -> None:
    """One session of gold stocks_minute: session labels and running VWAP of every bar."""
    import pyarrow.parquet as pq

    from .gold import stocks_minute, write_chunks

    lake = Lake(lake_root)
    with recorded(lake, "gold", "stocks_minute", date) as result:
        stats: dict = {}
        chunks = stocks_minute.enrich_chunks(pq.read_table(bronze), dt.date.fromisoformat(date), stats)
        rows, size = write_chunks(chunks, output, stocks_minute.DICTIONARY_COLUMNS)
        nulls = {"vwap": stats.pop("null_vwap"), "session": stats["outside_session_rows"]}
        result.update(records=rows, size_mb=size / 1e6, bytes=size, nulls=nulls, **stats)


@job
def gold_options_daily(lake_root: str, date: str, risk_free_rate: float, options: str, stocks: list[str],
                       dividends: list[str], output: str, log_file: str) -> None:
    """One session of gold options_daily: implied volatility and greeks of every contract."""
    import pyarrow.parquet as pq

    from .gold import options_daily, write_chunks

    lake = Lake(lake_root)
    day = dt.date.fromisoformat(date)
    with recorded(lake, "gold", "options_daily", date) as result:
        closes = {}
        if stocks:
            st = pq.read_table(stocks[0], columns=["ticker", "close"])
            closes = dict(zip(st.column("ticker").to_pylist(), st.column("close").to_pylist()))
        divs = options_daily.trailing_dividends(dividends[0] if dividends else None, day)
        bars = pq.read_table(options, columns=options_daily.BRONZE_COLUMNS)
        stats: dict = {}
        chunks = options_daily.enrich_chunks(bars, closes, day, divs, float(risk_free_rate), stats)
        rows, size = write_chunks(chunks, output, options_daily.DICTIONARY_COLUMNS)
        nulls = {"iv": stats.pop("null_iv"), "underlying_close": stats.pop("null_underlying_close")}
        if not stocks:
            log.warning("options_daily %s: stocks_daily is not held for this session: no underlying closes, no IV", date)
        result.update(records=rows, size_mb=size / 1e6, bytes=size, nulls=nulls,
                      underlying_source="stocks_daily" if stocks else None, risk_free_rate=float(risk_free_rate), **stats)


@job
def metadata_summary(lake_root: str, output: str, log_file: str) -> None:
    """Watermarks and the summary table from the sidecars; run in Snakemake's own process."""
    lake = Lake(lake_root)
    sync_sidecars_from_env(lake_root)
    summaries = metadata.summarize(metadata.iter_sidecars(lake.metadata_root()))
    metadata.write_watermarks(lake, summaries)
    atomic.write_text(output, metadata.summary_tsv(summaries))
    log.info("\n%s", metadata.format_summary(summaries))


def fundamental_tickers(config: dict, reference: str | None) -> list[str]:
    """The tickers for fundamentals and ticker events: ``fundamental_tickers`` from config or,
    when that is empty, the active common stocks of the reference tickers pull."""
    configured = [str(t) for t in (config.get("fundamental_tickers") or [])]
    if configured:
        return configured
    if not reference:
        raise ValueError("config key 'fundamental_tickers' is empty and no reference tickers pull was given")
    from .rest.reference import active_common_stocks

    return sorted(active_common_stocks(reference))


@job
def bronze_rest(config: dict, lake_root: str, dataset: str, pull_date: str, window: str, output: str,
                log_file: str, reference: str | None = None) -> None:
    from .rest.client import RestClient
    from .rest.datasets import REST_DATASETS, style_for
    from .rest.pull import pull
    from .rest.windows import Window

    lake = Lake(lake_root)
    spec = REST_DATASETS[dataset]
    with recorded(lake, "bronze", dataset, pull_date, part=window) as result:
        style = style_for(spec, (config.get("rest_endpoints") or {}).get(dataset, "legacy"))
        client = RestClient.from_config(config, lake_root)
        result["on_failure"] = {"api_calls": 0}
        try:
            tickers = fundamental_tickers(config, reference) if spec.per_ticker else []
            keep = None
            if spec.filter_after_download and with_defaults(dict(config))["short_data_tickers"] == "fundamental":
                keep = set(fundamental_tickers(config, reference))
            res = pull(client, spec, style, Window.parse(window), tickers, output, keep_tickers=keep)
        finally:
            result["on_failure"]["api_calls"] = client.api_calls
            client.close()
        result.update(
            records=res.rows,
            size_mb=res.bytes / 1e6,
            endpoint=style,
            api_calls=client.api_calls,
            pages=client.stats.pages,
            requests=res.requests,
            rate_limit_wait_sec=round(client.limiter.waited, 3),
            body_retries=client.stats.body_retries,
        )
        if keep is not None:
            result.update(rows_downloaded=res.rows_downloaded, filtered_after_download=True, tickers_kept=len(keep))
        if spec.per_ticker:
            result.update(tickers=len(tickers), not_found=res.not_found)


def _distinct_tickers(table) -> int:
    import pyarrow.compute as pc

    return pc.count_distinct(table.column("ticker")).as_py()


def _as_of(partitions: list[str]) -> str:
    """A silver build's date for its sidecar: the latest pull date among its inputs."""
    from .silver.pulls import Pull

    return max(Pull.from_path(p).pull_date for p in partitions).isoformat()


@job
def silver_corporate_actions(lake_root: str, inputs: Mapping[str, Sequence[str]], outputs: Mapping[str, str],
                             log_file: str, history: bool = False) -> None:
    """Every event type's silver file from all its bronze pulls (``inputs`` by source name;
    see quantmini.silver), its rows flagged against the bronze stocks daily ``inputs["bars"]``
    (see quantmini.silver.cleansing; ``history``: every held day, the inputs naming this run's)."""
    from . import silver
    from .silver import cleansing, corporate_actions

    sources = {name: list(files) for name, files in inputs.items()}
    bars = sources.pop("bars", [])
    outputs = dict(outputs.items())
    lake = Lake(lake_root)
    as_of = _as_of([p for parts in sources.values() for p in parts])
    bars = held_history(lake, "stocks_daily", bars) if history else bars
    prices = cleansing.bars_from(bars)
    for event_type, output in outputs.items():
        partitions = sources.get(corporate_actions.SOURCES[event_type], [])
        with recorded(lake, "silver", "corporate_actions", as_of, part=event_type) as result:
            table = corporate_actions.build(event_type, partitions, prices)
            result["flags"] = cleansing.counts(table) if table.num_rows else {}
            size = silver.write(table, output)
            crash_point("silver.between_files")
            result.update(records=table.num_rows, size_mb=size / 1e6, event_type=event_type,
                          tickers=_distinct_tickers(table), bronze_pulls=len(partitions))


@job
def silver_fundamentals(lake_root: str, partitions: list[str], outputs: dict[str, str], log_file: str,
                        pit_outputs: dict[str, str] | None = None) -> None:
    """Flattened fundamentals (latest filing per period) and, in ``pit_outputs``, every
    filing version with the date it became known (quantmini.silver.point_in_time)."""
    from . import silver
    from .silver import fundamentals, point_in_time, pulls

    lake = Lake(lake_root)
    as_of = _as_of(partitions)
    rows = pulls.load(partitions).rows
    for timeframe, output in (pit_outputs or {}).items():
        with recorded(lake, "silver", "fundamentals_pit", as_of, part=timeframe) as result:
            table = point_in_time.versions(rows, timeframe)
            size = silver.write(table, output)
            dated = sum(r == "filing_date" for r in table.column("known_rule").to_pylist())
            result.update(records=table.num_rows, size_mb=size / 1e6, timeframe=timeframe,
                          tickers=_distinct_tickers(table), known_from_filing_date=dated,
                          known_from_period_end=table.num_rows - dated)
    for timeframe, output in outputs.items():
        with recorded(lake, "silver", "fundamentals", as_of, part=timeframe) as result:
            table = fundamentals.flatten(rows, timeframe)
            size = silver.write(table, output)
            result.update(records=table.num_rows, size_mb=size / 1e6, timeframe=timeframe,
                          tickers=_distinct_tickers(table), bronze_pulls=len(partitions))


@job
def silver_financial_ratios(lake_root: str, inputs: dict[str, str], outputs: dict[str, str], log_file: str) -> None:

    from . import silver
    from .silver import fundamentals

    lake = Lake(lake_root)
    for timeframe, output in outputs.items():
        flat = silver.read(inputs[timeframe])
        as_of = max(flat.column("source_pull_date").to_pylist(), default=dt.date.today()).isoformat()
        with recorded(lake, "silver", "financial_ratios", as_of, part=timeframe) as result:
            table = fundamentals.ratios(flat)
            size = silver.write(table, output)
            result.update(records=table.num_rows, size_mb=size / 1e6, timeframe=timeframe)


@job
def report_assets(config: dict, lake_root: str, outputs: dict[str, str], log_file: str) -> None:
    """The plots and tables of ``snakemake --report`` (see quantmini.report); run in
    Snakemake's own process. The window is resolved from the config here, not passed as a
    parameter: a rerun over another window of held sessions must not redraw the report
    (Snakemake reruns a job whose params change)."""
    from . import gaps, quality, report, settings
    from .metadata import iter_sidecars

    lake = Lake(lake_root)
    plan = settings.resolve_window(dict(config))  # sidecars: mirrored by the summary just before
    sessions, datasets = list(plan.sessions), list(plan.datasets)
    sidecars = list(iter_sidecars(lake.metadata_root()))
    report.records_plot(sidecars, outputs["records"])
    report.runtime_plot(sidecars, outputs["runtime"])
    report.api_plot(sidecars, outputs["api"])
    checks = quality.evaluate_config(lake, config, sessions, datasets)
    report.quality_table(checks, outputs["quality"])
    config = with_defaults(dict(config))
    found = gaps.find(lake, datasets or None, gold_features=bool(config["gold_features"]),
                      first_dates=config["dataset_start"])
    report.gaps_table(found, outputs["gaps"])
    log.info("report assets: %d sidecars, %d checks (%d alerts), %d gap ranges", len(sidecars), len(checks),
             len(quality.alerts(checks)), len(found))
