"""C4 (LLaMA 15%): WARC/WET → extract → C4 clean → C4 page filter → LID → span dedup.

TFDS built C4 from CommonCrawl WET files with ``c4_utils``; the order here is TFDS's
(``clean_page`` → ``remove_duplicate_text`` → language → badwords), rearranged so that
everything cheap and per-page runs before the one corpus-wide shuffle:

1. ``read_web`` (shared with the CC recipe): read WARC/WET, extract main text, drop pages
   with no text. WET records pass through as Common Crawl extracted them, as in TFDS.
2. ``C4Cleaner`` (``c4_clean``): TFDS's line rules; lines removed per rule are counted in
   ``annotations["c4_clean"]``.
3. ``C4PageFilter`` (``c4``): page rules, including the LDNOOBW badwords filter that TFDS
   applies last (it only looks at the page, so its place does not change the result).
4. ``LanguageFilter`` (``lang_id``): fastText lid.176 with ``c4.languages`` (``en``) in
   place of TFDS's langdetect (``lang_id.threshold``, default 0.5, vs langdetect's 0.99).
5. ``DedupC4Spans`` (if ``c4.span_dedup``): three-sentence span dedup across the input.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from filters.c4 import C4Cleaner, C4PageFilter
from filters.lang_id import LanguageFilter
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes.cc import read_web
from stages.c4_dedup import DedupC4Spans
from stages.model_files import LocalModels
from stages.streams import SourceStreams


def build(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    streams = read_web(p, cfg, spec, paths)
    streams.then_all([C4Cleaner(cfg.c4), C4PageFilter(cfg.c4)])
    streams.then(LocalModels(LanguageFilter, dataclasses.replace(cfg.lang_id, languages=cfg.c4.languages), "model"))
    if cfg.c4.span_dedup:
        streams.then_transform(DedupC4Spans(cfg.c4), f"{spec.name}/DedupC4Spans")
    return streams
