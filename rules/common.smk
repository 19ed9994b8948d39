# Config validation, the run plan (which sessions and datasets), and input functions.

import dataclasses
import datetime as dt
import glob
import os
import sys
from functools import lru_cache
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.io import is_flagged
from snakemake.utils import validate

from quantmini import corrections, guard, sessions, settings
from quantmini import store as lake_store
from quantmini.gold import FEATURE_DATASETS as GOLD_FEATURE_DATASETS
from quantmini.gold.actions import ActionIndex
from quantmini.datasets import FLATFILE_DATASETS, flatfile_dataset_for_prefix
from quantmini.paths import Lake, partition_date
from quantmini.secrets import redact
from quantmini.rest.datasets import REST_DATASETS
from quantmini.rest.schedule import latest_due
from quantmini.silver import corporate_actions, fundamentals


def _config_error(message):
    """Stop with one line that names the key; nothing is scheduled or written."""
    sys.exit(f"quantmini: {message}")


SCHEMA = workflow.source_path("../config/schema.yaml")

with open(SCHEMA) as _fh:
    settings.coerce_booleans(config, yaml.safe_load(_fh))

try:
    validate(config, schema=SCHEMA)
except WorkflowError:
    with open(SCHEMA) as _fh:
        _config_error(settings.schema_error(config, yaml.safe_load(_fh)))

try:
    RUN = settings.resolve(config)
except (settings.ConfigError, sessions.ClockError) as exc:
    _config_error(str(exc))

LAKE = RUN.lake.root

# Jobs import the quantmini package from this workflow's folder, also inside conda envs.
_inherited = os.getenv("PYTHONPATH", "")
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [workflow.basedir, _inherited]))
)

if RUN.notice:
    print(RUN.notice, file=sys.stderr)


def _lake_store():
    """The object store holding the lake's landing, bronze and silver layers when the run
    has a default storage provider (quantmini/store.py), else None: a lake on disk. Its jobs
    learn it from the environment set here; the sidecars recorded on any node are mirrored
    down first, so what reads them (corrections, summary, quality) sees the whole lake.
    """
    provider = workflow.storage_settings.default_storage_provider
    if not provider:
        return None
    if provider != "s3":
        _config_error(
            f"--default-storage-provider {provider}: the lake's object store must be s3"
        )
    s3 = workflow.storage_provider_settings["s3"].get_settings()
    try:
        store = lake_store.LakeStore.parse(
            workflow.storage_settings.default_storage_prefix or "", s3.endpoint_url
        )
        store.key(LAKE)
    except lake_store.StoreError as exc:
        _config_error(str(exc))
    os.environ[lake_store.STORE_ENV] = store.url
    os.environ[lake_store.CACHE_ENV] = f"{LAKE}/.quantmini/store-cache"
    if s3.endpoint_url:
        os.environ[lake_store.ENDPOINT_ENV] = s3.endpoint_url
    for var, value in (
        (lake_store.ACCESS_ENV, s3.access_key),
        (lake_store.SECRET_ENV, s3.secret_key),
    ):
        if value:
            os.environ[var] = value
    try:
        lake_store.sync_sidecars(store, LAKE)
    except Exception as exc:  # noqa: BLE001 - one line, credentials redacted
        _config_error(f"object store {store.url}: {redact(str(exc))}")
    return store


STORE = _lake_store()


@lru_cache(maxsize=None)
def _stored():
    """The stored layers' objects (path -> size, ETag), listed once per DAG build."""
    out = {}
    for top in lake_store.STORED_TOPS:
        out.update(STORE.listing(f"{LAKE}/{top}"))
    return out


def lake_glob(pattern):
    """The lake files matching ``pattern``: on disk, or objects in the lake's store."""
    if STORE is None:
        return glob.glob(pattern)
    return lake_store.glob_listing(_stored(), os.path.normpath(pattern))


def lake_has(path):
    """Whether the lake holds ``path`` (landing, bronze, silver): on disk or in its store."""
    if STORE is None:
        return os.path.exists(path)
    return os.path.normpath(path) in _stored()


