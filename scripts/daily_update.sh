#!/usr/bin/env bash
# Nightly update for cron: one run at a time per lake, a log per run, Snakemake's exit code.
#
#   scripts/daily_update.sh                      # last completed session, workstation profile
#   scripts/daily_update.sh --days-back 7        # re-check the last 7 sessions (fills gaps)
#   scripts/daily_update.sh --date 2024-01-16    # one given session
#   scripts/daily_update.sh --profile profiles/demo -- --dry-run   # extra args after --
#
# crontab (every day: the REST schedule has Sunday and Monday pulls), in New York time:
#   CRON_TZ=America/New_York
#   30 11 * * *  cd /path/to/quantmini && scripts/daily_update.sh >> logs/cron.log 2>&1
# (the vendor publishes a session's files around 11:00 New York time the next day; without
#  --date the run targets the latest session due by then, plus recent pending/failed ones.)
#
# Exit codes: 0 success; Snakemake's code when a job failed; 3 when the run succeeded but a
# data-quality check alerts (the reason on one line; `quantmini quality` shows them all);
# 75 when another run holds the lake's lock (try again later); 2 for a usage error.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

profile="profiles/workstation"
config=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --date) config+=("date=$2"); shift 2 ;;
    --days-back) config+=("days_back=$2"); shift 2 ;;
    --start) config+=("start=$2"); shift 2 ;;
    --end) config+=("end=$2"); shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --) shift
        # Snakemake keeps only the last --config: fold any given after -- into ours, key by key.
        while [ $# -gt 0 ]; do
          if [ "$1" = "--config" ] || [ "$1" = "-C" ]; then
            shift
            while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do config+=("$1"); shift; done
          else extra+=("$1"); shift; fi
        done ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "daily_update.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

snakemake_bin="${SNAKEMAKE:-}"
if [ -z "$snakemake_bin" ]; then
  if [ -x "$here/.venv/bin/snakemake" ]; then snakemake_bin="$here/.venv/bin/snakemake"; export PATH="$here/.venv/bin:$PATH"
  else snakemake_bin="$(command -v snakemake || true)"; fi
fi
[ -n "$snakemake_bin" ] || { echo "daily_update.sh: snakemake not found; run 'make setup' first" >&2; exit 2; }

lake="${QUANTLAKE_ROOT:-./quantlake}"
mkdir -p "$lake" logs/runs
lock="$lake/.quantmini-run.lock"
log="logs/runs/$(date -u +%Y%m%dT%H%M%SZ).log"

exec 9>"$lock"
if ! flock -n 9; then
  echo "daily_update.sh: another quantmini run holds $lock; not starting a second one" >&2
  exit 75
fi

# We hold the lake's lock, so no other run is active: a Snakemake lock left by a killed
# run (power cut, OOM kill) is stale and would block every later run. Clear it.
if [ -n "$(ls -A .snakemake/locks 2>/dev/null)" ]; then
  echo "daily_update.sh: clearing a stale Snakemake lock left by an interrupted run" >&2
  "$snakemake_bin" --profile "$profile" --unlock >/dev/null 2>&1 || true
fi

# One run log here and one in .snakemake/log per night: keep the newest QUANTMINI_KEEP_RUN_LOGS
# (default 90) of each, so that years of nights do not grow them without bound (the soak
# measures it). The lake's own records (sidecars, job logs) are one per partition, not per run.
keep="${QUANTMINI_KEEP_RUN_LOGS:-90}"
case "$keep" in ''|*[!0-9]*) echo "daily_update.sh: QUANTMINI_KEEP_RUN_LOGS must be a whole number, got '$keep'" >&2; exit 2 ;; esac
for dir in logs/runs .snakemake/log; do
  [ -d "$dir" ] || continue
  ls -1t "$dir" 2>/dev/null | { grep -E '\.log$' || true; } | tail -n +"$((keep + 1))" | while read -r old; do rm -f "$dir/$old"; done
done

echo "daily_update.sh: profile $profile, config ${config[*]:-(defaults)}, log $log" >&2
args=(--profile "$profile")
if [ ${#config[@]} -gt 0 ]; then args+=(--config "${config[@]}"); fi
set +e
"$snakemake_bin" "${args[@]}" "${extra[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
quantmini_bin="$(dirname "$snakemake_bin")/quantmini"
[ -x "$quantmini_bin" ] || quantmini_bin="$(command -v quantmini || true)"
if [ -n "$quantmini_bin" ]; then "$quantmini_bin" metadata >> "$log" 2>&1 || true; fi
if [ "$status" -ne 0 ]; then exit "$status"; fi
for arg in "${extra[@]}"; do case "$arg" in -n|--dry-run|--dryrun) exit 0 ;; esac; done

# The run succeeded: its data-quality checks (the workflow wrote them; read them again here
# so this script's exit code carries them). An alert: one line, exit 3.
if [ -n "$quantmini_bin" ]; then
  qargs=(quality --profile "$profile")
  if [ ${#config[@]} -gt 0 ]; then qargs+=(--config "${config[@]}"); fi
  set +e
  "$quantmini_bin" "${qargs[@]}" >> "$log" 2> "$log.alerts"
  qstatus=$?
  set -e
  if [ "$qstatus" -eq 1 ]; then
    echo "daily_update.sh: $(grep -m1 'ALERT' "$log.alerts" | sed 's/^quantmini quality: //')" >&2
    cat "$log.alerts" >> "$log"; rm -f "$log.alerts"
    exit 3
  fi
  cat "$log.alerts" >> "$log"; rm -f "$log.alerts"
fi
exit 0
