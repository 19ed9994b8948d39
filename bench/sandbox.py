"""A private sandbox for one benchmark: started on free loopback ports, stopped after."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
from quantmini.sandbox import control  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls of ``fn``, and its last result."""
    import statistics

    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder for one benchmark, removed after it whatever happens."""
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class BenchSandbox:
    s3_endpoint: str
    rest_url: str
    started_in: float

    def env(self) -> dict[str, str]:
        """The workflow's environment: sandbox credentials (the REST key the sandbox was
        started with), this venv first on PATH."""
        from quantmini.sandbox.server import DEFAULT_API_KEY

        return dict(os.environ, MASSIVE_S3_ACCESS_KEY="bench", MASSIVE_S3_SECRET_KEY="bench",
                    MASSIVE_API_KEY=os.environ.get("QUANTMINI_SANDBOX_API_KEY", DEFAULT_API_KEY),
                    PATH=f"{BIN}:{os.environ['PATH']}")

    def config(self, **extra: str) -> dict[str, str]:
        return {"s3_endpoint": self.s3_endpoint, "rest_base_url": self.rest_url, "datasets": "[stocks_daily]",
                "rest_datasets": "[]", **extra}


@contextlib.contextmanager
def sandbox(work: Path, tickers: int, start: str, end: str, *extra: str) -> Iterator[BenchSandbox]:
    """stocks_daily for [start, end] (plus ``extra`` server arguments)."""
    s3, rest = control.free_port(), control.free_port()
    state = work / "sandbox-state.json"
    t0 = time.perf_counter()
    proc = control.launch(["--s3-port", str(s3), "--rest-port", str(rest), "--tickers", str(tickers), "--start", start,
                           "--end", end, "--datasets", "stocks_daily", *extra], state)
    try:
        try:
            control.wait_ready(proc, state, timeout=1800)
        except RuntimeError as exc:
            raise SystemExit(f"the sandbox did not start: {exc}")
        yield BenchSandbox(f"http://127.0.0.1:{s3}", f"http://127.0.0.1:{rest}", time.perf_counter() - t0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def snakemake_cmd(workdir: Path, config: dict[str, str], *extra: str) -> list[str]:
    from quantmini.command import snakemake_command

    return snakemake_command(workdir=workdir, profile=REPO / "profiles" / "demo", extra=extra,
                             config={"days_back": 1, **config})