wildcard_constraints:
    year=r"\d{4}",
    month=r"\d{1,2}",
    day=r"\d{1,2}",
    date=r"\d{4}-\d{2}-\d{2}",
    asset=r"[a-z0-9_]+",
    feed=r"[a-z0-9_]+_v1",
    dataset="|".join(FLATFILE_DATASETS),
    rest_dataset="|".join(REST_DATASETS),
    pull_date=r"\d{4}-\d{2}-\d{2}",
    window=r"[a-z0-9_\-]+",
    stamp=r"(etag|refetch)-[A-Za-z0-9\-]+",


def lake_root(wildcards):
    """The lake root, for the job's sidecar paths."""
    return LAKE


def qlib_adjustment(wildcards):
    """``total`` (splits and dividends) or ``split`` (price-return series)."""
    return config.get("qlib_adjustment", "total")


def date_of(wildcards):
    """The ISO date named by a target's year/month/day wildcards (hive keys are unpadded,
    landing paths padded: both give the same date)."""
    return (
        f"{int(wildcards.year):04d}-{int(wildcards.month):02d}-{int(wildcards.day):02d}"
    )


def dataset_for_landing(wildcards):
    try:
        return flatfile_dataset_for_prefix(wildcards.asset, wildcards.feed).name
    except KeyError as exc:
        raise WorkflowError(str(exc))


def landing_for_bronze(wildcards):
    return RUN.lake.landing(wildcards.dataset, date_of(wildcards))


def refresh_dates():
    """Held sessions a run re-checks for re-published files (config ``refresh_days``)."""
    end = RUN.sessions[-1] if RUN.sessions else None
    return corrections.refresh_sessions(
        RUN.sessions, int(config.get("refresh_days", 5)), end
    )


def _unheld_window():
    """The window's (dataset, session) pairs whose landing file the lake does not hold."""
    return [
        (ds, d)
        for d in RUN.sessions
        for ds in RUN.datasets
        if not lake_has(RUN.lake.landing(ds, d))
    ]


@lru_cache(maxsize=None)
def _remote_objects():
    """The S3 objects of the refresh sessions and of the window's sessions not yet held: one
    listing per dataset and month. Read-only; without credentials or a reachable endpoint
    nothing is checked (the run's preflight reports that). ``None`` when it could not run.
    """
    held = [
        (ds, d)
        for ds in RUN.datasets
        for d in refresh_dates()
        if lake_has(RUN.lake.landing(ds, d))
    ]
    refreshing = bool(held)
    held += _unheld_window()
    if not held:
        return {}
    try:
        from quantmini.flatfiles import S3Settings, make_client

        s3 = dataclasses.replace(
            S3Settings.from_config({**config, "s3_max_attempts": 1}),
            connect_timeout=3,
            read_timeout=10,
        )
        objects, _ = corrections.list_prefixes(
            make_client(s3),
            s3.bucket,
            [corrections.month_prefix(ds, d) for ds, d in held],
        )
        return objects
    except (
        Exception
    ) as exc:  # noqa: BLE001 - a check that cannot run must not stop the DAG
        if refreshing:
            print(
                f"quantmini: corrections not checked: {redact(str(exc))}",
                file=sys.stderr,
            )
        return None


def _marker_dir(wildcards):
    return f"{LAKE}/.quantmini/corrections/{wildcards.asset}/{wildcards.feed}/{wildcards.year}/{wildcards.month}"


def correction_markers(wildcards):
    """The markers of every correction of this landing file (see quantmini.corrections):
    the ones held, plus a new one when its object changed or its conversion failed."""
    markers = sorted(lake_glob(f"{_marker_dir(wildcards)}/{wildcards.date}.*"))
    if wildcards.date not in refresh_dates():
        return markers
    dataset = dataset_for_landing(wildcards)
    remote = (_remote_objects() or {}).get(
        FLATFILE_DATASETS[dataset].s3_key(wildcards.date)
    )
    stamp = corrections.stamp_for(RUN.lake, dataset, wildcards.date, remote)
    if stamp:
        markers = sorted(
            set(markers) | {f"{_marker_dir(wildcards)}/{wildcards.date}.{stamp}"}
        )
    return markers


