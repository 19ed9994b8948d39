# Config validation (quantmini/workflow_config.py), the planner (quantmini/plan.py), and the
# input functions that wrap its answers in Snakemake's flags (local, ancient, storage objects)
# and checkpoints.

import os
import sys

from snakemake.exceptions import WorkflowError
from snakemake.io import is_flagged

from quantmini import hooks, jobs, plan, settings, workflow_config
from quantmini import store as lake_store
from quantmini.datasets import FLATFILE_DATASETS, flatfile_dataset_for_prefix
from quantmini.paths import LOG_PATTERNS
from quantmini.silver.corporate_actions import SOURCES as ACTION_SOURCES


def _config_error(message):
    """Stop with one line that names the key; nothing is scheduled or written."""
    sys.exit(f"quantmini: {message}")


try:  # booleans coerced, the schema's defaults filled in, the run resolved
    RUN = workflow_config.for_workflow(config)
except settings.ConfigError as exc:
    _config_error(str(exc))
if RUN.notice:
    print(RUN.notice, file=sys.stderr)

LAKE = RUN.lake.root
# The per-session rules run their job bodies on Snakemake's own threads (`run:`; see
# rules/landing.smk): each job logs to its own file and a failure raises, not exits.
jobs.run_in_snakemake_process()
# Jobs import the quantmini package from this workflow's folder, also inside conda envs.
os.environ.update(hooks.job_pythonpath(workflow.basedir))


try:  # the lake's object store with --default-storage-provider s3, else None (on disk)
    STORE = lake_store.open_for_run(
        workflow.storage_settings.default_storage_provider,
        workflow.storage_settings.default_storage_prefix,
        workflow.storage_provider_settings,
        RUN.lake,
        mirror_sidecars=workflow.is_main_process,  # never in a job's own process
    )
except lake_store.StoreError as exc:
    _config_error(str(exc))
PLAN = plan.Planner(
    RUN,
    config,
    plan.LakeListing.disk() if STORE is None else lake_store.listing_of(STORE, LAKE),
    plan.s3_remote_lister(config),
    bounded=STORE is None,
)


wildcard_constraints:
    **plan.wildcard_constraints(),


def lake_root(wildcards):
    return LAKE


def date_of(wildcards):
    """The ISO date of a target's year/month/day wildcards (unpadded or padded alike)."""
    return (
        f"{int(wildcards.year):04d}-{int(wildcards.month):02d}-{int(wildcards.day):02d}"
    )


def dataset_for_landing(wildcards):
    try:
        return flatfile_dataset_for_prefix(wildcards.asset, wildcards.feed).name
    except KeyError as exc:
        raise WorkflowError(str(exc))


def landing_for_bronze(wildcards):
    return PLAN.bronze_inputs(wildcards.dataset, date_of(wildcards))


def correction_markers(wildcards):
    w = wildcards
    return PLAN.correction_markers(w.asset, w.feed, w.year, w.month, w.date)


def correction_stamps(wildcards):
    """The stamps of a landing file's corrections, as a parameter: a new one reruns the
    download by Snakemake's params trigger (the markers, inputs, are written by their rule).
    """
    return [os.path.basename(m) for m in correction_markers(wildcards)]


def history_on_disk(wildcards):
    return PLAN.history_on_disk()


def pool_threads(wildcards):
    return PLAN.pool_threads()


def landing_priority(wildcards):
    return FLATFILE_DATASETS[dataset_for_landing(wildcards)].priority


def bronze_priority(wildcards):
    return FLATFILE_DATASETS[wildcards.dataset].priority


# The Qlib chain (silver's flags, the store, the universes, the minute store) goes as soon
# as its inputs are there: it is the night's longest.
QLIB_CHAIN_PRIORITY = FLATFILE_DATASETS["stocks_daily"].priority


def rest_priority(wildcards):
    """The pulls silver's corporate actions reads head the Qlib chain: they go first."""
    return (
        QLIB_CHAIN_PRIORITY + 1
        if wildcards.rest_dataset in ACTION_SOURCES.values()
        else 0
    )


def api_threads(wildcards):
    """A REST pull waits on the vendor, not on a core: on this machine it claims none
    (`polygon_api` caps how many run at once), so the night's conversions keep both cores;
    a cluster job is given one."""
    return 0 if workflow.local_exec else 1


def bronze_mem_mb(wildcards):
    return FLATFILE_DATASETS[wildcards.dataset].bronze_mem_mb


def reference_tickers_for_pull(wildcards):
    return PLAN.reference_tickers_for_pull(wildcards.rest_dataset, wildcards.pull_date)


