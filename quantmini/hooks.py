"""What the workflow does when a run ends, whether its jobs all succeeded or not."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from .secrets import redact
from .settings import RunPlan


def job_pythonpath(workflow_dir: str) -> dict[str, str]:
    """The PYTHONPATH a job needs to import the quantmini package from the workflow's folder
    (also inside a conda env, which does not have it installed)."""
    import os

    return {"PYTHONPATH": os.pathsep.join(filter(None, [workflow_dir, os.environ.get("PYTHONPATH", "")]))}


def before_run(run: RunPlan, config: dict) -> None:
    """Before any job: the endpoints the run needs answer (nothing is written if one is
    unreachable), the lake's filesystem has working locks, then the lake's run lock is held
    for the life of this process. Any problem ends the run with one line."""
    from . import guard

    try:
        guard.preflight(config, needs_s3=bool(run.sessions and run.datasets), needs_rest=bool(run.pulls))
        guard.probe_locks(run.lake.root)
        guard.hold_lake_lock(run.lake.root)
    except (guard.Unreachable, guard.LakeBusy, guard.LocksUnsupported) as exc:
        sys.exit(f"quantmini: {exc}")


def record_unpublished(run: RunPlan, unpublished) -> None:
    """Pending records for the files the run left out because the vendor has not published
    them yet (the next run's catch-up fetches them)."""
    from .metadata import JobRecorder

    for ds, d in sorted(unpublished):
        JobRecorder(run.lake, "landing", ds, d).write("pending", error="not published yet by the vendor")


def after_run(run: RunPlan, config: dict, unpublished, store=None) -> None:
    """Pending records, then the data-quality checks of the run's sessions (quantmini/quality.py),
    written under metadata/quality/; alerts one line each on stderr. A check that cannot run
    must not hide the run's result: it is one line too."""
    if not run.sessions or not run.datasets:
        return
    record_unpublished(run, unpublished)
    if not config["quality"]:
        return
    from . import quality
    from . import store as lake_store

    try:
        if store is not None:
            lake_store.sync_sidecars(store, run.lake.root)
        checks = quality.evaluate_config(run.lake, config, list(run.sessions), list(run.datasets))
        quality.write_reports(run.lake, checks, list(run.sessions), list(run.datasets))
    except Exception as exc:  # noqa: BLE001
        print(f"quantmini: quality checks not run: {redact(str(exc))}", file=sys.stderr)
        return
    for check in quality.alerts(checks):
        print(f"quantmini: quality ALERT {check.line}", file=sys.stderr)


def settle_actions(plan) -> None:
    """After a run whose jobs all succeeded: record the silver actions its gold sessions are
    complete against, so that the next plan covers only the sessions its own pulls can
    change (quantmini.plan.Planner.actions_settled). Without gold features nothing is
    recorded, and a record that no longer matches silver is removed."""
    from . import atomic

    path = plan.lake.actions_settled()
    signature = plan.actions_signature()
    if plan.config["gold_features"]:
        atomic.write_text(path, signature + "\n")
    elif os.path.exists(path) and Path(path).read_text().strip() != signature:
        os.remove(path)


def release_scheduler_timers() -> int:
    """Cancel the wake-up timers Snakemake's scheduler leaves behind; returns how many.

    After each scheduling round its job-rate limiter (``--max-jobs-per-timespan``, whose
    timespan cannot be set below 1 s) starts a non-daemon ``threading.Timer`` to wake the
    scheduler again. The last one outlives the run, and Python's exit waits for it: up to a
    second of every run spent doing nothing (measured: 1.0 s of a 15 s nightly run). Called
    when the run has ended, so there is nothing left for them to wake."""
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()
              and getattr(t.function, "__module__", "").startswith("snakemake.scheduling")]
    for t in timers:
        t.cancel()
    return len(timers)


def skip_exit_collection() -> None:
    """Leave every object the run made out of the garbage collection at Python's exit.

    The controller holds the DAG and the `run:` jobs' modules and buffers (hundreds of MB);
    the interpreter's final collection walked them for ~1.2 s after a nightly run had
    finished. The process is ending and the OS takes its memory back whole: frozen objects
    (``gc.freeze``) are skipped by that collection."""
    import gc

    gc.freeze()
