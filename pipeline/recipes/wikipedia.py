"""Wikipedia (LLaMA 4.5%): dump reader → wikitext cleaner → non-empty filter.

Reads MediaWiki ``pages-articles`` dumps (``.xml``/``.xml.bz2``), keeps namespace-0 articles
of the configured languages (``wikipedia.languages``: LLaMA's 20 by default; other dumps
drop with ``wiki_lang``), turns wikitext into plain text and drops pages left ``empty``.
"""

from __future__ import annotations

import apache_beam as beam

from filters.wikipedia import WikipediaDumpReader, WikipediaTextFilter, WikitextCleaner
from mixtures.config import PipelineConfig, SourceSpec
from stages.steps import ReadSource
from stages.streams import SourceStreams


def build(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    read = p | f"{spec.name}/Read" >> ReadSource(spec.name, paths, WikipediaDumpReader(cfg.wikipedia))
    return SourceStreams.from_read(spec.name, read).then_all([
        WikitextCleaner(cfg.wikipedia),
        WikipediaTextFilter(cfg.wikipedia),
    ])