def corporate_action_pulls(wildcards):
    inputs = PLAN.corporate_action_pulls()
    inputs["bars"] = [ancient(p) for p in inputs["bars"]]
    return inputs


def fundamentals_pulls(wildcards):
    return PLAN.bronze_pulls("fundamentals")


def _silver_actions():
    """The silver split and dividend files, once this run's rebuild (a checkpoint) is done:
    the fingerprints of what gold reads are computed from what it wrote."""
    files = {e: list(PLAN.silver_action_file(e)) for e in ("split", "dividend")}
    if files["split"] or files["dividend"]:
        checkpoints.silver_corporate_actions.get()
    return files


def qlib_inputs(wildcards):
    inputs = PLAN.qlib_inputs()
    actions = _silver_actions()
    inputs.update(
        splits=ancient_all(actions["split"]), dividends=ancient_all(actions["dividend"])
    )
    return inputs


def qlib_universes_inputs(wildcards):
    inputs = PLAN.qlib_universes_inputs()
    inputs["store"] = [local(p) for p in inputs["store"]]
    return inputs


def qlib_minute_inputs(wildcards):
    inputs = PLAN.qlib_minute_inputs()
    inputs["store"] = [local(p) for p in inputs["store"]]
    return inputs


def qlib_minute_universe(wildcards):
    return PLAN.qlib_minute_universe()


def qlib_actions(wildcards):
    """Fingerprint of every action the Qlib store applies: a silver rebuild that changes
    none of them does not rerun the store."""
    return PLAN.qlib_actions()


def gold_stocks_daily_inputs(wildcards):
    inputs = PLAN.gold_stocks_daily_inputs(date_of(wildcards))
    actions = _silver_actions()
    inputs.update(
        splits=ancient_all(actions["split"]), dividends=ancient_all(actions["dividend"])
    )
    return inputs


def gold_stocks_daily_actions(wildcards):
    return PLAN.gold_stocks_daily_actions(date_of(wildcards))


def gold_options_daily_inputs(wildcards):
    inputs = PLAN.gold_options_daily_inputs(date_of(wildcards))
    inputs["dividends"] = ancient_all(_silver_actions()["dividend"])
    return inputs


def gold_options_daily_dividends(wildcards):
    return PLAN.gold_options_daily_dividends(date_of(wildcards))


def batch_gold_inputs(batch):
    """The input function of a gold backfill batch (rules/backfill.smk): its sessions' bronze
    days, and the silver actions once this run's rebuild is done."""

    def inputs(wildcards):
        found = PLAN.batch_gold_inputs(batch)
        actions = _silver_actions()
        found.update(
            splits=ancient_all(actions["split"]),
            dividends=ancient_all(actions["dividend"]),
        )
        return found

    return inputs


def batch_gold_sessions(batch):
    def sessions(wildcards):
        return PLAN.batch_gold_sessions(batch)

    return sessions


def batch_gold_actions(batch):
    def actions(wildcards):
        return PLAN.batch_gold_actions(batch)

    return actions


def ancient_all(paths):
    return [ancient(p) for p in paths]


def summary_inputs():
    """Everything the lake holds of what this run builds (quantmini.plan): stored inputs are
    never downloaded, the summary reads the sidecars, not the data."""
    paths, local_paths = PLAN.summary_inputs()
    return [local(p) if p in local_paths else unfetched(p) for p in paths]


def unfetched(path):
    """``path`` as an input a job waits for and is rerun by but never downloads, when the
    lake is in an object store (the producer's object, with retrieval off)."""
    if STORE is None or is_flagged(path, "local"):
        return path
    from snakemake.storage import flag_with_storage_object

    provider = workflow.storage_registry.default_storage_provider
    query = f"s3://{STORE.bucket}/{STORE.key(path)}"
    return flag_with_storage_object(path, provider.object(query, retrieve=False))


def get_final_output():
    local_paths = set(PLAN.gold_targets()) | {
        RUN.lake.summary(),
        RUN.lake.report_asset("records.png"),
    }
    return [local(p) if p in local_paths else p for p in PLAN.final_outputs()]


def start_run():
    """Endpoints first (nothing is written if one is unreachable), then the lake's lock."""
    hooks.before_run(RUN, config)


def finish_run():
    """A run whose jobs all succeeded: its gold is complete against silver's actions."""
    end_run()
    if PLAN.bounded:
        hooks.settle_actions(PLAN)


def end_run():
    """After a run, whether its jobs all succeeded or not: pending records for the files the
    vendor has not published, then the quality checks of its sessions (quantmini/quality.py).
    """
    hooks.after_run(RUN, config, PLAN.unpublished(), STORE)
    hooks.release_scheduler_timers()
    hooks.skip_exit_collection()