@lru_cache(maxsize=None)
def unpublished():
    """The window's (dataset, session) pairs whose flat file the vendor has not published yet
    and that are not yet late (``quality_pending_alert_hours`` after they were due). They are
    left out of this run, reported once here, and recorded as ``pending`` when the run ends;
    the next run (its catch-up) fetches them. A late file stays in: its job fails, loudly.
    """
    wanted = _unheld_window()
    objects = _remote_objects() if wanted else {}
    if not wanted or objects is None:
        return frozenset()
    now = sessions.now_utc()
    limit = float(config.get("quality_pending_alert_hours", 48))
    publish_time = str(config.get("publish_time", "11:00"))
    out = set()
    for ds, d in wanted:
        if FLATFILE_DATASETS[ds].s3_key(d) in objects:
            continue
        if sessions.hours_overdue(dt.date.fromisoformat(d), now, publish_time) > limit:
            continue  # late: left in the run, where its job fails loudly
        due = sessions.publication_due(dt.date.fromisoformat(d), publish_time)
        out.add((ds, d))
        print(
            f"quantmini: {ds} {d}: not published yet (due {due:%Y-%m-%d %H:%M} New York); "
            "pending, the next run fetches it",
            file=sys.stderr,
        )
    return frozenset(out)


def record_unpublished():
    """Pending records for the files this run left out (called when the run ends)."""
    from quantmini.metadata import JobRecorder

    for ds, d in sorted(unpublished()):
        JobRecorder(RUN.lake, "landing", ds, d).write(
            "pending", error="not published yet by the vendor"
        )


# Memory of one bronze job: the peak RSS measured by bench/flatfiles.py at full market
# scale (182, 414, 368 and 594 MB), with headroom. Streaming conversion keeps it bounded
# by the block and row-group sizes, not by the file.
BRONZE_MEM_MB = {
    "stocks_daily": 400,
    "stocks_minute": 800,
    "options_daily": 700,
    "options_minute": 1000,
}


def bronze_mem_mb(wildcards):
    return BRONZE_MEM_MB[wildcards.dataset]


@lru_cache(maxsize=None)
def _held_partitions(dataset):
    """The lake's bronze partitions of a flat-file dataset when the DAG is built."""
    return tuple(lake_glob(RUN.lake.bronze_glob(dataset)))


def bronze_partitions(dataset):
    """Every bronze partition of ``dataset`` the lake holds or this run builds."""
    window = (
        [
            RUN.lake.bronze(dataset, d)
            for d in RUN.sessions
            if (dataset, d) not in unpublished()
        ]
        if dataset in RUN.datasets
        else []
    )
    return sorted(set(_held_partitions(dataset)) | set(window))


def silver_action_file(event_type):
    """A silver corporate-actions file if this run builds it or the lake holds it."""
    return list(_silver_action_file(event_type))


@lru_cache(maxsize=None)
def _silver_action_file(event_type):
    # Asked by every gold session's input and parameter functions: decided once per DAG
    # build (a file this run builds is a target before it exists, so the answer holds).
    path = silver_corporate_actions_outputs()[event_type]
    if path in silver_targets() or lake_has(path):
        return (path,)
    return ()


def qlib_inputs(wildcards):
    """The Qlib store is a function of every stocks_daily day held (and of the minute days
    for $vwap and the silver splits and dividends), so its rule reruns when one is added or
    replaced and never for a window the store already holds."""
    return {
        "bronze": bronze_partitions("stocks_daily"),
        "minute": bronze_partitions("stocks_minute"),
        "splits": silver_action_file("split"),
        "dividends": silver_action_file("dividend"),
    }


