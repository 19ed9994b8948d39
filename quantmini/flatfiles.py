"""Download of the vendor's flat files (S3 protocol) into the landing layer.

boto3 with SigV4 against a configurable endpoint: the real service and the sandbox differ
only in ``s3_endpoint``. Transient errors are retried by botocore's standard retry mode.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path


from . import atomic
from .faults import crash_point
from .secrets import get_credential, redact

log = logging.getLogger(__name__)


class FlatFileMissing(RuntimeError):
    """The object does not exist (yet): not published, or not a trading day."""


class FlatFileError(RuntimeError):
    pass


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str
    bucket: str
    region: str
    addressing_style: str
    access_key_env: str
    secret_key_env: str
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @classmethod
    def from_config(cls, config: dict) -> "S3Settings":
        from .settings import with_defaults

        config = with_defaults(dict(config))
        return cls(
            endpoint_url=config["s3_endpoint"],
            bucket=config["s3_bucket"],
            region=config["s3_region"],
            addressing_style=config["s3_addressing_style"],
            access_key_env=config["s3_access_key_env"],
            secret_key_env=config["s3_secret_key_env"],
            max_attempts=int(config["s3_max_attempts"]),
        )


def make_client(settings: S3Settings):
    """One client per endpoint and credentials, shared by the download jobs that run on
    Snakemake's threads: building one loads botocore's service model (~0.14 s, more than a
    small file's download); a client is thread-safe once built."""
    access = get_credential(settings.access_key_env)
    secret = get_credential(settings.secret_key_env)
    with _CLIENTS_LOCK:
        key = (settings, access, secret)
        if key not in _CLIENTS:
            _CLIENTS[key] = _new_client(settings, access, secret)
        return _CLIENTS[key]


_CLIENTS: dict = {}
_CLIENTS_LOCK = threading.Lock()


def _new_client(settings: S3Settings, access: str, secret: str):
    import boto3  # imported here: every job process imports this module, few download
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=access, aws_secret_access_key=secret, region_name=settings.region)
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.addressing_style},
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        ),
    )


def download(settings: S3Settings, key: str, dest: str | Path, client=None) -> int:
    """Fetch ``s3://bucket/key`` to ``dest`` atomically; returns the byte count."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    client = client or make_client(settings)
    dest = Path(dest)
    where = f"s3://{settings.bucket}/{key}"
    try:
        with atomic.atomic_path(dest) as tmp:
            client.download_file(settings.bucket, key, str(tmp))
            size = tmp.stat().st_size
            crash_point("landing.downloaded")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            raise FlatFileMissing(f"{where} does not exist (not yet published, or not a trading day)") from None
        if code in ("403", "AccessDenied", "Forbidden"):
            raise FlatFileError(
                f"{where}: access denied (check the S3 credentials, the plan's history window, or whether the file is published yet)"
            ) from None
        raise FlatFileError(f"{where}: S3 error {code}: {redact(exc)}") from None
    except EndpointConnectionError:
        raise FlatFileError(f"{where}: cannot reach the S3 endpoint {settings.endpoint_url}") from None
    log.info("downloaded %s (%d bytes) to %s", where, size, dest)
    return size
