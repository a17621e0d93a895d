"""Small file helpers over Beam's ``FileSystems``, so encode/export read and write ``gs://`` like local.

Writers that need a local file (SentencePiece, the Megatron ``.idx`` writer, Parquet) write
into a local scratch folder; ``publish`` then copies the finished files to the destination
when it is remote. Readers that need a local file (memory-mapped token shards) get one from
``localize_files`` (copied once per machine, like ``stages.model_files.localize``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from stages.model_files import default_cache_dir, is_remote

_CHUNK = 8 << 20


def join(root: str, *parts: str) -> str:
    """``root/part/...`` for local paths and URIs alike."""
    # Plain "/" for URIs: building a graph must not need the remote filesystem's client library.
    return "/".join([root.rstrip("/"), *parts]) if is_remote(root) else os.path.join(root, *parts)


def match(pattern: str) -> list[str]:
    """Paths matching a glob, sorted; empty when nothing matches."""
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except BeamIOError:
        return []


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return fh.read()


def read_json(path: str) -> Any:
    return json.loads(read_bytes(path).decode("utf-8"))


def write_bytes(path: str, payload: bytes) -> None:
    """Writes a whole file; local files atomically (temp + rename), remote ones by one upload."""
    if not is_remote(path):
        from mixtures.provenance import write_bytes_atomically

        write_bytes_atomically(path, payload)
        return
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(payload)


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A binary file that appears whole or not at all: local files through a temp name and a
    rename; object stores publish an object when it is closed."""
    if is_remote(path):
        with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            yield fh
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def publish(local_dir: str | os.PathLike, names: Sequence[str], destination: str) -> None:
    """Copies finished files from a local scratch folder to a remote ``destination`` folder."""
    for name in names:
        with open(Path(local_dir) / name, "rb") as src, FileSystems.create(
                join(destination, name), compression_type=CompressionTypes.UNCOMPRESSED) as dst:
            shutil.copyfileobj(src, dst, _CHUNK)


def delete(paths: Sequence[str]) -> None:
    if paths:
        FileSystems.delete(list(paths))


def scratch_dir(destination: str) -> tuple[str, bool]:
    """Where a writer puts files bound for ``destination``: the folder itself when local."""
    if is_remote(destination):
        return tempfile.mkdtemp(prefix="pasture-out-"), True
    os.makedirs(destination, exist_ok=True)
    return destination, False


def localize_files(paths: Sequence[str], cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Local copies of remote files, kept side by side (a ``.bin/.idx`` pair stays a prefix).

    Local paths are returned unchanged. Copies go to one folder per parent URI under the
    model cache and are reused by later calls on the same machine.
    """
    out = []
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    for path in paths:
        if not is_remote(path):
            out.append(path)
            continue
        parent, name = path.rsplit("/", 1)
        slot = root / hashlib.sha1(parent.encode("utf-8")).hexdigest()[:16]
        target = slot / name
        if not target.exists():
            slot.mkdir(parents=True, exist_ok=True)
            tmp = slot / f".{name}.tmp-{os.getpid()}"
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            os.replace(tmp, target)
        out.append(str(target))
    return out
