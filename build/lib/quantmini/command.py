"""The one place a Snakemake command line for this workflow is built: by ``quantmini
backfill``, the tests and the benches (the cron wrapper, a shell script, builds its own from
the same options)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

WORKFLOW_DIR = Path(__file__).resolve().parents[1]


def snakemake_executable() -> str:
    """``$SNAKEMAKE``, else the snakemake beside this Python (the venv's)."""
    return os.environ.get("SNAKEMAKE") or str(Path(sys.executable).with_name("snakemake"))


def snakemake_command(*, workdir: str | Path | None = None, profile: str | Path | None = None,
                      config: dict | list | None = None, extra: list[str] | tuple[str, ...] = (),
                      snakefile: str | Path | None = None) -> list[str]:
    """``snakemake --snakefile <workflow>/Snakefile [--directory D] [--profile P] [extra...]
    [--config k=v ...]``; ``config`` is a dict (``k=v`` each) or ready ``k=v`` strings. The
    config comes last: ``--config`` takes every word after it."""
    cmd = [snakemake_executable(), "--snakefile", str(snakefile or WORKFLOW_DIR / "Snakefile")]
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    cmd += list(extra)
    if config:
        items = [f"{k}={v}" for k, v in config.items()] if isinstance(config, dict) else list(config)
        cmd += ["--config", *items]
    return cmd
