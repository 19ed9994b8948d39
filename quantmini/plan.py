"""The run plan: which files a run builds, and what each rule reads.

The workflow (``rules/common.smk``) asks this module every planning question and only wraps
the answers in Snakemake's flags (``local``, ``ancient``, storage objects) and checkpoints.
Everything here is a pure function of three things, so that tests can pass plain lists:

- the resolved run (:class:`quantmini.settings.RunPlan`) and the validated config, defaults
  filled in from ``config/schema.yaml``;
- what the lake holds, asked through one :class:`LakeListing` (the local disk, or the object
  store, or a set of paths in a test): every glob and existence check of a DAG build goes
  through it, so the cost of a dry run is the cost of its listings;
- what the vendor holds, asked through one function from S3 prefixes to objects (``None``
  when the endpoint could not be asked).

Answers are computed once per planner (one planner per DAG build), as the workflow asks the
same question once per job.
"""

from __future__ import annotations

import bisect
import datetime as dt
import glob as _glob
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import batches, corrections, sessions
from .batches import Batch
from .datasets import FLATFILE_DATASETS, flatfile_dataset_for_prefix
from .gold import FEATURE_DATASETS as GOLD_FEATURE_DATASETS
from .paths import partition_date
from .settings import RunPlan
from .silver import corporate_actions, fundamentals

#: a window longer than this many sessions gives thread-pool jobs two cores (Planner.pool_threads)
POOL_SESSIONS = 21

#: prefixes -> {key: RemoteObject}, or None when the vendor could not be asked
RemoteLister = Callable[[list[str]], "dict | None"]


def wildcard_constraints() -> dict[str, str]:
    """What each wildcard of the rules' output patterns (quantmini.paths.Lake) may match."""
    from .rest.datasets import REST_DATASETS

    return {
        "year": r"\d{4}",
        "month": r"\d{1,2}",
        "day": r"\d{1,2}",
        "date": r"\d{4}-\d{2}-\d{2}",
        "asset": r"[a-z0-9_]+",
        "feed": r"[a-z0-9_]+_v1",
        "dataset": "|".join(FLATFILE_DATASETS),
        "rest_dataset": "|".join(REST_DATASETS),
        "pull_date": r"\d{4}-\d{2}-\d{2}",
        "window": r"[a-z0-9_\-]+",
        "stamp": r"(etag|refetch)-[A-Za-z0-9\-]+",
    }


@dataclass(frozen=True)
class LakeListing:
    """What the lake holds, asked through one place.

    ``glob`` and ``has`` cover the stored layers (landing, bronze, silver, correction
    markers: on disk, or objects in the lake's store); ``local_glob`` covers what always
    stays on the controller's disk (gold); ``readable`` gives a local copy of a lake file.
    """

    glob: Callable[[str], Iterable[str]]
    has: Callable[[str], bool]
    local_glob: Callable[[str], Iterable[str]] = _glob.glob
    readable: Callable[[str], str] = str

    @classmethod
    def disk(cls) -> "LakeListing":
        return cls(glob=_glob.glob, has=os.path.exists)

    @classmethod
    def of(cls, paths: Iterable[str], local: Iterable[str] = ()) -> "LakeListing":
        """A lake that holds exactly ``paths`` (stored layers) and ``local`` (gold): for tests
        and for planning from a recorded listing."""
        from .store import glob_listing

        held = {os.path.normpath(p) for p in paths}
        gold = {os.path.normpath(p) for p in local}
        return cls(
            glob=lambda pattern: glob_listing(held, os.path.normpath(pattern)),
            has=lambda path: os.path.normpath(path) in held,
            local_glob=lambda pattern: glob_listing(gold, os.path.normpath(pattern)),
        )


def _memo(method):
    """Cache a planner method's answer per planner and arguments (one DAG build)."""

    def wrapper(self, *args):
        key = (method.__name__, args)
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = method(self, *args)
            return value

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def s3_remote_lister(config: dict) -> RemoteLister:
    """The vendor's S3 listing for the planner: read-only, one attempt, short timeouts; any
    failure is ``None`` (a check that cannot run must not stop the DAG)."""

    def lister(prefixes: list[str]):
        import dataclasses

        from .flatfiles import S3Settings, make_client

        s3 = dataclasses.replace(
            S3Settings.from_config({**config, "s3_max_attempts": 1}), connect_timeout=3, read_timeout=10
        )
        objects, _ = corrections.list_prefixes(make_client(s3), s3.bucket, prefixes)
        return objects

    return lister


