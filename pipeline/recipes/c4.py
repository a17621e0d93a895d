"""C4 (LLaMA 15%): WARC/WET → extract → C4 clean → C4 page filter → LID → span dedup → near dedup.

TFDS built C4 from CommonCrawl WET files with ``c4_utils``; the order here is TFDS's
(``clean_page`` → ``remove_duplicate_text`` → language → badwords), rearranged so that
everything cheap and per-page runs before the one corpus-wide shuffle:

1. ``web_text`` (shared with the CC recipe): read WARC/WET, extract main text, drop pages
   with no text. WET records pass through as Common Crawl extracted them, as in TFDS.
2. ``C4Cleaner`` (``c4_clean``): TFDS's line rules; lines removed per rule are counted in
   ``annotations["c4_clean"]``.
3. ``C4PageFilter`` (``c4``): page rules, including the LDNOOBW badwords filter that TFDS
   applies last (it only looks at the page, so its place does not change the result).
4. ``LanguageFilter`` (``lang_id``): fastText lid.176 with ``c4.languages`` (``en``) in
   place of TFDS's langdetect (``lang_id.threshold``, default 0.5, vs langdetect's 0.99).
5. ``DedupC4Spans`` (if ``c4.span_dedup``): three-sentence span dedup across the input.
6. ``NearDedup`` (if ``minhash.enabled``): MinHash near-dedup, with CC under ``scope: global``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from filters.lang_id import LanguageFilter
from filters.sources.c4.rules import C4Cleaner, C4PageFilter
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes.cc import web_text
from stages.c4_dedup import DedupC4Spans
from stages.dedup import NearDedup
from stages.model_files import LocalModels


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    c4 = cfg.settings("c4")
    recipe = [
        *web_text(cfg, spec, paths),
        C4Cleaner(c4),
        C4PageFilter(c4),
        LocalModels(LanguageFilter, dataclasses.replace(cfg.lang_id, languages=c4.languages), "model"),
    ]
    if c4.span_dedup:
        recipe.append(DedupC4Spans(c4))
    if cfg.minhash.enabled:
        recipe.append(NearDedup(cfg.minhash))
    return recipe
