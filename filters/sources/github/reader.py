"""Read GitHub source files: BigQuery-style JSONL records, or local repositories + a license map.

Two input shapes:

* ``*.jsonl`` / ``*.jsonl.gz``: one record per line,
  ``{"repo_name", "path", "license", "content", ...}`` as in BigQuery ``github_repos``.
* A folder of checked-out repositories with a license map beside them, ``licenses.json`` or
  ``licenses.yaml``/``.yml``: ``{"<repo dir relative to the map>": "<license>"}``. Every file
  under the map's folder belongs to the repository whose directory is its longest matching
  prefix (``.git`` folders are skipped); a file under no listed repository gets no license and
  is dropped by the license filter, so it is still counted.

Binary files are *dropped* with reason ``binary`` rather than quarantined: a PNG in a
repository is expected data, not a broken record. The dropped copy keeps an empty text and
its size in meta; a NUL byte or more than 10% control bytes in the first 8 KiB make a file
binary. Records that cannot be parsed (bad JSON, a missing field, an unpaired surrogate
escape, a line longer than :func:`max_line_bytes`) are quarantined naming the file and line.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import posixpath
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import yaml

from filters.base import Dropped, QuarantineRecord
from filters.document import Document, stable_id, unpaired_surrogate
from filters.sources.github.config import GithubConfig
from filters.sources.github.rules import BINARY, NOT_UTF8, TOO_LARGE, extension_of, is_binary, language_of

LICENSE_MAP_NAMES = ("licenses.json", "licenses.yaml", "licenses.yml")
_GZIP_MAGIC = b"\x1f\x8b"
_REQUIRED = ("repo_name", "path", "content")
_SKIP_CHUNK = 1 << 20


def is_license_map(path: str) -> bool:
    return posixpath.basename(path.replace(os.sep, "/")) in LICENSE_MAP_NAMES


def is_jsonl(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz"))


def load_license_map(path: str) -> dict[str, str]:
    """``{repo_dir: license}`` from a JSON or YAML map; keys use ``/`` separators."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh) if path.endswith(".json") else yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a license map must be a mapping of repo dir → license")
    return {str(k).strip("/"): str(v) for k, v in data.items()}


def repo_files(map_path: str) -> dict[str, tuple[str, str, str]]:
    """Every file under the map's folder → (repo_name, path in repo, license).

    Walked on the driver so each file becomes its own element (read in parallel).
    """
    root = os.path.dirname(os.path.abspath(map_path))
    licenses = load_license_map(map_path)
    # Longest prefix first, so a nested repo wins over its parent folder.
    repos = sorted(licenses, key=lambda r: (-len(r), r))
    out: dict[str, tuple[str, str, str]] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            full = os.path.join(folder, name)
            if full == os.path.abspath(map_path) or name in LICENSE_MAP_NAMES:
                continue
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            repo = next((r for r in repos if rel == r or rel.startswith(r + "/")), None)
            if repo is None:
                out[full] = ("", rel, "")
            else:
                out[full] = (repo, rel[len(repo) + 1:], licenses[repo])
    return out


def _meta(repo: str, path: str, license_: str, file: str, record: Any) -> dict[str, Any]:
    return {
        "repo_name": repo,
        "path": path,
        "license": license_,
        "extension": extension_of(path),
        "language": language_of(path),
        "file": file,
        "record": record,
    }


