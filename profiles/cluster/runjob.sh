#!/usr/bin/env bash
# Stand-in batch scheduler, the node side of one job (started by submit.sh, in a session of
# its own so cancel.sh can kill the whole job): wait in the queue, then run the jobscript in
# the job's own directory with only the environment submit.sh stored.
set -uo pipefail
dir="$1"
sleep "$2"
if [ "$(cat "$dir/state")" = CANCELLED ]; then rm -f "$dir/environment"; exit 0; fi
echo $$ > "$dir/pid"
echo RUNNING > "$dir/state"
mapfile -t environment < "$dir/environment"
rm -f "$dir/environment"
cd "$dir/work"
env -i "${environment[@]}" bash "$dir/jobscript.sh"
rc=$?
if [ "$(cat "$dir/state")" != CANCELLED ]; then
    echo "$rc" > "$dir/exit_code"
    if [ "$rc" -eq 0 ]; then echo COMPLETED > "$dir/state"; else echo FAILED > "$dir/state"; fi
fi
