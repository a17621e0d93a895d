"""Wikipedia (LLaMA 4.5%): dump reader → wikitext cleaner → non-empty filter.

Reads MediaWiki ``pages-articles`` dumps (``.xml``/``.xml.bz2``), keeps namespace-0 articles
of the configured languages (``wikipedia.languages``: LLaMA's 20 by default; other dumps
drop with ``wiki_lang``), turns wikitext into plain text and drops pages left ``empty``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.sources.wikipedia.reader import WikipediaDumpReader
from filters.sources.wikipedia.rules import WikipediaTextFilter, WikitextCleaner
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    wikipedia = cfg.settings("wikipedia")
    return [
        Read(WikipediaDumpReader(spec.name, wikipedia), tuple(paths)),
        WikitextCleaner(wikipedia),
        WikipediaTextFilter(wikipedia),
    ]
