"""Shared fixtures: a sandbox on free loopback ports, and a runner for the real workflow."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from quantmini.command import snakemake_command
from quantmini.sandbox import control

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")

# Distinctive credentials: tests search the lake and logs for them.
S3_KEY = "QMTESTS3ACCESSKEY7F3A"
S3_SECRET = "qm-test-s3-secret-9b1c4e2d7a"
API_KEY = "qm-test-api-key-5d8e1f0c3b"

SANDBOX_START = "2024-06-03"
SANDBOX_END = "2024-06-28"
SANDBOX_TICKERS = 300
INTRADAY_DAYS = 3  # minute and options files for 2024-06-26 .. 2024-06-28
OPTION_UNDERLYINGS = 12


@dataclass
class Sandbox:
    s3_endpoint: str
    rest_url: str
    state: dict
    fixtures: str | None

    def post(self, path: str, json_body: dict | None = None) -> dict:
        import requests

        r = requests.post(self.rest_url + path, json=json_body, timeout=60)
        r.raise_for_status()
        return r.json()

    def calls(self) -> dict:
        import requests

        return requests.get(self.rest_url + "/_sandbox/calls", timeout=10).json()

    def faults(self, *faults: dict) -> dict:
        return self.post("/_sandbox/faults", {"faults": list(faults)})

    def clear_faults(self) -> None:
        import requests

        requests.delete(self.rest_url + "/_sandbox/faults", timeout=10).raise_for_status()

    def s3_faults(self, *faults: dict) -> dict:
        """Queue faults on the S3 server (quantmini.sandbox.server.S3Faults)."""
        return self.post("/_sandbox/s3_faults", {"faults": list(faults)})

    def s3_fault_counts(self) -> dict:
        import requests

        return requests.get(self.rest_url + "/_sandbox/s3_faults", timeout=10).json()

    def clear_s3_faults(self) -> None:
        import requests

        requests.delete(self.rest_url + "/_sandbox/s3_faults", timeout=10).raise_for_status()

    def rate_limit(self, calls: int, period: float = 60.0) -> dict:
        return self.post(f"/_sandbox/rate_limit?calls={calls}&period={period}")


def pytest_collection_modifyitems(config, items):
    """Tests that use the sandbox (sockets) carry the ``sandbox`` marker, so that
    ``make test-fast`` (``-m "not workflow and not sandbox"``) selects the rest."""
    for item in items:
        if {"sandbox", "quiet_sandbox"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sandbox)


@pytest.fixture(autouse=True)
def _fast_means_no_socket_and_no_snakemake(monkeypatch):
    """Under ``make test-fast`` (QUANTMINI_TEST_FAST=1) a test that opens a network connection
    or starts Snakemake fails at once: it belongs to the full suite and needs its marker."""
    if os.environ.get("QUANTMINI_TEST_FAST") != "1":
        yield
        return
    import socket

    def no_connect(self, address, *args, **kwargs):
        raise AssertionError(f"make test-fast: a network connection to {address} (mark the test 'sandbox' or 'workflow')")

    real_popen = subprocess.Popen.__init__

    def no_snakemake(self, args, *a, **kw):
        argv = [args] if isinstance(args, (str, bytes)) else list(args)
        if argv and str(argv[0]).endswith("snakemake"):
            raise AssertionError("make test-fast: a Snakemake process (mark the test 'workflow')")
        real_popen(self, args, *a, **kw)

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_snakemake)
    yield


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Sandbox:
    folder = tmp_path_factory.mktemp("sandbox")
    state_file, log_path = folder / "state.json", folder / "sandbox.log"
    proc = control.launch(
        ["--s3-port", str(control.free_port()), "--rest-port", str(control.free_port()),
         "--tickers", str(SANDBOX_TICKERS), "--start", SANDBOX_START, "--end", SANDBOX_END,
         "--intraday-days", str(INTRADAY_DAYS), "--option-underlyings", str(OPTION_UNDERLYINGS)],
        state_file, log_path, env=dict(os.environ, QUANTMINI_SANDBOX_API_KEY=API_KEY),
    )
    state = control.wait_ready(proc, state_file, log_path, timeout=120)
    yield Sandbox(state["s3_endpoint"], state["rest_url"], state, state.get("fixtures"))
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture()
def quiet_sandbox(sandbox):
    """No injected faults and no rate limit before and after a test that changes them."""
    sandbox.clear_faults()
    sandbox.clear_s3_faults()
    sandbox.rate_limit(0)
    yield sandbox
    sandbox.clear_faults()
    sandbox.clear_s3_faults()
    sandbox.rate_limit(0)


def workflow_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "QUANTLAKE_ROOT"}
    env.update(
        MASSIVE_S3_ACCESS_KEY=S3_KEY,
        MASSIVE_S3_SECRET_KEY=S3_SECRET,
        MASSIVE_API_KEY=API_KEY,
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra or {})
    return env


def run_workflow(workdir: Path, sandbox: Sandbox, *args: str, config: dict | None = None, env: dict | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
    """Run the real workflow (demo profile) in ``workdir`` against the sandbox."""
    cfg = {"s3_endpoint": sandbox.s3_endpoint, "rest_base_url": sandbox.rest_url, "datasets": "[stocks_daily]",
           "rest_datasets": "[]", "rate_limit_calls": 0,
           "days_back": 1}  # the demo profile's config file holds a 19-session window
    cfg.update(config or {})
    cmd = snakemake_command(workdir=workdir, profile=REPO / "profiles" / "demo", extra=args, config=cfg)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=workflow_env(env), cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def cluster_cmd(workdir: Path, sandbox: Sandbox, config: dict, *extra: str) -> list[str]:
    """The workflow through profiles/cluster's stand-in batch scheduler (submit, status, cancel)."""
    cluster = REPO / "profiles" / "cluster"
    cfg = {"s3_endpoint": sandbox.s3_endpoint, "rest_base_url": sandbox.rest_url, "datasets": "[stocks_daily]",
           "rate_limit_calls": 0, **config}
    return snakemake_command(
        workdir=workdir, profile=cluster, config=cfg,
        extra=[*[f"--cluster-generic-{kind}-cmd={cluster / f'{kind}.sh'}" for kind in ("submit", "status", "cancel")],
               # Snakemake asks the scheduler every 10 s by default (courteous to a real one):
               # a test's chain of six dependent jobs then waits a minute for nothing.
               "--latency-wait", "5", "--max-status-checks-per-second", "10", "--seconds-between-status-checks", "1",
               *extra])


def snapshot(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file under root, run state (``.quantmini/``) aside."""
    exclude = (*exclude, ".quantmini/")
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel.startswith(e) for e in exclude):
            st = p.stat()
            out[rel] = (st.st_mtime_ns, st.st_size)
    return out
