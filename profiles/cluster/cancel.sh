#!/usr/bin/env bash
# Stand-in batch scheduler, cancel (like scancel): marks each job CANCELLED and kills its
# whole process group, the jobscript's Snakemake and the work it started; a queued job
# never starts. Snakemake calls it with the ids of its running jobs when it is interrupted.
set -uo pipefail
spool="${QUANTMINI_SCHEDULER_SPOOL:-$PWD/.quantmini-scheduler}"
for id in "$@"; do
    dir="$spool/$id"
    [ -d "$dir" ] || { echo "cancel.sh: no job $id" >&2; continue; }
    echo CANCELLED > "$dir/state"
    rm -f "$dir/environment"  # a queued job's stored environment (credentials) goes with it
    if [ -f "$dir/pid" ]; then
        pid="$(cat "$dir/pid")"
        kill -TERM -- "-$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$pid" 2>/dev/null
    fi
done
exit 0