def gold_targets():
    targets = []
    if config.get("gold_qlib", True) and "stocks_daily" in RUN.datasets:
        targets.append(local(RUN.lake.qlib_receipt("stocks_daily")))
    return targets + gold_feature_targets()


# Gold feature datasets: one file per session, for every session whose bronze source the
# lake holds or this run builds, so a corrected bronze day or a late split reaches the
# sessions that depend on it, and a lake that predates gold gets it filled in.


@lru_cache(maxsize=None)
def _bronze_by_date(dataset):
    """The bronze sessions of a dataset: held, in this run's window, or under a held gold
    session (a deleted bronze file is rebuilt, never silently left out of a gold window).
    """
    dates = {partition_date(p): p for p in bronze_partitions(dataset)}
    if dataset in GOLD_FEATURE_DATASETS and config.get("gold_features", True):
        for p in _held_gold(dataset):
            day = partition_date(p)
            dates.setdefault(day, RUN.lake.bronze(dataset, day))
    return dates


@lru_cache(maxsize=None)
def _held_gold(dataset):
    """The lake's gold sessions of a feature dataset when the DAG is built."""
    return tuple(
        glob.glob(f"{RUN.lake.gold_dir(dataset)}/year=*/month=*/day=*/part.parquet")
    )


def gold_feature_targets():
    if not config.get("gold_features", True):
        return []
    return [
        local(RUN.lake.gold(dataset, date))
        for dataset in GOLD_FEATURE_DATASETS
        if dataset in RUN.datasets
        for date in sorted(_bronze_by_date(dataset))
    ]


def gold_lookback(wildcards):
    return int(config.get("gold_lookback_sessions", 30))


def risk_free_rate(wildcards):
    return float(config.get("risk_free_rate", 0.04))


def _silver_actions():
    """The silver split and dividend files the gold sessions read, once this run's silver
    rebuild (a checkpoint) is done: their fingerprints are computed from what it wrote.
    """
    files = {e: silver_action_file(e) for e in ("split", "dividend")}
    if files["split"] or files["dividend"]:
        checkpoints.silver_corporate_actions.get()
    return files


@lru_cache(maxsize=None)
def _action_index(split_file, dividend_file, basis, stamp):
    return ActionIndex.build(split_file, dividend_file, basis)


def _index(kinds):
    """The action index of the silver files as they are now (keyed by their mtimes, so a
    rebuild earlier in this run is seen)."""
    files = [
        (silver_action_file(e) or [None])[0] if e in kinds else None
        for e in ("split", "dividend")
    ]
    if STORE is not None:  # the objects' current copies (fetched when they changed)
        files = [lake_store.readable(f) if f else None for f in files]
    stamp = tuple(
        os.stat(f).st_mtime_ns if f and os.path.exists(f) else 0 for f in files
    )
    basis = qlib_adjustment(None) if "split" in kinds else "total"
    return _action_index(files[0], files[1], basis, stamp)


def gold_window(wildcards):
    """The sessions of a gold stocks_daily session's look-back that the lake has."""
    held = _bronze_by_date("stocks_daily")
    day = dt.date.fromisoformat(date_of(wildcards))
    return [
        d.isoformat()
        for d in sessions.sessions_back(day, gold_lookback(wildcards))
        if d.isoformat() in held
    ]


def gold_stocks_daily_inputs(wildcards):
    date = date_of(wildcards)
    actions = _silver_actions()
    minute = _bronze_by_date("stocks_minute").get(date)
    return {
        "bronze": [RUN.lake.bronze("stocks_daily", d) for d in gold_window(wildcards)],
        "minute": [minute] if minute else [],
        "splits": [ancient(f) for f in actions["split"]],
        "dividends": [ancient(f) for f in actions["dividend"]],
    }


def gold_stocks_daily_actions(wildcards):
    """Fingerprint of the actions inside the session's window (see ActionIndex)."""
    window = gold_window(wildcards)
    first = dt.date.fromisoformat(window[0]) if window else None
    day = dt.date.fromisoformat(date_of(wildcards))
    return _index(("split", "dividend")).fingerprint(first or day, day)


