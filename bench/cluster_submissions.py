"""Cluster submissions of a one-year backfill of the four flat-file datasets, with and without
job groups (profiles/slurm), from Snakemake's own dry run: the number of jobs the
controller would submit to SLURM (a group job is one submission; `localrule all` none), and
the controller's wall time to build and schedule the plan.

Needs snakemake-executor-plugin-slurm installed (it is a project dependency); no SLURM, no
network (the dry run submits nothing).

    .venv/bin/python bench/cluster_submissions.py --start 2023-01-03 --end 2023-12-29
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from sandbox import scratch  # bench/sandbox.py: this folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def local_rules() -> set[str]:
    """The Snakefile's ``localrules:`` (a dry run does not mark them)."""
    text = (REPO / "Snakefile").read_text()
    block = re.search(r"^localrules:\n((?:\s+\w+,?\n)+)", text, flags=re.M)
    return {name.strip(" ,\n") for name in block[1].splitlines()} if block else set()


def submissions(output: str) -> tuple[int, dict[str, int]]:
    """Group jobs and ungrouped non-local jobs in a dry run's listing."""
    groups = re.findall(r"Group job (\w+) \(", output)
    heads = re.findall(r"^(?:\[[^\]]+\] )?(local)?rule (\w+):", output, flags=re.M)
    # rules listed inside a group job are indented; top-level job headers start the line
    local = local_rules()
    ungrouped = [name for flag, name in heads if not flag and name not in local]
    per: dict[str, int] = {}
    for g in groups:
        per[f"group {g}"] = per.get(f"group {g}", 0) + 1
    for name in ungrouped:
        per[name] = per.get(name, 0) + 1
    return len(groups) + len(ungrouped), per


def run(profile: Path, workdir: Path, args) -> dict:
    env = dict(os.environ, MASSIVE_S3_ACCESS_KEY="x", MASSIVE_S3_SECRET_KEY="x", MASSIVE_API_KEY="x",
               PATH=f"{BIN}:{os.environ['PATH']}")
    from quantmini.command import snakemake_command

    cmd = snakemake_command(workdir=workdir, profile=profile, extra=["-n"], config=[
        "datasets=[stocks_daily,stocks_minute,options_daily,options_minute]", f"start={args.start}", f"end={args.end}",
        "rest_datasets=[]", f"lake_root={workdir / 'lake'}"])
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    count, per = submissions(proc.stdout + proc.stderr)
    jobs = int(re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, flags=re.M)[1])
    return {"jobs": jobs, "submissions": count, "by_kind": per, "dry_run_wall_s": round(wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", default="2023-01-03")
    ap.add_argument("--end", default="2023-12-29")
    args = ap.parse_args()
    with scratch("qm-bench-cluster-") as work:
        grouped = REPO / "profiles" / "slurm"
        plain = work / "slurm-ungrouped"
        plain.mkdir()
        cfg = yaml.safe_load((grouped / "config.yaml").read_text())
        cfg.pop("groups", None)
        cfg.pop("group-components", None)
        (plain / "config.yaml").write_text(yaml.safe_dump(cfg))
        report = {"window": [args.start, args.end],
                  "grouped": run(grouped, work / "a", args),
                  "ungrouped": run(plain, work / "b", args)}
        report["submission_ratio"] = round(report["grouped"]["submissions"] / report["ungrouped"]["submissions"], 4)
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
