"""GitHub (LLaMA 4.5%): read → license → file type → header cleaner → heuristics → exact dedup.

Inputs are BigQuery-style JSONL(.gz) files and/or license maps (``licenses.json``/``.yaml``)
that sit at the root of a folder of checked-out repositories; see filters/readers_github.py.
Files under a license map's folder are read as repository files (one element each, so they
are read in parallel) and never as JSONL, even when the folder itself was given as input.

Exact dedup runs last, on the cleaned text of the files that survived every filter
(``stages.dedup.file_dedup``: sha1 of the content, keeper = smallest id, reason
``duplicate_file``). RedPajama dedups before filtering; deduping after keeps the shuffle to
the files we keep and gives the same kept set, because every filter is per file.
"""

from __future__ import annotations

import os

import apache_beam as beam

from filters.cleaners.github import (
    GithubContentFilter,
    GithubFileFilter,
    GithubHeaderCleaner,
    GithubLicenseFilter,
)
from filters.readers_github import GithubReader, is_license_map, repo_files
from mixtures.config import PipelineConfig, SourceSpec
from stages.dedup import file_dedup
from stages.steps import ReadSource
from stages.streams import SourceStreams


def plan_inputs(paths: list[str]) -> tuple[list[str], dict[str, tuple[str, str, str]]]:
    """The files to read and the repository index (file → repo, path, license).

    License maps expand to every file under their folder; other inputs under such a folder
    are covered by that expansion and not read a second time.
    """
    index: dict[str, tuple[str, str, str]] = {}
    roots = []
    for path in paths:
        if is_license_map(path):
            roots.append(os.path.dirname(os.path.abspath(path)) + os.sep)
            index.update(repo_files(path))
    files = set(index)
    for path in paths:
        if is_license_map(path) or any(os.path.abspath(path).startswith(root) for root in roots):
            continue
        files.add(path)
    return sorted(files), index


def build(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    files, index = plan_inputs(paths)
    reader = GithubReader(spec.name, index, cfg.github.max_file_bytes)
    read = p | f"{spec.name}/Read" >> ReadSource(spec.name, files, reader)
    streams = SourceStreams.from_read(spec.name, read).then_all([
        GithubLicenseFilter(cfg.github),
        GithubFileFilter(cfg.github),
        GithubHeaderCleaner(cfg.github),
        GithubContentFilter(cfg.github),
    ])
    return streams.then_transform(file_dedup(), f"{spec.name}/File dedup")
