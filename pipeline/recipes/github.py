"""GitHub (LLaMA 4.5%): read → license → file type → header cleaner → heuristics → exact file dedup.

Inputs are BigQuery exports (``000000000000.json.gz``…, as the README's ``EXPORT DATA``
query writes them), other JSONL(.gz) files of the same fields, and/or license maps
(``licenses.json``/``.yaml``) that sit at the root of a folder of checked-out repositories;
see filters/sources/github/reader.py.
Files under a license map's folder are read as repository files (one element each, so they
are read in parallel) and never as JSONL, even when the folder itself was given as input.

Exact dedup runs last, on the cleaned text of the files that survived every filter
(``stages.dedup.file_dedup``: sha1 of the content, keeper = smallest id, reason
``duplicate_file``). RedPajama dedups before filtering; deduping after keeps the shuffle to
the files we keep and gives the same kept set, because every filter is per file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from filters.sources.github.reader import GithubReader, is_license_map, repo_files
from filters.sources.github.rules import (
    GithubContentFilter,
    GithubFileFilter,
    GithubHeaderCleaner,
    GithubLicenseFilter,
)
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.dedup import file_dedup


def plan_inputs(paths: Sequence[str]) -> tuple[list[str], dict[str, tuple[str, str, str]]]:
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


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    github = cfg.settings("github")
    files, index = plan_inputs(paths)
    return [
        Read(GithubReader(spec.name, github, repo_index=index), tuple(files)),
        GithubLicenseFilter(github),
        GithubFileFilter(github),
        GithubHeaderCleaner(github),
        GithubContentFilter(github),
        file_dedup(),
    ]
