"""Crash points for the reliability tests: ``QUANTMINI_CRASH_AT=<name>`` makes the job
SIGKILL its whole process group (Snakemake included) at that point, as a power cut or an
OOM kill would. Unset in normal runs, where each check is one dictionary lookup."""

from __future__ import annotations

import errno
import os
import signal

ENV = "QUANTMINI_CRASH_AT"

#: Where a run can be killed; docs/RELIABILITY.md lists what each one proves.
POINTS = ("landing.downloaded", "bronze.mid_write", "qlib.mid_update", "qlib_minute.mid_update", "sidecar.mid_write",
          "silver.between_files")


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)


#: ``QUANTMINI_DISK_FULL=1``: every file the lake's writers put in place fails with ENOSPC,
#: as on a full disk (the soak's full-disk night; a loop-mounted filesystem needs root).
DISK_FULL_ENV = "QUANTMINI_DISK_FULL"


def check_disk(path) -> None:
    if os.environ.get(DISK_FULL_ENV) == "1":
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
