"""Start, stop and inspect a background sandbox (``quantmini sandbox start|stop|status``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_STATE_DIR = ".sandbox"


#: what the sandbox server imports beyond quantmini's own dependencies (the ``sandbox`` extra)
SERVER_MODULES = ("flask", "werkzeug", "moto")


def missing_modules() -> list[str]:
    """The sandbox extra's modules this environment lacks."""
    import importlib.util

    return [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]


def free_port() -> int:
    """A free TCP port on loopback (for sandboxes started by tests and benchmarks)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_dir() -> Path:
    return Path(os.environ.get("QUANTMINI_SANDBOX_DIR", DEFAULT_STATE_DIR))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state() -> dict | None:
    path = state_dir() / "state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not _alive(int(state["pid"])):
        path.unlink(missing_ok=True)
        return None
    return state


def _busy_ports(extra_args: list[str]) -> list[str]:
    """The requested (or default) loopback ports that something else already holds."""
    import socket

    from .server import DEFAULT_REST_PORT, DEFAULT_S3_PORT

    wanted = {"--s3-port": DEFAULT_S3_PORT, "--rest-port": DEFAULT_REST_PORT}
    for i, arg in enumerate(extra_args[:-1]):
        if arg in wanted:
            wanted[arg] = int(extra_args[i + 1])
    busy = []
    for option, port in wanted.items():
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"port {port} ({option}) is already in use on 127.0.0.1")
    return busy


def start(extra_args: list[str], timeout: float = 300.0) -> dict:
    current = read_state()
    if current:
        return current
    busy = _busy_ports(extra_args)
    if busy:
        # Fail at once, naming the port: the server would otherwise die in its thread and the
        # wait below would run to its timeout.
        raise RuntimeError("; ".join(busy) + " (choose others with --s3-port/--rest-port)")
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    state_file = folder / "state.json"
    log_path = folder / "sandbox.log"
    proc = launch(extra_args, state_file, log_path, detach=True)
    return wait_ready(proc, state_file, log_path, timeout)


def launch(args: list[str], state_file: Path, log_path: Path | None = None, env: dict | None = None,
           detach: bool = False) -> subprocess.Popen:
    """Start a sandbox server process (``quantmini.sandbox.server`` with ``args``) that writes
    its ports to ``state_file`` when ready: the one launcher of the demo (``quantmini sandbox
    start``), the tests and the benchmarks. ``detach`` puts it in a session of its own, so it
    outlives the command that started it."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "quantmini.sandbox.server", "--state-file", str(state_file), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=detach,
        )
    finally:
        if log_path:
            log.close()


def wait_ready(proc: subprocess.Popen, state_file: Path, log_path: Path | None = None, timeout: float = 300.0) -> dict:
    """The sandbox's state (ports, window) once it is ready; a clear error with the log's tail
    when it exits or does not become ready in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state_file.exists():
            return json.loads(state_file.read_text())
        if proc.poll() is not None:
            tail = Path(log_path).read_text()[-2000:] if log_path else ""
            raise RuntimeError(f"sandbox exited with code {proc.returncode}; last log lines:\n{tail}")
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"sandbox did not become ready within {timeout:.0f} s (log: {log_path})")


def stop(timeout: float = 20.0) -> bool:
    state = read_state()
    if not state:
        return False
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (state_dir() / "state.json").unlink(missing_ok=True)
    return True