@dataclass
class Planner:
    """One DAG build's answers. ``remote`` lists the vendor's bucket (see
    :func:`s3_remote_lister`); ``now`` is the clock unpublished files are judged by;
    ``say`` prints the plan's notices (stderr in the workflow)."""

    run: RunPlan
    config: dict
    listing: LakeListing
    remote: RemoteLister = lambda prefixes: {}
    now: dt.datetime | None = None
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)
    #: Plan from the run's window and what it changes, not from every held file (a lake on
    #: disk). False for a lake in an object store, whose jobs read only what the DAG names.
    bounded: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def lake(self):
        return self.run.lake

    # the window and the vendor ---------------------------------------------------------------
    @_memo
    def refresh_dates(self) -> tuple[str, ...]:
        """Held sessions a run re-checks for re-published files (config ``refresh_days``)."""
        end = self.run.sessions[-1] if self.run.sessions else None
        return tuple(corrections.refresh_sessions(list(self.run.sessions), int(self.config["refresh_days"]), end))

    @_memo
    def unheld_window(self) -> tuple[tuple[str, str], ...]:
        """The window's (dataset, session) pairs whose landing file the lake does not hold."""
        return tuple(
            (ds, d)
            for d in self.run.sessions
            for ds in self.run.datasets
            if not self.listing.has(self.lake.landing(ds, d))
        )

    @_memo
    def remote_objects(self):
        """The S3 objects of the refresh sessions and of the window's sessions not yet held:
        one listing per dataset and month. ``None`` when it could not run."""
        held = [
            (ds, d)
            for ds in self.run.datasets
            for d in self.refresh_dates()
            if self.listing.has(self.lake.landing(ds, d))
        ]
        refreshing = bool(held)
        held += self.unheld_window()
        if not held:
            return {}
        prefixes = list(dict.fromkeys(corrections.month_prefix(ds, d) for ds, d in held))
        try:
            return self.remote(prefixes)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run must not stop the DAG
            if refreshing:
                from .secrets import redact

                self.say(f"quantmini: corrections not checked: {redact(str(exc))}")
            return None

    def marker_dir(self, asset: str, feed: str, year: str, month: str) -> str:
        return self.lake.correction_marker_dir(asset, feed, year, month)

    def correction_markers(self, asset: str, feed: str, year: str, month: str, date: str) -> list[str]:
        """The markers of every correction of a landing file (see quantmini.corrections): the
        ones held, plus a new one when its object changed or its conversion failed."""
        folder = self.marker_dir(asset, feed, year, month)
        markers = sorted(self.listing.glob(f"{folder}/{date}.*"))
        if date not in self.refresh_dates():
            return markers
        dataset = flatfile_dataset_for_prefix(asset, feed).name
        remote = (self.remote_objects() or {}).get(FLATFILE_DATASETS[dataset].s3_key(date))
        stamp = corrections.stamp_for(self.lake, dataset, date, remote)
        if stamp:
            markers = sorted(set(markers) | {f"{folder}/{date}.{stamp}"})
        return markers

    def bronze_inputs(self, dataset: str, date: str) -> list[str]:
        """A bronze file's inputs: its landing file, then that file's correction markers.

        The markers are bronze's own inputs too because Snakemake removes a job's output
        before it runs: when a corrected file's re-download dies (a full disk, a kill), the
        landing copy is gone while bronze stands, and Snakemake does not rebuild a missing
        intermediate beside an up-to-date output. A marker newer than bronze still reruns it,
        and with it the download (found by the soak)."""
        asset, feed, year, month, _ = FLATFILE_DATASETS[dataset].s3_key(date).split("/")
        return [self.lake.landing(dataset, date), *self.correction_markers(asset, feed, year, month, date)]

    @_memo
    def unpublished(self) -> frozenset:
        """The window's (dataset, session) pairs whose flat file the vendor has not published
        yet and that are not yet late (``quality_pending_alert_hours`` after they were due).
        They are left out of this run, reported once here, and recorded as ``pending`` when
        the run ends; the next run (its catch-up) fetches them. A late file stays in: its job
        fails, loudly."""
        wanted = self.unheld_window()
        objects = self.remote_objects() if wanted else {}
        if not wanted or objects is None:
            return frozenset()
        now = self.now or sessions.now_utc()
        limit = float(self.config["quality_pending_alert_hours"])
        publish_time = str(self.config["publish_time"])
        out = set()
        for ds, d in wanted:
            if FLATFILE_DATASETS[ds].s3_key(d) in objects:
                continue
            day = dt.date.fromisoformat(d)
            if sessions.hours_overdue(day, now, publish_time) > limit:
                continue  # late: left in the run, where its job fails loudly
            due = sessions.publication_due(day, publish_time)
            out.add((ds, d))
            self.say(
                f"quantmini: {ds} {d}: not published yet (due {due:%Y-%m-%d %H:%M} New York); "
                "pending, the next run fetches it"
            )
        return frozenset(out)

    # bronze ----------------------------------------------------------------------------------
    @_memo
    def held_partitions(self, dataset: str) -> tuple[str, ...]:
        """The lake's bronze partitions of a flat-file dataset when the DAG is built."""
        return tuple(self.listing.glob(self.lake.bronze_glob(dataset)))

    @_memo
    def bronze_partitions(self, dataset: str) -> list[str]:
        """Every bronze partition of ``dataset`` the lake holds or this run builds."""
        window = []
        if dataset in self.run.datasets:
            window = [
                self.lake.bronze(dataset, d) for d in self.run.sessions if (dataset, d) not in self.unpublished()
            ]
        return sorted(set(self.held_partitions(dataset)) | set(window))

    @_memo
    def run_days(self, dataset: str) -> frozenset:
        """The sessions of ``dataset`` whose bronze this run builds or may rebuild: the window's
        and the held refresh sessions' (a re-published file). Nothing older changes in a run."""
        return frozenset(partition_date(p) for p in self.window_targets() if f"/{dataset}/" in p)

    def window_targets(self) -> list[str]:
        """The window's partitions, and those of the held refresh sessions (re-checked for
        re-published files: nothing runs for them unless one changed)."""
        held = [
            d
            for d in self.refresh_dates()
            if d not in self.run.sessions
            and any(self.listing.has(self.lake.landing(ds, d)) for ds in self.run.datasets)
        ]
        return [
            self.lake.bronze(dataset, date)
            for date in list(self.run.sessions) + held
            for dataset in self.run.datasets
            if (date in self.run.sessions and (dataset, date) not in self.unpublished())
            or self.listing.has(self.lake.landing(dataset, date))
        ]

    # backfill batches (quantmini/batches.py) -------------------------------------------------
    @_memo
    def held_batches(self) -> tuple[Batch, ...]:
        """The batches earlier runs completed whose sessions this DAG can name (see
        :meth:`batch_horizon`): their rules stay their sessions' producers. Older ones are
        not declared (nor their manifests read): a long history costs no rules."""
        if not self.bounded:
            return ()
        horizon = self.batch_horizon()
        paths = sorted(p for p in self.listing.local_glob(self.lake.batch_manifest_glob())
                       if os.path.basename(p)[11:21] >= horizon)  # <first>_<last>.json
        return tuple(batches.read_manifest(self.listing.readable(p)) for p in paths)

    @_memo
    def batch_horizon(self) -> str:
        """The first session whose files this DAG can name: the window's, the refresh days'
        and the action pull window's first, less two gold look-backs (the gold sessions
        planned read that far back). Everything when the plan is not bounded by the run."""
        if not self.actions_settled():
            return "0000-00-00"
        starts = list(self.run.sessions[:1]) + list(self.refresh_dates()[:1])
        if self.action_span_start():
            starts.append(self.action_span_start())
        if not starts:
            return "9999-99-99"
        first = dt.date.fromisoformat(max(min(starts), "1900-01-01"))
        back = 2 * int(self.config["gold_lookback_sessions"]) + 1
        earlier = sessions.sessions_back(first, back) if first.year > 1900 else []
        return earlier[0].isoformat() if earlier else "0000-00-00"

    @_memo
    def new_batches(self) -> tuple[Batch, ...]:
        """This run's batches: when the window holds at least ``backfill_batch_sessions``
        sessions of a dataset whose landing and bronze files the lake has not got (and the
        vendor has published), those sessions by month, but for the window's last
        ``refresh_days``; and the gold stocks_daily sessions of the stocks_daily ones.
        Object-store lakes keep per-session jobs."""
        threshold = int(self.config["backfill_batch_sessions"])
        if not self.bounded or threshold == 0:
            return ()
        covered = {(b.kind, b.dataset, d) for b in self.held_batches() for d in b.sessions}
        # The window's last refresh_days sessions stay per-session jobs: the nightly runs
        # after a backfill re-check them for corrections, and a corrected day then reruns its
        # own jobs, not a month's.
        recent = set(self.refresh_dates())
        out: list[Batch] = []
        for dataset in self.run.datasets:
            days = [
                d
                for d in self.run.sessions
                if d not in recent
                and (dataset, d) not in self.unpublished()
                and ("flatfile", dataset, d) not in covered
                and not self.listing.has(self.lake.landing(dataset, d))
                and not self.listing.has(self.lake.bronze(dataset, d))
            ]
            if len(days) >= threshold:
                out += batches.by_month("flatfile", dataset, days)
        if self.config["gold_features"]:
            held = set(self.held_gold("stocks_daily"))
            gold = [
                d
                for b in out
                if b.dataset == "stocks_daily"
                for d in b.sessions
                if ("gold", "stocks_daily", d) not in covered and self.lake.gold("stocks_daily", d) not in held
            ]
            if gold:
                out += batches.by_month("gold", "stocks_daily", gold)
        return tuple(out)

    def batches(self, kind: str) -> list[Batch]:
        """Every batch rule of this DAG build: the held batches and this run's."""
        return [b for b in self.held_batches() + self.new_batches() if b.kind == kind]

    def batch_markers(self, batch: Batch) -> list[str]:
        """The correction markers of a flat-file batch's sessions (a re-published file of one
        of them reruns the batch: the same bytes for the others)."""
        out = []
        for d in batch.sessions:
            asset, feed, year, month = FLATFILE_DATASETS[batch.dataset].s3_key(d).split("/")[:4]
            out += self.correction_markers(asset, feed, year, month, d)
        return out

    def batch_correction_stamps(self, batch: Batch) -> list[str]:
        """The stamps of those markers: a parameter, so a new one reruns the batch."""
        return [os.path.basename(m) for m in self.batch_markers(batch)]

    def batch_flatfile_outputs(self, batch: Batch) -> dict:
        return {
            "landing": [self.lake.landing(batch.dataset, d) for d in batch.sessions],
            "bronze": [self.lake.bronze(batch.dataset, d) for d in batch.sessions],
            "manifest": batch.manifest(self.lake),
        }

    def batch_gold_outputs(self, batch: Batch) -> dict:
        return {
            "gold": [self.lake.gold(batch.dataset, d) for d in batch.sessions],
            "manifest": batch.manifest(self.lake),
        }

    @_memo
    def batch_gold_sessions(self, batch: Batch) -> dict[str, dict[str, list[str]]]:
        """Each gold stocks_daily session's bronze inputs (its look-back and its minute day),
        as the per-session rule names them."""
        out = {}
        for d in batch.sessions:
            inputs = self.gold_stocks_daily_inputs(d)
            out[d] = {"bronze": inputs["bronze"], "minute": inputs["minute"]}
        return out

    def batch_gold_inputs(self, batch: Batch) -> dict[str, list[str]]:
        sessions = self.batch_gold_sessions(batch)
        return {
            "bronze": sorted({p for s in sessions.values() for p in s["bronze"]}),
            "minute": sorted({p for s in sessions.values() for p in s["minute"]}),
            "splits": list(self.silver_action_file("split")),
            "dividends": list(self.silver_action_file("dividend")),
        }

    def batch_gold_actions(self, batch: Batch) -> str:
        """The fingerprints of the actions of every session's window, as the per-session rule
        records them: a late split reruns the months whose sessions it reaches."""
        return " ".join(f"{d}:{self.gold_stocks_daily_actions(d)}" for d in batch.sessions)

    # REST pulls ------------------------------------------------------------------------------
    def rest_targets(self, dataset: str | None = None) -> list[str]:
        """The REST pulls due on the run's pull date (quantmini/rest/schedule.py), of every
        dataset or of one."""
        return [
            self.lake.bronze_rest(p.dataset, self.run.pull_date, p.window.name)
            for p in self.run.pulls
            if dataset in (None, p.dataset)
        ]

    def pull_dates_made(self) -> str:
        """What the REST rule's ``pull_date`` wildcard may match: the run's pull date, and the
        reference tickers pull its per-ticker pulls read when the lake lacks it. A held pull
        of another date is history (a point-in-time record of what the vendor said that
        day): it is an input of silver but no job's output, so neither Snakemake's code or
        params triggers (an upgraded rule) nor ``--forcerun bronze_rest`` can pull it again
        today under its old date."""
        import re

        dates = {self.run.pull_date} if self.run.pull_date else set()
        for pull in self.run.pulls:
            day = self.reference_pull_date(pull.dataset, self.run.pull_date)
            if day is not None and not self.listing.has(self.lake.bronze_rest("tickers", day, "active")):
                dates.add(day)
        return "|".join(re.escape(d) for d in sorted(dates)) or "(?!)"

    @_memo
    def held_pulls(self, dataset: str) -> tuple[str, ...]:
        return tuple(self.listing.glob(self.lake.bronze_rest_glob(dataset)))

    @_memo
    def bronze_pulls(self, dataset: str) -> list[str]:
        """Every pull of ``dataset`` the lake holds or this run makes: silver is rebuilt from
        all of them, and reruns when one is added or replaced."""
        return sorted(set(self.held_pulls(dataset)) | set(self.rest_targets(dataset)))

    def needs_reference_tickers(self, dataset: str) -> bool:
        """Whether a pull takes its ticker list from the reference tickers (config list empty)."""
        from .rest.datasets import REST_DATASETS

        spec = REST_DATASETS[dataset]
        if self.config["fundamental_tickers"]:
            return False
        if spec.per_ticker:
            return True
        return spec.filter_after_download and self.config["short_data_tickers"] == "fundamental"

    def reference_pull_date(self, dataset: str, pull_date: str) -> str | None:
        """The date of the tickers pull whose active tickers a pull of ``dataset`` on
        ``pull_date`` reads (the latest due on or before it), or None when it reads none."""
        if not self.needs_reference_tickers(dataset):
            return None
        from .rest.schedule import latest_due
        from .settings import parse_date

        return latest_due("tickers", parse_date("pull_date", pull_date), self.config["rest_schedule"]).isoformat()

    def reference_tickers_for_pull(self, dataset: str, pull_date: str) -> dict[str, str]:
        """The active reference tickers of the latest tickers pull on or before a pull date."""
        day = self.reference_pull_date(dataset, pull_date)
        return {} if day is None else {"reference": self.lake.bronze_rest("tickers", day, "active")}

    # silver ----------------------------------------------------------------------------------
    def silver_corporate_actions_outputs(self) -> dict[str, str]:
        return {e: self.lake.silver("corporate_actions", f"event_type={e}") for e in corporate_actions.EVENT_TYPES}

    def silver_outputs(self, dataset: str) -> dict[str, str]:
        return {t: self.lake.silver(dataset, f"timeframe={t}") for t in fundamentals.TIMEFRAMES}

    def silver_pit_outputs(self) -> dict[str, str]:
        """Point-in-time fundamentals (every filing version), keyed pit_<timeframe>."""
        return {f"pit_{t}": self.lake.silver("fundamentals_pit", f"timeframe={t}") for t in fundamentals.TIMEFRAMES}

    @_memo
    def silver_targets(self) -> list[str]:
        """Silver files whose bronze sources the lake holds (or this run pulls)."""
        if not self.config["silver"]:
            return []
        targets = []
        if any(self.bronze_pulls(ds) for ds in corporate_actions.SOURCES.values()):
            targets += list(self.silver_corporate_actions_outputs().values())
        if self.bronze_pulls("fundamentals"):
            targets += list(self.silver_outputs("financial_ratios").values())
            targets += list(self.silver_pit_outputs().values())
        return targets

    @_memo
    def silver_action_file(self, event_type: str) -> tuple[str, ...]:
        """A silver corporate-actions file if this run builds it or the lake holds it (a file
        this run builds is a target before it exists, so the answer holds for the build)."""
        path = self.silver_corporate_actions_outputs()[event_type]
        if path in self.silver_targets() or self.listing.has(path):
            return (path,)
        return ()

    def corporate_action_pulls(self) -> dict[str, list[str]]:
        """Every pull of the four sources, and the bronze stocks daily bars the cleansing flags
        check actions against: this run's days (the job reads the held ones itself, see
        :meth:`history_on_disk`). The workflow marks the bars ancient: a corrected day does
        not rebuild silver (nor every gold session below the checkpoint); a new day does."""
        inputs = {ds: self.bronze_pulls(ds) for ds in corporate_actions.SOURCES.values()}
        inputs["bars"] = self.history_inputs("stocks_daily")
        return inputs

    def pool_threads(self) -> int:
        """The cores a job that works on a thread pool of its own (the Qlib store's day reads,
        the options' implied volatilities) asks of the scheduler: two on a long window, where
        the pool has hundreds of days or contracts to share out, and one on a nightly run,
        where a two-core claim would hold the session's other jobs (the universes and the
        minute store behind the Qlib store) waiting for a core the job barely uses."""
        return 2 if len(self.run.sessions) > POOL_SESSIONS else 1

    def history_on_disk(self) -> bool:
        """Whether the jobs that read a dataset's whole history (the Qlib store, silver's bar
        checks) find the held days on disk themselves, their inputs naming only this run's
        days. A DAG that named every held day would cost planning time with every session
        held (each a checked job); the days a run builds still rerun those jobs (Snakemake's
        mtime trigger; the set-of-inputs trigger is off, profiles/default). An object-store
        lake names every day: its jobs read only what the DAG names."""
        return self.bounded

    def history_inputs(self, dataset: str) -> list[str]:
        """The bronze days of ``dataset`` a history-wide job names: this run's (window and
        refresh days) when :meth:`history_on_disk`, else every held day and this run's."""
        if not self.history_on_disk():
            return self.bronze_partitions(dataset)
        days = self.run_days(dataset)
        return [p for p in self.bronze_partitions(dataset) if partition_date(p) in days] if days else []

    # gold ------------------------------------------------------------------------------------
    def rebuilds_actions(self) -> bool:
        """Whether this run pulls splits or dividends: silver's actions may change, so the gold
        built from them is part of the run (a REST-only run leaves gold consistent with the
        silver it wrote; the fingerprints decide what actually reruns)."""
        return any(self.rest_targets(ds) for ds in ("splits", "dividends")) and bool(self.config["silver"])

    def gold_dataset_wanted(self, dataset: str) -> bool:
        """A gold dataset is planned when the run builds its bronze, or (stocks_daily and
        options_daily, which read silver actions) when the run may change those actions."""
        return dataset in self.run.datasets or (
            dataset in ("stocks_daily", "options_daily") and self.rebuilds_actions() and bool(self.held_gold(dataset)))

    def qlib_wanted(self) -> bool:
        if not self.config["gold_qlib"]:
            return False
        receipt = self.lake.qlib_receipt("stocks_daily")
        return "stocks_daily" in self.run.datasets or (self.rebuilds_actions() and bool(self.listing.local_glob(receipt)))

    def qlib_inputs(self) -> dict[str, list[str]]:
        """The Qlib store is a function of every stocks_daily day held (and of the minute days
        for $vwap, and of the silver splits and dividends). Its rule names this run's days
        (:meth:`history_inputs`; the job reads the held ones itself), so it reruns when the
        run builds or rebuilds one and never for a window the store already holds, and the
        held history is not part of the DAG."""
        return {
            "bronze": self.history_inputs("stocks_daily"),
            "minute": self.history_inputs("stocks_minute"),
            "splits": list(self.silver_action_file("split")),
            "dividends": list(self.silver_action_file("dividend")),
        }

    @_memo
    def held_gold(self, dataset: str) -> tuple[str, ...]:
        """The lake's gold sessions of a feature dataset when the DAG is built."""
        return tuple(self.listing.local_glob(self.lake.gold_glob(dataset)))

    @_memo
    def bronze_by_date(self, dataset: str) -> dict[str, str]:
        """The bronze sessions of a dataset: held, in this run's window, or under a held gold
        session (a deleted bronze file is rebuilt, never silently left out of a gold window)."""
        dates = {partition_date(p): p for p in self.bronze_partitions(dataset)}
        if dataset in GOLD_FEATURE_DATASETS and self.config["gold_features"]:
            for p in self.held_gold(dataset):
                day = partition_date(p)
                dates.setdefault(day, self.lake.bronze(dataset, day))
        return dates

    def gold_feature_targets(self) -> list[str]:
        """One gold file per session whose bronze source the lake holds or this run builds,
        so a corrected bronze day or a late split reaches the sessions that depend on it."""
        if not self.config["gold_features"]:
            return []
        return [
            self.lake.gold(dataset, date)
            for dataset in GOLD_FEATURE_DATASETS
            if self.gold_dataset_wanted(dataset)
            for date in sorted(self.bronze_by_date(dataset))
            if self.gold_session_may_change(dataset, date)
        ]

    def gold_session_may_change(self, dataset: str, date: str) -> bool:
        """Whether this run can change a gold session: its own bronze days (the session, and
        for stocks_daily the look-back before it) are (re)built by the run, or it lies after
        the first ex-date this run's split and dividend pulls can bring. Held sessions beyond
        both are not planned at all, so a plan's size follows the run, not the history. When
        silver's actions changed outside a completed run (a crash between silver and gold, an
        older lake), every held session is planned once, as an unbounded plan does."""
        if not self.bounded or not self.actions_settled():
            return True
        start = self.action_span_start()
        if start is not None and date >= start:
            return True
        if dataset == "stocks_daily":
            first, last = self.stocks_daily_reach()
            return first is not None and first <= date <= last or date in self.run_days("stocks_minute")
        if dataset == "options_daily":
            return date in self.run_days("options_daily") or date in self.run_days("stocks_daily")
        return date in self.run_days(dataset)

    @_memo
    def stocks_daily_reach(self) -> tuple[str | None, str | None]:
        """The first and last gold stocks_daily session whose look-back holds a stocks_daily
        day this run (re)builds."""
        days = sorted(self.run_days("stocks_daily"))
        if not days:
            return None, None
        lookback = int(self.config["gold_lookback_sessions"])
        ords = sessions.session_ordinals()
        last = dt.date.fromisoformat(days[-1]).toordinal()
        j = min(bisect.bisect_left(ords, last) + lookback - 1, len(ords) - 1)
        return days[0], dt.date.fromordinal(ords[j]).isoformat()

    @_memo
    def action_span_start(self) -> str | None:
        """The first ex-date this run's split and dividend pulls can change (their windows'
        start), when silver is rebuilt from them; None when they change nothing."""
        if not self.rebuilds_actions():
            return None
        starts = [p.window.start for p in self.run.pulls if p.dataset in ("splits", "dividends")]
        if any(s is None for s in starts):
            return "0000-00-00"  # a pull without a window: any session
        return min(starts).isoformat()

    def actions_signature(self) -> str:
        """What the silver split and dividend files hold (sha256 of each), for the record of
        the actions the gold sessions were last completed against."""
        import hashlib

        parts = []
        for event_type in ("split", "dividend"):
            path = self.silver_corporate_actions_outputs()[event_type]
            digest = "absent"
            if self.listing.has(path):
                with open(self.listing.readable(path), "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
            parts.append(f"{event_type}:{digest}")
        return " ".join(parts)

    @_memo
    def actions_settled(self) -> bool:
        """Whether the held gold sessions were completed against silver's actions as they are
        (the record a successful run leaves, quantmini.hooks.settle_actions), or none is held."""
        if not any(self.held_gold(ds) for ds in GOLD_FEATURE_DATASETS):
            return True
        path = self.lake.actions_settled()
        try:
            with open(path) as fh:
                recorded = fh.read().strip()
        except FileNotFoundError:
            return False
        return recorded == self.actions_signature()

    def gold_targets(self) -> list[str]:
        """Gold files (all local to the controller): the Qlib receipts (store, universes,
        point-in-time fundamentals) and the feature sessions."""
        qlib = [self.lake.qlib_receipt("stocks_daily")] if self.qlib_wanted() else []
        if qlib and self.config["qlib_universes"]:
            qlib.append(self.lake.qlib_receipt("universes"))
        if qlib and self.qlib_minute_wanted():
            qlib.append(self.lake.qlib_receipt("stocks_minute"))
        if self.qlib_fundamentals_wanted():
            qlib.append(self.lake.qlib_receipt("fundamentals"))
        return qlib + self.gold_feature_targets()

    def qlib_fundamentals_wanted(self) -> bool:
        """The store's point-in-time fundamentals follow silver's every-version table: built
        when this run builds it or the lake holds it (a run that rebuilds it reruns them)."""
        if not self.config["gold_qlib"]:
            return False
        pit = list(self.silver_pit_outputs().values())
        return all(p in self.silver_targets() or self.listing.has(p) for p in pit)

    def qlib_minute_wanted(self) -> bool:
        """The minute store follows the daily one when the lake holds (or the run builds)
        stocks_minute and it has symbols to hold (a universe or named tickers)."""
        wants = bool(self.qlib_minute_universe() or self.config["qlib_minute_symbols"])
        return wants and bool(self.bronze_partitions("stocks_minute"))

    def qlib_minute_universe(self) -> str:
        """The universe whose members the minute store holds: none when no universes are
        built (``qlib_universes: []``), then only ``qlib_minute_symbols``."""
        return self.config["qlib_minute_universe"] if self.config["qlib_universes"] else ""

    def qlib_minute_inputs(self) -> dict[str, list[str]]:
        """After the daily store (its factors) and the universes (its members), with the run's
        minute days (:meth:`history_inputs`, as the daily store)."""
        universes = [self.lake.qlib_receipt("universes")] if self.config["qlib_universes"] else []
        return {
            "store": [self.lake.qlib_receipt("stocks_daily"), *universes],
            "minute": self.history_inputs("stocks_minute"),
        }

    def qlib_universes_inputs(self) -> dict[str, list[str]]:
        """The universes follow the store (its receipt: a new or changed day reruns both), the
        run's bronze days (:meth:`history_inputs`, as the store) and every reference tickers
        pull (the common-stock filter)."""
        return {
            "store": [self.lake.qlib_receipt("stocks_daily")],
            "bronze": self.history_inputs("stocks_daily"),
            "tickers": self.bronze_pulls("tickers"),
        }

    def gold_window(self, date: str) -> list[str]:
        """The sessions of a gold stocks_daily session's look-back that the lake has."""
        held = self.bronze_by_date("stocks_daily")
        day = dt.date.fromisoformat(date)
        lookback = int(self.config["gold_lookback_sessions"])
        return [d.isoformat() for d in sessions.sessions_back(day, lookback) if d.isoformat() in held]

    def gold_stocks_daily_inputs(self, date: str) -> dict[str, list[str]]:
        minute = self.bronze_by_date("stocks_minute").get(date)
        return {
            "bronze": [self.lake.bronze("stocks_daily", d) for d in self.gold_window(date)],
            "minute": [minute] if minute else [],
            "splits": list(self.silver_action_file("split")),
            "dividends": list(self.silver_action_file("dividend")),
        }

    def gold_options_daily_inputs(self, date: str) -> dict:
        stocks = self.bronze_by_date("stocks_daily").get(date)
        return {
            "options": self.lake.bronze("options_daily", date),
            "stocks": [stocks] if stocks else [],
            "dividends": list(self.silver_action_file("dividend")),
        }

    def action_index(self, kinds: tuple[str, ...]):
        """The action index (quantmini.gold.actions.ActionIndex) of the silver split and
        dividend files as they are now: keyed by their mtimes, so a rebuild earlier in the
        run (the silver checkpoint) is seen, and built once per state."""
        from .gold.actions import ActionIndex

        files = [
            (self.silver_action_file(e) or (None,))[0] if e in kinds else None for e in ("split", "dividend")
        ]
        files = [self.listing.readable(f) if f else None for f in files]
        stamp = tuple(os.stat(f).st_mtime_ns if f and os.path.exists(f) else 0 for f in files)
        basis = self.config["qlib_adjustment"] if "split" in kinds else "total"
        key = ("action_index", *files, basis, stamp)
        if key not in self._cache:
            self._cache[key] = ActionIndex.build(files[0], files[1], basis)
        return self._cache[key]

    def qlib_actions(self) -> str:
        """Fingerprint of the actions that can change the Qlib store: ex-date after its first
        session (an earlier one has no close to scale, quantmini.gold.actions.in_range) and on
        or before its last (a later one is not effective yet; the day that reaches it reruns
        the store anyway). A silver rebuild that changes none of them does not rerun the store
        (its silver inputs are ancient)."""
        days = sorted(partition_date(p) for p in self.bronze_partitions("stocks_daily"))
        if not days:
            return "none"
        first, last = (dt.date.fromisoformat(d) for d in (days[0], days[-1]))
        return self.action_index(("split", "dividend")).fingerprint(first, last)

    def gold_stocks_daily_actions(self, date: str) -> str:
        """Fingerprint of the actions inside a gold stocks_daily session's window."""
        window = self.gold_window(date)
        day = dt.date.fromisoformat(date)
        first = dt.date.fromisoformat(window[0]) if window else day
        return self.action_index(("split", "dividend")).fingerprint(first, day)

    def gold_options_daily_dividends(self, date: str) -> str:
        """Fingerprint of the dividends of the trailing year a gold options session's yields use."""
        day = dt.date.fromisoformat(date)
        return self.action_index(("dividend",)).fingerprint(day - dt.timedelta(days=365), day)

    # the run ---------------------------------------------------------------------------------
    def run_targets(self) -> list[str]:
        return self.window_targets() + self.rest_targets() + self.silver_targets() + self.gold_targets()

    def summary_inputs(self) -> tuple[list[str], set[str]]:
        """What this run builds (on disk) or everything the lake holds of it (object store),
        so the summary, which reads every sidecar, is redone when anything is added and never
        by a rerun over held days; and which of them are local (gold) files."""
        if self.history_on_disk():
            return sorted(self.run_targets()), set(self.gold_targets())
        held = [p for ds in FLATFILE_DATASETS for p in self.bronze_partitions(ds)]
        local = {p for ds in GOLD_FEATURE_DATASETS for p in self.held_gold(ds)} | set(self.gold_targets())
        from .rest.datasets import REST_DATASETS

        # every REST dataset's pulls, not only those this run makes: the set is the same
        # whatever the run pulls, so a run with other pulls does not redo the summary
        pulls = [p for ds in REST_DATASETS for p in self.bronze_pulls(ds)]
        return sorted(set(held) | local | set(pulls) | set(self.run_targets())), local

    def final_outputs(self) -> list[str]:
        """The run's targets and the two summaries (empty when nothing is scheduled)."""
        if self.run.empty:
            return []
        return self.run_targets() + [self.lake.summary(), self.lake.report_asset("records.png")]
