#!/usr/bin/env bash
# Stand-in for a batch scheduler's submit command: runs the Snakemake jobscript in the
# background and prints a job id (its pid). Job output goes to logs/cluster/<pid>.log.
set -euo pipefail
jobscript="$1"
mkdir -p logs/cluster
nohup bash "$jobscript" > "logs/cluster/job.$$.$RANDOM.log" 2>&1 &
echo $!
