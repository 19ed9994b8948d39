#!/usr/bin/env bash
# Stand-in batch scheduler, submit (like sbatch or qsub): queues the Snakemake jobscript and
# prints a job id. As on a batch system the job starts later (QUANTMINI_SCHEDULER_DELAY
# seconds, default 2), in a working directory of its own under the spool, with a fresh
# environment holding only HOME, PATH, LANG, TMPDIR and the variables named in
# QUANTMINI_SCHEDULER_EXPORT (like sbatch --export=...; default: every MASSIVE_*, POLYGON_*,
# QUANTMINI_*, QUANTLAKE_* and SNAKEMAKE_STORAGE_* variable). status.sh and cancel.sh take the id.
# The spool is QUANTMINI_SCHEDULER_SPOOL, default .quantmini-scheduler in the directory
# Snakemake runs in. Replace the three scripts with your scheduler's commands, or use the
# SLURM profile (profiles/slurm).
set -euo pipefail
jobscript="$1"
here="$(cd "$(dirname "$0")" && pwd)"
spool="${QUANTMINI_SCHEDULER_SPOOL:-$PWD/.quantmini-scheduler}"
id="$(date +%s%N)-$$-$RANDOM"
dir="$spool/$id"
mkdir -p "$dir/work"
cp "$jobscript" "$dir/jobscript.sh"
echo PENDING > "$dir/state"
# The job's environment, as the scheduler stores it until the job starts (owner-only; the
# job removes it when it starts). Never on a command line, where ps would show a secret.
(
    umask 077
    {
        printf '%s\n' "HOME=$HOME" "PATH=$PATH" "LANG=${LANG:-C.UTF-8}" "TMPDIR=${TMPDIR:-/tmp}"
        # Default: the variables quantmini reads (credentials or their _FILE names, the lake
        # root, the object store's settings), as a user would list them in sbatch --export.
        names="${QUANTMINI_SCHEDULER_EXPORT:-$(compgen -e | grep -E '^(MASSIVE_|POLYGON_|QUANTMINI_|QUANTLAKE_|SNAKEMAKE_STORAGE_)' || true)}"
        for name in $names; do
            if [ -n "${!name+x}" ]; then printf '%s\n' "$name=${!name}"; fi
        done
    } > "$dir/environment"
)
setsid nohup bash "$here/runjob.sh" "$dir" "${QUANTMINI_SCHEDULER_DELAY:-2}" > "$dir/output.log" 2>&1 < /dev/null &
echo "$id"
