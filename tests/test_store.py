"""quantmini.store against the sandbox's S3 server: key mapping, listing globs, the sidecar
mirror and cached reads."""

from __future__ import annotations

import uuid

import pytest

from quantmini import store

from .conftest import S3_KEY, S3_SECRET


@pytest.fixture()
def lake_store(sandbox, monkeypatch, tmp_path):
    import boto3

    bucket = f"store-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setenv(store.STORE_ENV, f"s3://{bucket}/lakes/a")
    monkeypatch.setenv(store.ENDPOINT_ENV, sandbox.s3_endpoint)
    monkeypatch.setenv(store.ACCESS_ENV, S3_KEY)
    monkeypatch.setenv(store.SECRET_ENV, S3_SECRET)
    monkeypatch.setenv(store.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return store.LakeStore.from_env()


def test_parse_and_keys():
    s = store.LakeStore.parse("s3://bucket/lakes/main/")
    assert (s.bucket, s.prefix, s.url) == ("bucket", "lakes/main", "s3://bucket/lakes/main")
    assert s.key("./quantlake/bronze/x.parquet") == "lakes/main/quantlake/bronze/x.parquet"
    assert s.path("lakes/main/quantlake/bronze/x.parquet") == "quantlake/bronze/x.parquet"
    assert store.LakeStore.parse("s3://bucket").key("quantlake/a") == "quantlake/a"
    with pytest.raises(store.StoreError, match="expected s3://bucket"):
        store.LakeStore.parse("gs://bucket/x")
    with pytest.raises(store.StoreError, match="must be a relative path"):
        s.key("/srv/lake/bronze/x.parquet")


def test_glob_listing_matches_within_one_segment_like_glob():
    listing = {"q/bronze/a/year=2024/month=6/day=3/part.parquet": (1, "e"),
               "q/bronze/a/year=2024/month=6/day=3/extra/part.parquet": (1, "e"),
               "q/bronze/ab/year=2024/month=6/day=4/part.parquet": (1, "e")}
    assert store.glob_listing(listing, "q/bronze/a/year=*/month=*/day=*/part.parquet") == [
        "q/bronze/a/year=2024/month=6/day=3/part.parquet"]


def test_sidecars_mirror_up_and_down_only_when_changed(lake_store, tmp_path):
    side = tmp_path / "quantlake" / "metadata" / "bronze" / "stocks_daily" / "2024" / "06" / "2024-06-14.json"
    side.parent.mkdir(parents=True)
    side.write_text('{"status": "success"}\n')
    store.mirror_sidecar("quantlake/metadata/bronze/stocks_daily/2024/06/2024-06-14.json", "bronze")
    store.mirror_sidecar("quantlake/metadata/gold/stocks_daily/2024/06/2024-06-14.json", "gold")  # gold: not stored
    assert list(lake_store.listing("quantlake/metadata")) == ["quantlake/metadata/bronze/stocks_daily/2024/06/2024-06-14.json"]
    assert store.sync_sidecars(lake_store, "quantlake") == 0  # the same bytes here: nothing fetched
    side.unlink()
    assert store.sync_sidecars(lake_store, "quantlake") == 1 and side.read_text() == '{"status": "success"}\n'
    store.forget_sidecar("quantlake/metadata/bronze/stocks_daily/2024/06/2024-06-14.json", "bronze")  # a job starts
    assert lake_store.listing("quantlake/metadata") == {}
    watermark = side.parent.parent.parent / "watermark.json"
    watermark.write_text("{}")
    assert store.sync_sidecars(lake_store, "quantlake") == 0 and not side.exists() and watermark.exists()


def test_readable_fetches_the_current_object(lake_store, tmp_path):
    src = tmp_path / "src.parquet"
    path = "quantlake/silver/corporate_actions/event_type=split/data.parquet"
    assert store.readable(path) == path  # not stored: the path as it is, missing
    for body in (b"first", b"second version"):
        src.write_bytes(body)
        lake_store.client().upload_file(str(src), lake_store.bucket, lake_store.key(path))
        local = store.readable(path)
        assert local.startswith(str(tmp_path / "cache")) and open(local, "rb").read() == body


def test_a_job_process_opening_the_store_leaves_other_jobs_sidecars_alone(sandbox, monkeypatch, tmp_path):
    """A cluster job parses the workflow again and opens the store; a sidecar another job on
    the same filesystem has just written, not yet uploaded, must survive that (the mirror of
    the controller drops local sidecars the store lacks: it once failed a job on the stand-in
    scheduler with 'No such file' when it went to upload its record)."""
    import os
    from types import SimpleNamespace

    import boto3

    from quantmini.paths import Lake

    bucket = f"store-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=sandbox.s3_endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.chdir(tmp_path)
    for var in (store.STORE_ENV, store.CACHE_ENV, store.ENDPOINT_ENV, store.ACCESS_ENV, store.SECRET_ENV):
        monkeypatch.setenv(var, "unset")  # restored after the test: open_for_run sets them
    settings = {"s3": SimpleNamespace(get_settings=lambda: SimpleNamespace(
        endpoint_url=sandbox.s3_endpoint, access_key=S3_KEY, secret_key=S3_SECRET))}
    lake = Lake("quantlake")
    side = tmp_path / lake.sidecar("bronze", "stocks_daily", "2024-06-13")
    side.parent.mkdir(parents=True)
    side.write_text('{"status": "success"}\n')

    opened = store.open_for_run("s3", f"s3://{bucket}/lakes/one", settings, lake, mirror_sidecars=False)
    assert opened.url == f"s3://{bucket}/lakes/one" and os.environ[store.STORE_ENV] == opened.url
    assert side.read_text() == '{"status": "success"}\n'  # a job's process: untouched
    store.open_for_run("s3", f"s3://{bucket}/lakes/one", settings, lake)
    assert not side.exists()  # the controller: the store's record is the lake's (none here)
