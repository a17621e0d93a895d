"""Read GitHub source files: BigQuery-style JSONL records, or local repositories + a license map.

Two input shapes:

* JSON lines (``*.jsonl``, ``*.json``, ``*.json.gz``...; gzip detected from the content): one
  record per line, ``{"repo_name", "path", "license", "content", ...}``, exactly as BigQuery's
  ``EXPORT DATA … format = 'JSON', compression = 'GZIP'`` writes the query of the README
  (``github_repos`` contents ⋈ files ⋈ licenses) to ``000000000000.json.gz``,
  ``000000000001.json.gz``…: ``ref``, ``id`` and ``size`` (INT64, which BigQuery exports as
  a JSON string) are kept in meta; a row with ``binary: true``, or with the ``binary``
  column but no ``content`` (BigQuery stores none for binary files or files over 1 MiB), is
  dropped ``binary``/``too_large`` rather than quarantined.
* A folder of checked-out repositories with a license map beside them, ``licenses.json`` or
  ``licenses.yaml``/``.yml``: ``{"<repo dir relative to the map>": "<license>"}``. Every file
  under the map's folder belongs to the repository whose directory is its longest matching
  prefix (``.git`` folders are skipped); a file under no listed repository gets no license and
  is dropped by the license filter, so it is still counted.

Ids: ``stable_id(source, input name, repo, path, ref)``, the input name being the export
file's path relative to the input root (``InputFile.name``): the same export given twice,
or two exports, never share an id (the exact-dedup step then drops the repeated content as
``duplicate_file``). Called as ``reader(path, fh)``, ids stay ``stable_id(source, repo,
path, ref)``. A repository file is ``stable_id(source, its path under the input)``.

Binary files are *dropped* with reason ``binary`` rather than quarantined: a PNG in a
repository is expected data, not a broken record. The dropped copy keeps an empty text and
its size in meta; a NUL byte or more than 10% control bytes in the first 8 KiB make a file
binary. Records that cannot be parsed (bad JSON, a missing field, an unpaired surrogate
escape, a line longer than :func:`max_line_bytes`) are quarantined naming the file and line.
"""

from __future__ import annotations

import json
import os
import posixpath
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import yaml

from filters.base import Dropped, InputFile, QuarantineRecord
from filters.bounded_io import bounded_lines
from filters.document import Document, stable_id, unpaired_surrogate
from filters.sources.github.config import GithubConfig
from filters.sources.github.rules import BINARY, NOT_UTF8, TOO_LARGE, extension_of, is_binary, language_of

LICENSE_MAP_NAMES = ("licenses.json", "licenses.yaml", "licenses.yml")
_REQUIRED = ("repo_name", "path", "content")


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

    def read_input(self, item: InputFile, fh: BinaryIO) -> Iterator[Any]:
        entry = self.repo_index.get(item.path)
        if entry is not None:
            yield self._repo_file(item.label, fh, *entry, id_key=(item.name,) if item.name else None)
        else:
            yield from read_jsonl(self.source, item.label, fh, self.cfg.max_file_bytes,
                                  input_name=item.name or item.path)

    def _repo_file(self, file: str, fh: BinaryIO, repo: str, rel: str, license_: str,
                   id_key: tuple[str, ...] | None = None) -> Any:
        data = fh.read(self.cfg.max_file_bytes + 1)
        meta = _meta(repo, rel, license_, file, rel)
        meta["size"] = len(data)
        doc_id = stable_id(self.source, *(id_key or (repo, rel)))
        if len(data) > self.cfg.max_file_bytes:
            return Dropped(Document(doc_id, "", self.source, meta), TOO_LARGE)
        if is_binary(data):
            return Dropped(Document(doc_id, "", self.source, meta), BINARY)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Dropped(Document(doc_id, "", self.source, meta), NOT_UTF8)
        return Document(doc_id, text.removeprefix("\ufeff"), self.source, meta)


def max_line_bytes(max_file_bytes: int) -> int:
    """Longest JSONL line parsed: room for a ``max_file_bytes`` file fully JSON-escaped
    (``\\u00XX`` is 6 bytes a character) plus 1 MiB of other fields."""
    return 6 * max_file_bytes + (1 << 20)


def _size(value: Any) -> int | None:
    """BigQuery exports INT64 as a JSON string (``"1234"``); a number is taken as it is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def read_jsonl(source: str, file: str, fh: BinaryIO, max_file_bytes: int = 10_000_000,
               input_name: str | None = None) -> Iterator[Any]:
    """BigQuery records, one per line; bad lines are quarantined by line number.

    ``input_name`` (the file's name relative to the input root) joins the id, so the same
    record read from two inputs gets two ids; without it ids are ``(repo, path, ref)``.
    """
    name = posixpath.basename(file.replace(os.sep, "/"))
    limit = max_line_bytes(max_file_bytes)
    for line_no, raw in enumerate(bounded_lines(fh, limit), start=1):
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
            if record.get("content") is None and isinstance(record.get("binary"), bool) \
                    and isinstance(record.get("repo_name"), str) and isinstance(record.get("path"), str):
                # An export row (it has BigQuery's ``binary`` column) without content: BigQuery
                # holds none for binary files and files over 1 MiB. Dropped, not quarantined.
                record["content"] = None
                missing = []
            else:
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
        for key in ("ref", "origin", "id"):
            if isinstance(record.get(key), str):
                meta[key] = record[key]
        size = _size(record.get("size"))
        if size is not None:
            meta["size"] = size
        location = (repo, path, record.get("ref", ""))
        doc_id = stable_id(source, *location) if input_name is None else stable_id(source, input_name, *location)
        if content is None or record.get("binary") is True:
            reason = BINARY if record.get("binary") is True or size is None or size <= max_file_bytes else TOO_LARGE
            yield Dropped(Document(doc_id, "", source, {**meta, "size": size if size is not None else 0}), reason)
        elif len(content) > max_file_bytes:
            yield Dropped(Document(doc_id, "", source, {**meta, "size": len(content)}), TOO_LARGE)
        elif "\x00" in content or is_binary(content[:8192].encode("utf-8")):
            yield Dropped(Document(doc_id, "", source, {**meta, "size": len(content)}), BINARY)
        else:
            yield Document(doc_id, content, source, meta)