def gold_options_daily_inputs(wildcards):
    date = date_of(wildcards)
    actions = _silver_actions()
    stocks = _bronze_by_date("stocks_daily").get(date)
    return {
        "options": RUN.lake.bronze("options_daily", date),
        "stocks": [stocks] if stocks else [],
        "dividends": [ancient(f) for f in actions["dividend"]],
    }


def gold_options_daily_dividends(wildcards):
    """Fingerprint of the dividends of the trailing year the session's yields use."""
    day = dt.date.fromisoformat(date_of(wildcards))
    return _index(("dividend",)).fingerprint(day - dt.timedelta(days=365), day)


def dataset_targets(dataset, date):
    """The final files of one dataset for one session."""
    return [RUN.lake.bronze(dataset, date)]


def needs_reference_tickers(dataset):
    """Whether a pull takes its ticker list from the reference tickers (config list empty)."""
    spec = REST_DATASETS[dataset]
    if config.get("fundamental_tickers"):
        return False
    if spec.per_ticker:
        return True
    return (
        spec.filter_after_download
        and config.get("short_data_tickers", "fundamental") == "fundamental"
    )


def reference_tickers_for_pull(wildcards):
    """The active reference tickers of the latest tickers pull on or before this pull date."""
    if not needs_reference_tickers(wildcards.rest_dataset):
        return {}
    day = latest_due(
        "tickers",
        settings.parse_date("pull_date", wildcards.pull_date),
        config.get("rest_schedule"),
    )
    return {"reference": RUN.lake.bronze_rest("tickers", day.isoformat(), "active")}


def rest_targets(dataset=None):
    """The REST pulls due on the run's pull date (see quantmini/rest/schedule.py), of
    every dataset or of one."""
    return [
        RUN.lake.bronze_rest(p.dataset, RUN.pull_date, p.window.name)
        for p in RUN.pulls
        if dataset in (None, p.dataset)
    ]


@lru_cache(maxsize=None)
def _held_pulls(dataset):
    """The lake's pulls of ``dataset`` when the DAG is built (listed once per run)."""
    return tuple(lake_glob(RUN.lake.bronze_rest_glob(dataset)))


def bronze_pulls(dataset):
    """Every pull of ``dataset`` the lake holds or this run makes: silver is rebuilt from
    all of them, and reruns when one is added or replaced."""
    return sorted(set(_held_pulls(dataset)) | set(rest_targets(dataset)))


def corporate_action_pulls(wildcards):
    """Every pull of the four sources, and the bronze stocks daily bars the cleansing flags
    check actions against (a split without a price jump, a dividend above the close ...):
    those held and those this run converts, ancient, so a corrected day does not rebuild
    silver (nor, downstream of this checkpoint, every gold session); a new pull or a new
    day does. Held and window together, so the set a run records is the set the next run
    finds: a rerun after a first run plans nothing.
    """
    inputs = {ds: bronze_pulls(ds) for ds in corporate_actions.SOURCES.values()}
    inputs["bars"] = [ancient(p) for p in bronze_partitions("stocks_daily")]
    return inputs


def fundamentals_pulls(wildcards):
    return bronze_pulls("fundamentals")


def silver_corporate_actions_outputs():
    return {
        event: RUN.lake.silver("corporate_actions", f"event_type={event}")
        for event in corporate_actions.EVENT_TYPES
    }


def silver_outputs(dataset):
    return {
        timeframe: RUN.lake.silver(dataset, f"timeframe={timeframe}")
        for timeframe in fundamentals.TIMEFRAMES
    }


def silver_pit_outputs():
    """Point-in-time fundamentals (every filing version), keyed pit_<timeframe>."""
    return {
        f"pit_{timeframe}": RUN.lake.silver(
            "fundamentals_pit", f"timeframe={timeframe}"
        )
        for timeframe in fundamentals.TIMEFRAMES
    }


