"""arXiv (LLaMA 2.5%): source tarballs → flattened LaTeX → cleaned text → non-empty filter.

Each input file (``.tar.gz``, ``.tgz``, ``.tar``, ``.gz`` or ``.tex``) is one paper, read in
memory with every archive member checked first (filters/readers_arxiv.py). The cleaner
(filters/cleaners/arxiv.py) strips comments, cuts the preamble and the bibliography and
expands argument-less macros; papers left without text drop as ``no_section``/``empty``.
"""

from __future__ import annotations

import apache_beam as beam

from filters.cleaners.arxiv import ArxivCleaner, ArxivFilter
from filters.readers_arxiv import ArxivReader
from mixtures.config import PipelineConfig, SourceSpec
from stages.steps import ReadSource
from stages.streams import SourceStreams


def build(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    read = p | f"{spec.name}/Read" >> ReadSource(spec.name, paths, ArxivReader(spec.name, cfg.arxiv))
    return SourceStreams.from_read(spec.name, read).then_all([
        ArxivCleaner(cfg.arxiv),
        ArxivFilter(cfg.arxiv),
    ])