class GithubReader:
    """``reader(path, fh)`` for ``ReadSource``: JSONL records or one repository file.

    Args:
        source: the source name written on every document and prefixed to its id.
        cfg: ``max_file_bytes``: larger files are dropped (``too_large``) without reading them whole.
        repo_index: repository files from :func:`repo_files` (empty when reading JSONL only).
    """

    # A corrupt gzipped JSONL file fails inside zlib half-way: the rest of that file is
    # quarantined (the records read before stay).
    data_errors = (zlib.error,)

    def __init__(self, source: str, cfg: GithubConfig,
                 repo_index: dict[str, tuple[str, str, str]] | None = None) -> None:
        self.source = source
        self.cfg = cfg
        self.repo_index = dict(repo_index or {})

    def __call__(self, path: str, fh: BinaryIO) -> Iterator[Any]:
        entry = self.repo_index.get(path)
        if entry is not None:
            yield self._repo_file(path, fh, *entry)
        else:
            yield from read_jsonl(self.source, path, fh, self.cfg.max_file_bytes)

    def _repo_file(self, file: str, fh: BinaryIO, repo: str, rel: str, license_: str) -> Any:
        data = fh.read(self.cfg.max_file_bytes + 1)
        meta = _meta(repo, rel, license_, file, rel)
        meta["size"] = len(data)
        doc_id = stable_id(self.source, repo, rel)
        if len(data) > self.cfg.max_file_bytes:
            return Dropped(Document(doc_id, "", self.source, meta), TOO_LARGE)
        if is_binary(data):
            return Dropped(Document(doc_id, "", self.source, meta), BINARY)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Dropped(Document(doc_id, "", self.source, meta), NOT_UTF8)
        return Document(doc_id, text.removeprefix("\ufeff"), self.source, meta)


def _lines(fh: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Each line of the (possibly gzipped) file; None for a line longer than ``limit`` bytes.

    An overlong line is skipped in bounded pieces and never held whole, so one runaway
    line (a missing newline in a multi-GB file) cannot exhaust a worker's memory.
    """
    buffered = io.BufferedReader(fh) if not hasattr(fh, "peek") else fh
    stream: Any = gzip.GzipFile(fileobj=buffered) if buffered.peek(2)[:2] == _GZIP_MAGIC else buffered
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(_SKIP_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def max_line_bytes(max_file_bytes: int) -> int:
    """Longest JSONL line parsed: room for a ``max_file_bytes`` file fully JSON-escaped
    (``\\u00XX`` is 6 bytes a character) plus 1 MiB of other fields."""
    return 6 * max_file_bytes + (1 << 20)


def read_jsonl(source: str, file: str, fh: BinaryIO, max_file_bytes: int = 10_000_000) -> Iterator[Any]:
    """BigQuery-style records, one per line; bad lines are quarantined by line number."""
    name = posixpath.basename(file.replace(os.sep, "/"))
    limit = max_line_bytes(max_file_bytes)
    for line_no, raw in enumerate(_lines(fh, limit), start=1):
        if raw is None:
            yield QuarantineRecord(source, file, f"line {line_no}", "read",
                                   f"line longer than {limit} bytes (6 x github.max_file_bytes + 1 MiB): not parsed")
            continue
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("record is not a JSON object")
            missing = [k for k in _REQUIRED if not isinstance(record.get(k), str)]
            if missing:
                raise ValueError(f"missing or non-string field(s) {missing}")
            bad_field = unpaired_surrogate(record) if b"\\u" in raw else None
            if bad_field is not None:
                raise ValueError(f"field {bad_field!r} holds an unpaired UTF-16 surrogate (not valid Unicode)")
        except (ValueError, UnicodeDecodeError) as exc:
            yield QuarantineRecord(source, file, f"line {line_no}", "read", f"{type(exc).__name__}: {exc}"[:2000])
            continue
        repo, path, content = record["repo_name"], record["path"], record["content"]
        meta = _meta(repo, path, str(record.get("license") or ""), file, f"{name}:{line_no}")
        for key in ("ref", "origin"):
            if key in record:
                meta[key] = record[key]
        doc_id = stable_id(source, repo, path, record.get("ref", ""))
        if len(content) > max_file_bytes:
            yield Dropped(Document(doc_id, "", source, {**meta, "size": len(content)}), TOO_LARGE)
        elif "\x00" in content or is_binary(content[:8192].encode("utf-8")):
            yield Dropped(Document(doc_id, "", source, {**meta, "size": len(content)}), BINARY)
        else:
            yield Document(doc_id, content, source, meta)
