"""Before the first job of a run: one Snakemake process per lake, and endpoints that answer.

Snakemake's own lock lives in the working directory (``.snakemake/locks``), so two runs from
two working directories on the same lake would both proceed. The run therefore takes an
exclusive ``flock`` on ``<lake>/.quantmini/run.lock`` for the life of the Snakemake process
(released by the kernel however the process ends, SIGKILL included). The cron wrapper's
lock is a different file, so the wrapper's own run is not refused.

The preflight opens a TCP connection to each endpoint the run will use, so an unreachable
host is one line naming the config key instead of a failed job per target.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

_HELD: list = []  # open lock files, kept for the life of the process


class LakeBusy(RuntimeError):
    pass


class Unreachable(RuntimeError):
    pass


class LocksUnsupported(RuntimeError):
    pass


# QUANTMINI_FLOCK=broken: pretend the lake's filesystem ignores locks (the probe's own test).
FLOCK_FAULT = "QUANTMINI_FLOCK"


def _other_process_can_lock(path: Path) -> bool:
    """Whether a second process takes an exclusive flock on ``path`` (it must not while we
    hold one). A child process, not a second descriptor here: flock is per open file
    description, and the rate limiter and the run lock are taken by different processes."""
    import subprocess
    import sys

    code = ("import fcntl,sys\n"
            "f=open(sys.argv[1],'a+')\n"
            "try:\n fcntl.flock(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept BlockingIOError:\n sys.exit(3)\n"
            "except OSError as e:\n print(e,file=sys.stderr); sys.exit(4)\n"
            "sys.exit(0)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    if proc.returncode == 4:
        raise LocksUnsupported(proc.stderr.strip() or "flock failed")
    return proc.returncode == 0


def probe_locks(lake_root: str) -> None:
    """Refuse a lake whose filesystem does not honour ``flock``: the run lock and the API
    rate limit (calls per minute, shared by every job on the lake) rely on it, and some
    network filesystems accept the call but do not enforce it. Probed with a lock held here
    and a second process that must be refused."""
    path = Path(lake_root) / ".quantmini" / "flock-probe"
    path.parent.mkdir(parents=True, exist_ok=True)
    advice = ("put the lake on a filesystem with working locks (a local disk, or NFS/Lustre mounted with "
              "lock support), or run every REST pull in one job group on one node (profiles/slurm does: group 'api')")
    with open(path, "a+") as fh:
        try:
            if os.environ.get(FLOCK_FAULT) == "unsupported":
                raise OSError(37, "No locks available")
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another quantmini probe holds it right now: locks work
        except OSError as exc:
            raise LocksUnsupported(f"the lake's filesystem does not support file locks ({lake_root}: {exc}); {advice}") from None
        try:
            try:
                takes = _other_process_can_lock(path) or os.environ.get(FLOCK_FAULT) == "broken"
            except LocksUnsupported as exc:
                raise LocksUnsupported(f"the lake's filesystem does not support file locks ({lake_root}: {exc}); {advice}") from None
            if takes:
                raise LocksUnsupported(f"the lake's filesystem ignores file locks ({lake_root}: a second process "
                                       f"took a lock this one held); {advice}")
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_path(lake_root: str) -> Path:
    return Path(lake_root) / ".quantmini" / "run.lock"


def hold_lake_lock(lake_root: str) -> Path:
    path = lock_path(lake_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise LakeBusy(
            f"another run is using the lake {lake_root} (process {holder}, lock {path}); "
            "wait for it to finish, or stop it, then run again"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()} on {socket.gethostname()}\n")
    fh.flush()
    _HELD.append(fh)
    return path


def check_reachable(key: str, url: str, timeout: float = 5.0) -> None:
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise Unreachable(f"config key '{key}': {url!r} has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Unreachable(f"config key '{key}': cannot reach {url} ({reason}); check the address and the network") from None


def preflight(config: dict, needs_s3: bool, needs_rest: bool) -> None:
    """Credentials present and endpoints reachable, for the services this run will use.

    Reads the same settings the jobs use (``S3Settings``, ``RestSettings``), so the variable
    names and endpoints checked are the ones the jobs will read.
    """
    from .flatfiles import S3Settings
    from .rest.client import RestSettings
    from .secrets import MissingCredential, get_credential, redact

    checks: list[tuple[list[str], str, str]] = []  # (credential names, config key, url)
    if needs_s3:
        s3 = S3Settings.from_config(config)
        checks.append(([s3.access_key_env, s3.secret_key_env], "s3_endpoint", s3.endpoint_url))
    if needs_rest:
        rest = RestSettings.from_config(config)
        checks.append(([rest.api_key_env], "rest_base_url", rest.base_url))
    for names, _, _ in checks:
        for name in names:
            try:
                get_credential(name)
            except MissingCredential as exc:
                raise Unreachable(str(exc)) from None
    for _, key, url in checks:
        try:
            check_reachable(key, url)
        except Unreachable as exc:
            raise Unreachable(redact(exc)) from None
    if needs_s3:
        check_bucket(s3)


def check_bucket(s3) -> None:
    """One listing of the bucket: a missing bucket or a denied listing is a configuration
    error, found before any job runs (not a file reported as late, once per session)."""
    import dataclasses

    from botocore.exceptions import BotoCoreError, ClientError

    from .flatfiles import make_client
    from .secrets import redact

    settings = dataclasses.replace(s3, max_attempts=1, connect_timeout=5, read_timeout=20)
    try:
        make_client(settings).list_objects_v2(Bucket=s3.bucket, MaxKeys=1)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket", "404"):
            raise Unreachable(f"config key 's3_bucket': bucket {s3.bucket!r} does not exist at {s3.endpoint_url}") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise Unreachable(
                f"config key 's3_bucket': listing bucket {s3.bucket!r} at {s3.endpoint_url} is denied ({code}); "
                f"check {s3.access_key_env}/{s3.secret_key_env} (the S3 key pair, not the REST key)"
            ) from None
        raise Unreachable(redact(f"config key 's3_bucket': bucket {s3.bucket!r}: S3 error {code}")) from None
    except BotoCoreError as exc:
        raise Unreachable(redact(f"config key 's3_endpoint': {s3.endpoint_url}: {exc}")) from None
