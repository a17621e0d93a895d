"""Run-directory layout and the JSON manifests written beside tokenizers, token shards and exports.

Layout read and written here::

    RUN_DIR/<source>/docs/part-*.jsonl.gz     documents (written by pipeline/runner.py)
    RUN_DIR/<source>/stats.json               has "kind" (the source kind)
    RUN_DIR/<source>/tokens/part-*.bin/.idx   token shards (stages/tokenize.py)
    RUN_DIR/<source>/tokens/manifest.json     per-source token counts, shard checksums
    MODEL.manifest.json                       tokenizer settings, sample, sha256
    EXPORT_DIR/manifest.json                  blend: shares, epochs, file checksums

Every manifest is written with ``mixtures.provenance.write_json_atomically`` (sorted keys) and no
timestamps, so equal inputs give equal bytes.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filters.document import Document
from mixtures.plan import SourceTokens

DOCS_DIR = "docs"
TOKENS_DIR = "tokens"
MANIFEST = "manifest.json"
TOKENS_FORMAT = "pasture-tokens-v1"


class ManifestError(RuntimeError):
    """A manifest or run directory is missing or inconsistent."""


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def tokenizer_manifest_path(model_path: str | os.PathLike) -> Path:
    """``MODEL.model`` → ``MODEL.manifest.json``."""
    path = Path(model_path)
    stem = path.name[: -len(".model")] if path.name.endswith(".model") else path.name
    return path.with_name(f"{stem}.manifest.json")


@dataclass(frozen=True)
class RunSource:
    """One source folder of a run directory."""

    name: str
    kind: str
    path: Path

    @property
    def docs_dir(self) -> Path:
        return self.path / DOCS_DIR

    @property
    def tokens_dir(self) -> Path:
        return self.path / TOKENS_DIR

    def doc_files(self) -> list[Path]:
        return doc_files(self.docs_dir)


def doc_files(docs_dir: str | os.PathLike) -> list[Path]:
    """The finished document shards of a docs folder, sorted by name (temporaries skipped)."""
    folder = Path(docs_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(".jsonl.gz") and ".tmp" not in p.name)


def source_kind(source_dir: str | os.PathLike) -> str:
    """The kind recorded in ``stats.json``; the folder name when there is none."""
    stats = Path(source_dir) / "stats.json"
    if stats.is_file():
        kind = read_json(stats).get("kind")
        if kind:
            return str(kind)
    return Path(source_dir).name


def list_run_sources(run_dir: str | os.PathLike) -> list[RunSource]:
    """Every ``RUN_DIR/<source>`` that has a ``docs/`` or ``tokens/`` folder, sorted by name."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ManifestError(f"run directory {root} does not exist")
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and ((child / DOCS_DIR).is_dir() or (child / TOKENS_DIR).is_dir()):
            found.append(RunSource(child.name, source_kind(child), child))
    return found


def sources_from_inputs(inputs: list[str]) -> list[RunSource]:
    """Resolves CLI inputs: run directories and/or ``<source>/docs`` folders."""
    found: dict[str, RunSource] = {}
    for item in inputs:
        path = Path(item)
        if path.name == DOCS_DIR and path.is_dir():
            src = RunSource(path.parent.name, source_kind(path.parent), path.parent)
            found[src.name] = src
        elif (path / DOCS_DIR).is_dir():
            found[path.name] = RunSource(path.name, source_kind(path), path)
        else:
            for src in list_run_sources(path):
                found[src.name] = src
    if not found:
        raise ManifestError(f"no <source>/docs folders found under {inputs}")
    return [found[k] for k in sorted(found)]


def iter_documents(path: str | os.PathLike) -> Iterator[Document]:
    """Documents of one ``.jsonl.gz`` shard."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield Document.from_json(line)


def read_tokens_manifest(source_dir: str | os.PathLike) -> dict[str, Any]:
    """``<source>/tokens/manifest.json``; raises ``ManifestError`` if it is not there."""
    path = Path(source_dir) / TOKENS_DIR / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} not found: run `pasture tokenizer encode` first")
    data = read_json(path)
    if data.get("format") != TOKENS_FORMAT:
        raise ManifestError(f"{path}: format {data.get('format')!r}, expected {TOKENS_FORMAT}")
    return data


def token_shard_prefixes(source_dir: str | os.PathLike) -> list[Path]:
    """Shard prefixes of a source, in manifest order."""
    manifest = read_tokens_manifest(source_dir)
    folder = Path(source_dir) / TOKENS_DIR
    return [folder / shard["name"] for shard in manifest["shards"]]


def read_run_token_counts(run_dir: str | os.PathLike) -> tuple[list[SourceTokens], list[str]]:
    """Token counts of every tokenized source of a run.

    Returns:
        ``(counts, untokenized)``: counts for sources with a tokens manifest, and the names
        of sources that have documents but no tokens yet.
    """
    counts, untokenized = [], []
    for src in list_run_sources(run_dir):
        if (src.tokens_dir / MANIFEST).is_file():
            data = read_tokens_manifest(src.path)
            counts.append(SourceTokens(src.name, data.get("kind", src.kind), int(data["tokens"])))
        else:
            untokenized.append(src.name)
    return counts, untokenized