def silver_targets():
    """Silver files whose bronze sources the lake holds (or this run pulls)."""
    if not config.get("silver", True):
        return []
    targets = []
    if any(bronze_pulls(ds) for ds in corporate_actions.SOURCES.values()):
        targets += list(silver_corporate_actions_outputs().values())
    if bronze_pulls("fundamentals"):
        targets += list(silver_outputs("financial_ratios").values())
        targets += list(silver_pit_outputs().values())
    return targets


def run_targets():
    return window_targets() + rest_targets() + silver_targets() + gold_targets()


def window_targets():
    """The window's partitions, and those of the held refresh sessions (re-checked for
    re-published files: nothing runs for them unless one changed)."""
    held = [
        d
        for d in refresh_dates()
        if d not in RUN.sessions
        and any(lake_has(RUN.lake.landing(ds, d)) for ds in RUN.datasets)
    ]
    return [
        target
        for date in list(RUN.sessions) + held
        for dataset in RUN.datasets
        for target in dataset_targets(dataset, date)
        if (date in RUN.sessions and (dataset, date) not in unpublished())
        or lake_has(RUN.lake.landing(dataset, date))
    ]


def summary_inputs():
    """Everything the lake holds of what this run builds, not only this run's window, so
    the summary is redone when anything is added and never by a rerun over held days.
    Stored inputs are never downloaded: the summary reads the sidecars, not the data."""
    held = [p for ds in FLATFILE_DATASETS for p in bronze_partitions(ds)]
    held += [local(p) for ds in GOLD_FEATURE_DATASETS for p in _held_gold(ds)]
    pulls = [
        p for ds in sorted({t.dataset for t in RUN.pulls}) for p in bronze_pulls(ds)
    ]
    return [unfetched(p) for p in sorted(set(held) | set(pulls) | set(run_targets()))]


def unfetched(path):
    """``path`` as an input a job waits for and is rerun by but never downloads, when the
    lake is in an object store (the same object as the producer's output, with retrieval
    off); unchanged on disk and for local files."""
    if STORE is None or is_flagged(path, "local"):
        return path
    from snakemake.storage import flag_with_storage_object

    provider = workflow.storage_registry.default_storage_provider
    query = (
        f"s3://{STORE.bucket}/{STORE.key(path)}"  # the key the producer's output has
    )
    return flag_with_storage_object(path, provider.object(query, retrieve=False))


def get_final_output():
    if RUN.empty:
        return []
    return run_targets() + [
        local(f"{LAKE}/metadata/summary.tsv"),
        local(f"{LAKE}/metadata/report/records.png"),
    ]


def start_run():
    """Endpoints first (nothing is written if one is unreachable), then the lake's lock."""
    try:
        guard.preflight(
            config,
            needs_s3=bool(RUN.sessions and RUN.datasets),
            needs_rest=bool(RUN.pulls),
        )
        guard.probe_locks(LAKE)
        guard.hold_lake_lock(LAKE)
    except (guard.Unreachable, guard.LakeBusy, guard.LocksUnsupported) as exc:
        sys.exit(f"quantmini: {exc}")


def run_quality():
    """After a run, whether its jobs all succeeded or not: the data-quality checks of its
    sessions (quantmini/quality.py), written under metadata/quality/; alerts in one line each.
    """
    if not RUN.sessions or not RUN.datasets:
        return
    record_unpublished()
    if not config.get("quality", True):
        return
    from quantmini import quality

    try:
        if STORE is not None:
            lake_store.sync_sidecars(STORE, LAKE)
        checks = quality.evaluate_config(
            RUN.lake, config, list(RUN.sessions), list(RUN.datasets)
        )
        quality.write_reports(RUN.lake, checks, list(RUN.sessions), list(RUN.datasets))
    except (
        Exception
    ) as exc:  # noqa: BLE001 - a check that cannot run must not hide the run's result
        print(f"quantmini: quality checks not run: {redact(str(exc))}", file=sys.stderr)
        return
    for check in quality.alerts(checks):
        print(f"quantmini: quality ALERT {check.line}", file=sys.stderr)
