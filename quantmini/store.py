"""The lake in an object store: bronze and silver (and landing) as S3 objects.

Run with ``--default-storage-provider s3 --default-storage-prefix s3://bucket/prefix``,
Snakemake keeps every input and output of the lake's landing, bronze and silver layers as
an object ``<prefix>/<lake path>`` (snakemake-storage-plugin-s3) and gives each job a local
copy. What Snakemake does not manage, this module does, with the same key mapping:

- the workflow finds what the lake holds by listing the store (:meth:`LakeStore.listing`),
  never the local disk, so a run on any node plans the same jobs;
- a job's sidecar goes to the store next to its layer (:func:`mirror_sidecar`), so the
  metadata travels with the data, failures included;
- the controller mirrors the sidecars down before it reads them (summary, quality, gaps)
  and fetches the few lake files it reads itself (:func:`readable`).

Gold (features and the Qlib store) stays on local or shared disk by design: Qlib reads a
filesystem, and the gold rules mark their outputs ``local``.

The jobs learn the store from the environment the workflow sets
(``QUANTMINI_LAKE_STORE``, ``QUANTMINI_LAKE_STORE_ENDPOINT``); credentials are the storage
plugin's own variables (``SNAKEMAKE_STORAGE_S3_ACCESS_KEY``/``_SECRET_KEY``) or boto3's chain.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .paths import Lake
from .secrets import register_secret

STORE_ENV = "QUANTMINI_LAKE_STORE"
ENDPOINT_ENV = "QUANTMINI_LAKE_STORE_ENDPOINT"
ACCESS_ENV = "SNAKEMAKE_STORAGE_S3_ACCESS_KEY"
SECRET_ENV = "SNAKEMAKE_STORAGE_S3_SECRET_KEY"
CACHE_ENV = "QUANTMINI_STORE_CACHE"

# Layers whose files live in the store; gold and the run's summaries stay local.
STORED_LAYERS = ("landing", "bronze", "silver")


class StoreError(ValueError):
    """The store is misconfigured (one line, names the setting)."""


@dataclass(frozen=True)
class LakeStore:
    """``s3://bucket/prefix``: the object ``<prefix>/<path>`` holds the lake file ``<path>``
    (a path relative to the working directory, as Snakemake's default storage maps it)."""

    bucket: str
    prefix: str
    endpoint_url: str | None = None

    @classmethod
    def parse(cls, url: str, endpoint_url: str | None = None) -> "LakeStore":
        if not url.startswith("s3://") or not url[5:].strip("/"):
            raise StoreError(f"default storage prefix {url!r}: expected s3://bucket[/prefix]")
        bucket, _, prefix = url[5:].partition("/")
        return cls(bucket, prefix.strip("/"), endpoint_url or None)

    @classmethod
    def from_env(cls) -> "LakeStore | None":
        url = os.environ.get(STORE_ENV)
        return cls.parse(url, os.environ.get(ENDPOINT_ENV)) if url else None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, path: str | Path) -> str:
        rel = os.path.normpath(str(path))
        if os.path.isabs(rel) or rel.startswith(".."):
            raise StoreError(f"{path}: the lake root must be a relative path to live in an object store")
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def path(self, key: str) -> str:
        return key[len(self.prefix) + 1:] if self.prefix else key

    @cached_property
    def _client(self):
        """One boto3 client per store object (made on first use: listing-free runs pay none)."""
        import boto3
        from botocore.config import Config

        access, secret = os.environ.get(ACCESS_ENV), os.environ.get(SECRET_ENV)
        register_secret(access)
        register_secret(secret)
        session = boto3.session.Session(aws_access_key_id=access or None, aws_secret_access_key=secret or None,
                                        region_name=os.environ.get("SNAKEMAKE_STORAGE_S3_REGION") or "us-east-1")
        return session.client("s3", endpoint_url=self.endpoint_url,
                              config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}))

    def client(self):
        return self._client

    def listing(self, under: str | Path) -> dict[str, tuple[int, str]]:
        """Every object under the lake folder ``under``: path -> (size, ETag)."""
        prefix = self.key(under).rstrip("/") + "/"
        out: dict[str, tuple[int, str]] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[self.path(obj["Key"])] = (int(obj["Size"]), obj["ETag"].strip('"'))
        return out

    def put(self, path: str | Path) -> None:
        self.client().upload_file(str(path), self.bucket, self.key(path))

    def delete(self, path: str | Path) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=self.key(path))

    def get(self, path: str | Path, dest: str | Path) -> None:
        """Download the object of lake file ``path`` to ``dest`` (temporary name, then rename)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        self.client().download_file(self.bucket, self.key(path), str(tmp))
        os.replace(tmp, dest)


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _current(path: Path, size: int, etag: str) -> bool:
    """Whether the local file is the object (size, and the MD5 a single-part ETag is)."""
    if not path.is_file() or path.stat().st_size != size:
        return False
    return "-" in etag or _md5(path) == etag


def glob_listing(listing, pattern: str) -> list[str]:
    """The listed paths matching a glob pattern, ``*`` within one path segment (as glob)."""
    parts = pattern.split("/")
    return sorted(p for p in listing if len(p.split("/")) == len(parts)
                  and all(fnmatch.fnmatchcase(a, b) for a, b in zip(p.split("/"), parts)))


def sync_sidecars(store: LakeStore, lake_root: str) -> int:
    """Mirror the stored layers' sidecars down into the local lake's metadata folder (only
    the changed ones; those the store dropped are dropped), so the summary, the quality checks and ``gaps`` read what every node
    recorded. Returns the number downloaded."""
    n = 0
    for layer in STORED_LAYERS:
        listing = store.listing(Lake(lake_root).metadata_layer(layer))
        for path, (size, etag) in listing.items():
            if path.endswith(".json") and not _current(Path(path), size, etag):
                store.get(path, path)
                n += 1
        # A mirrored sidecar the store no longer holds (its job started again and did not
        # finish) is gone here too; watermarks, written here, are not sidecars.
        for local in Path(Lake(lake_root).metadata_layer(layer)).glob("*/[0-9][0-9][0-9][0-9]/[0-9][0-9]/*.json"):
            if os.path.normpath(str(local)) not in listing:
                local.unlink()
    return n


def sync_sidecars_from_env(lake_root: str) -> int:
    """:func:`sync_sidecars` when the lake lives in a store (the summary and report jobs)."""
    from botocore.exceptions import BotoCoreError, ClientError

    store = LakeStore.from_env()
    if store is None:
        return 0
    try:
        return sync_sidecars(store, lake_root)
    except (BotoCoreError, ClientError) as exc:  # one line for a command, no traceback
        raise StoreError(f"lake object store {store.url}: {exc}") from exc


def mirror_sidecar(path: str | Path, layer: str) -> None:
    """A job's sidecar to the store, beside its layer (when the lake lives in one)."""
    store = LakeStore.from_env()
    if store is not None and layer in STORED_LAYERS:
        store.put(path)


