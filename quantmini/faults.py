"""Crash points for the reliability tests: ``QUANTMINI_CRASH_AT=<name>`` makes the job
SIGKILL its whole process group (Snakemake included) at that point, as a power cut or an
OOM kill would. Unset in normal runs, where each check is one dictionary lookup."""

from __future__ import annotations

import os
import signal

ENV = "QUANTMINI_CRASH_AT"

#: Where a run can be killed; docs/RELIABILITY.md lists what each one proves.
POINTS = ("landing.downloaded", "bronze.mid_write", "qlib.mid_update", "qlib_minute.mid_update", "sidecar.mid_write",
          "silver.between_files")


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
