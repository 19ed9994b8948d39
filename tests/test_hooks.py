"""The end-of-run hooks that keep a finished Snakemake process from idling before it exits."""

from __future__ import annotations

import gc
import threading
import types

from quantmini import hooks


def _timer(module: str) -> threading.Timer:
    """A started timer whose function comes from ``module`` (Snakemake's scheduler makes its
    wake-ups from a lambda in snakemake.scheduling.job_scheduler)."""
    fn = types.FunctionType((lambda: None).__code__, {"__name__": module})
    assert fn.__module__ == module
    t = threading.Timer(60, fn)
    t.daemon = True  # if the test fails, the timer must not hold the test process either
    t.start()
    return t


def test_the_schedulers_wakeup_timers_are_cancelled_and_no_other():
    ours = _timer("quantmini.something")
    theirs = [_timer("snakemake.scheduling.job_scheduler") for _ in range(2)]
    try:
        assert hooks.release_scheduler_timers() == 2
        for t in theirs:
            t.join(timeout=5)
            assert not t.is_alive() and t.finished.is_set()
        assert ours.is_alive() and not ours.finished.is_set()
        assert hooks.release_scheduler_timers() == 0
    finally:
        ours.cancel()


def test_objects_made_before_the_run_ended_are_left_out_of_the_exit_collection():
    gc.unfreeze()
    before = gc.get_freeze_count()
    kept = [[i] for i in range(1000)]  # tracked containers the collector would walk
    try:
        hooks.skip_exit_collection()
        assert gc.get_freeze_count() >= before + len(kept)
    finally:
        gc.unfreeze()
