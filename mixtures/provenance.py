"""What every output records so a run can be reproduced: code and library versions, checksums.

One helper per job, imported by every layer (filters, stages, pipeline, tokenizer, trainer):
the file hash, the atomic write (and the final rename) of a local file and the JSON encoding
of manifests and stats live here and nowhere else. Pure standard library, no Beam; writing
to remote filesystems (``gs://``) is ``stages.sinks.write_atomically``, which uses Beam's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

PACKAGES = ("pasture", "apache-beam", "fasttext-numpy2", "ufal-kenlm", "sentencepiece", "datasketch",
            "pyarrow", "warcio", "selectolax", "mwparserfromhell", "torch", "numpy")

_CHUNK = 1 << 20


def package_versions() -> dict[str, str]:
    """Installed versions of pasture and the libraries that shape its outputs."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision() -> str:
    """HEAD of the checkout this code runs from, or ``unknown`` (an installed copy, no git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def sha256_stream(fh: BinaryIO) -> str:
    """Hex sha256 of what is left in a binary stream, read in 1 MiB blocks (any filesystem's handle)."""
    digest = hashlib.sha256()
    while block := fh.read(_CHUNK):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a local file."""
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_bytes(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def json_text(obj: Any) -> str:
    """The one JSON encoding of manifests and stats: sorted keys, 2-space indent, final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def replace_atomically(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished local temporary file its final name: fsync it, rename, fsync the folder.

    Readers see the old file or the whole new one, never part of it, and the new one is
    whole on disk even after a crash. Streaming writers (token shards, checkpoints, Parquet)
    write ``tmp`` themselves and finish with this; small payloads use
    :func:`write_bytes_atomically`.
    """
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    folder = os.open(Path(path).parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # make the rename itself durable
    finally:
        os.close(folder)


def write_bytes_atomically(path: str | os.PathLike, payload: bytes) -> None:
    """Write a local file through a temporary name and rename it: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(payload)
    replace_atomically(tmp, path)


def write_json_atomically(path: str | os.PathLike, obj: Any) -> None:
    """:func:`json_text` of ``obj`` written atomically to a local file."""
    write_bytes_atomically(path, json_text(obj).encode("utf-8"))
