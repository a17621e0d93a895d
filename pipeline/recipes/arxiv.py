"""arXiv (LLaMA 2.5%): source tarballs → flattened LaTeX → cleaned text → non-empty filter.

Each input file (``.tar.gz``, ``.tgz``, ``.tar``, ``.gz`` or ``.tex``) is one paper, read in
memory with every archive member checked first, and each of arXiv's bulk
``arXiv_src_YYMM_NNN.tar`` files is streamed paper by paper, one document per
``YYMM/<id>.gz`` member (filters/sources/arxiv/reader.py). The
cleaner (filters/sources/arxiv/latex.py) strips comments, cuts the preamble and the
bibliography and expands argument-less macros; papers left without text drop as
``no_section``/``empty``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.sources.arxiv.latex import ArxivCleaner, ArxivFilter
from filters.sources.arxiv.reader import ArxivReader
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    arxiv = cfg.settings("arxiv")
    return [
        Read(ArxivReader(spec.name, arxiv), tuple(paths)),
        ArxivCleaner(arxiv),
        ArxivFilter(arxiv),
    ]
