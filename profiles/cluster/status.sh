#!/usr/bin/env bash
# Stand-in batch scheduler, status (like sacct): prints running, success or failed, the three
# words Snakemake's cluster-generic executor reads. A job the spool does not know failed.
set -euo pipefail
spool="${QUANTMINI_SCHEDULER_SPOOL:-$PWD/.quantmini-scheduler}"
state="$(cat "$spool/$1/state" 2>/dev/null || echo UNKNOWN)"
case "$state" in
    PENDING | RUNNING) echo running ;;
    COMPLETED) echo success ;;
    *) echo failed ;;
esac
