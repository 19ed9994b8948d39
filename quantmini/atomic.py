"""Atomic file publication: nothing half-written is ever visible under a final name.

Every writer in quantmini writes to a temporary name in the destination directory, fsyncs,
then renames; a crash leaves at most a ``.tmp-*`` file that the next run ignores and replaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from glob import escape as glob_escape
from typing import Iterator

from .faults import check_disk

TMP_PREFIX = ".tmp-"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: Path | str, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success fsync and rename it into place.

    ``durable=False`` skips the fsyncs: the rename still hides partial content from a
    crashed process, but not from a power cut. For bulk files that a rerun rewrites anyway.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # A killed writer of this same file leaves its temporary behind: one writer per final
    # path at a time (Snakemake's guarantee, the store's lock), so it is safe to remove.
    for stale in final.parent.glob(TMP_PREFIX + glob_escape(final.name) + ".*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX + final.name + ".", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        check_disk(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
        if durable:
            fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes(final: Path | str, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text(final: Path | str, text: str) -> None:
    write_bytes(final, text.encode("utf-8"))


def write_json(final: Path | str, obj) -> None:
    write_text(final, json.dumps(obj, indent=2, sort_keys=False) + "\n")
