"""Re-published flat files: find the landing copies whose S3 object changed.

Vendors re-publish flat files (corrections, late trades) at the same key. Each landing job
records the object's ETag, size and Last-Modified in its sidecar; when the DAG is built, the
objects of the run's last ``refresh_days`` sessions are listed (one ListObjectsV2 per
dataset and month, not a HEAD per file) and compared with those records. A changed object,
or a landing file whose bronze conversion failed, gets a *correction marker*: a small file
under ``.quantmini/corrections/`` that becomes an input of that landing file's job, so
Snakemake downloads it again and rebuilds everything built from it. Markers stay (the input
set of a landing job only grows), so a converged lake plans nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .datasets import FLATFILE_DATASETS
from .paths import Lake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteObject:
    key: str
    etag: str
    size: int
    last_modified: str

    def identity(self) -> dict:
        return {"etag": self.etag, "size": self.size, "last_modified": self.last_modified}


def _etag(raw: str) -> str:
    return raw.strip('"')


def head(client, bucket: str, key: str) -> RemoteObject:
    """The identity of one object (the landing job records what it downloaded)."""
    r = client.head_object(Bucket=bucket, Key=key)
    return RemoteObject(key, _etag(r["ETag"]), int(r["ContentLength"]), r["LastModified"].isoformat())


def list_prefixes(client, bucket: str, prefixes: list[str]) -> tuple[dict[str, RemoteObject], int]:
    """Every object under the prefixes; returns them by key and the number of requests."""
    out: dict[str, RemoteObject] = {}
    requests = 0
    for prefix in sorted(set(prefixes)):
        token = None
        while True:
            kw = {"Bucket": bucket, "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = client.list_objects_v2(**kw)
            requests += 1
            for o in r.get("Contents", []):
                out[o["Key"]] = RemoteObject(o["Key"], _etag(o["ETag"]), int(o["Size"]), o["LastModified"].isoformat())
            if not r.get("IsTruncated"):
                break
            token = r["NextContinuationToken"]
    return out, requests


def month_prefix(dataset: str, date: str) -> str:
    key = FLATFILE_DATASETS[dataset].s3_key(date)
    return key.rsplit("/", 1)[0] + "/"


def _sidecar(lake: Lake, layer: str, dataset: str, date: str) -> dict | None:
    p = Path(lake.sidecar(layer, dataset, date))
    try:
        return json.loads(p.read_text())
    except (FileNotFoundError, ValueError):
        return None


def stamp_for(lake: Lake, dataset: str, date: str, remote: RemoteObject | None) -> str | None:
    """The correction marker a held landing file needs, or None when it is current.

    - the object's ETag or size differs from the one the landing job recorded:
      ``etag-<new etag>-<hash of the replaced download's time>``;
    - its bronze conversion failed: ``refetch-<hash of that failure>`` (fetched again once
      per failure, in case the vendor fixed it in place).
    """
    landing = _sidecar(lake, "landing", dataset, date)
    if landing is None or landing.get("status") != "success":
        return None
    stats = landing.get("statistics", {})
    if remote is not None and stats.get("etag") is not None:
        if (remote.etag, remote.size) != (stats.get("etag"), stats.get("bytes")):
            # Unique per correction: the new ETag and the download it replaces (an object
            # can go bad -> good -> bad -> good; each step needs a marker of its own).
            held = hashlib.sha256(str(landing.get("timestamp")).encode()).hexdigest()[:8]
            return "etag-" + "".join(c for c in remote.etag if c.isalnum())[:32] + "-" + held
    bronze = _sidecar(lake, "bronze", dataset, date)
    if bronze is not None and bronze.get("status") == "failed":
        digest = hashlib.sha256(f"{bronze.get('timestamp')}|{bronze.get('error')}".encode()).hexdigest()[:16]
        return "refetch-" + digest


def refresh_sessions(sessions: list[str], refresh_days: int, end: str | None) -> list[str]:
    """The last ``refresh_days`` sessions ending at ``end`` (the run's last session)."""
    if not end or refresh_days <= 0:
        return []
    from .sessions import sessions_ending

    return [d.isoformat() for d in sessions_ending(dt.date.fromisoformat(end), refresh_days)]