def forget_sidecar(path: str | Path, layer: str) -> None:
    """A job's stored sidecar removed when the job starts, as on disk: the record of a job
    that did not finish never says ``success``."""
    store = LakeStore.from_env()
    if store is not None and layer in STORED_LAYERS:
        store.delete(path)


def readable(path: str | Path, cache_root: str | Path | None = None) -> str:
    """A local path holding lake file ``path``: itself when the lake is on disk, else a
    cached copy of its object (refreshed when the object changed); a path the store does
    not hold comes back as it is, missing, for the caller to treat as on disk."""
    store = LakeStore.from_env()
    if store is None or Path(path).exists():  # on disk, or a job's local copy of an input
        return str(path)
    cache = Path(cache_root or os.environ.get(CACHE_ENV) or Lake(".").store_cache()) / os.path.normpath(str(path))
    listing = store.listing(os.path.dirname(os.path.normpath(str(path))))
    meta = listing.get(os.path.normpath(str(path)))
    if meta is None:  # not stored (yet): missing, as it would be on disk
        return str(path)
    # Asked once per gold session: the copy this process fetched or checked is not hashed again.
    if _CHECKED.get(str(cache)) != meta or not cache.is_file():
        if not _current(cache, *meta):
            store.get(path, cache)
        _CHECKED[str(cache)] = meta
    return str(cache)


#: cached copy -> the (size, ETag) of the object it was last checked against, per process
_CHECKED: dict[str, tuple[int, str]] = {}


def open_for_run(provider: str | None, prefix: str | None, provider_settings, lake,
                 mirror_sidecars: bool = True) -> "LakeStore | None":
    """The object store holding a run's landing, bronze and silver layers (``--default-storage-
    provider s3 --default-storage-prefix s3://bucket/prefix``), or None for a lake on disk.

    It sets, in this process's environment, the variables its jobs learn the store from (they
    inherit it; the controller's own listings read them too), then, in the controller only
    (``mirror_sidecars``), mirrors down the sidecars recorded on any node, so what reads them
    (corrections, summary, quality) sees the whole lake. A job's own Snakemake process (a
    cluster job parses the workflow again) must not: the mirror drops local sidecars the store
    lacks, and a sidecar another job on the same filesystem has just written and not yet
    uploaded is one of them (its job then failed). Every problem is one StoreError line,
    credentials redacted."""
    if not provider:
        return None
    if provider != "s3":
        raise StoreError(f"--default-storage-provider {provider}: the lake's object store must be s3")
    s3 = provider_settings["s3"].get_settings()
    store = LakeStore.parse(prefix or "", s3.endpoint_url)
    store.key(lake.root)  # refuses an absolute lake root
    os.environ.update(job_environment(store, lake, s3))
    if not mirror_sidecars:
        return store
    try:
        sync_sidecars(store, lake.root)
    except Exception as exc:  # noqa: BLE001 - one line, credentials redacted
        from .secrets import redact

        raise StoreError(f"object store {store.url}: {redact(str(exc))}") from None
    return store


def job_environment(store: LakeStore, lake, s3_settings) -> dict[str, str]:
    """The variables a job learns the store from (set by the workflow for its jobs):
    where the store is, where cached copies go, and the storage plugin's credentials."""
    env = {STORE_ENV: store.url, CACHE_ENV: lake.store_cache()}
    if s3_settings.endpoint_url:
        env[ENDPOINT_ENV] = s3_settings.endpoint_url
    for var, value in ((ACCESS_ENV, s3_settings.access_key), (SECRET_ENV, s3_settings.secret_key)):
        if value:
            env[var] = value
    return env


def listing_of(store: LakeStore, lake_root: str):
    """The planner's view of a stored lake (quantmini.plan.LakeListing): the stored layers'
    objects, listed once per DAG build; gold on the local disk; stored files read through
    cached copies."""
    import glob
    from functools import cache

    from .plan import LakeListing

    @cache
    def objects() -> dict[str, tuple[int, str]]:
        held: dict[str, tuple[int, str]] = {}
        for folder in Lake(lake_root).stored_dirs():
            held.update(store.listing(folder))
        return held

    return LakeListing(
        glob=lambda pattern: glob_listing(objects(), os.path.normpath(pattern)),
        has=lambda path: os.path.normpath(path) in objects(),
        local_glob=glob.glob,
        readable=readable,
    )
