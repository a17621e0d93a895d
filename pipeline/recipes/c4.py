"""C4 (LLaMA 15%): WARC/WET → extract → C4 as TFDS's ``c4.py`` builds it → near dedup.

TFDS built C4 from CommonCrawl WET files with ``c4_utils``; the steps and their order here
are TFDS's (released C4 files, ``c4-train.*.json.gz``, are read as finished documents
instead and nothing runs after reading: :func:`released_steps`):

1. ``web_text`` (shared with the CC recipe): read WARC/WET, extract main text, drop pages
   with no text. WET records pass through as Common Crawl extracted them, as in TFDS.
2. ``C4LengthFilter`` (``c4_length``): TFDS ``is_valid_length`` (> 1.9e5 chars: dropped).
3. ``DedupC4Urls`` (if ``c4.url_dedup``): TFDS ``normalize_url`` + ``dedupe_urls``.
4. ``C4Cleaner`` (``c4_clean``) and ``C4PageFilter`` (``c4``): TFDS ``clean_page``.
5. ``DedupC4Lines`` (``c4.dedup: lines``, TFDS ``remove_duplicate_text``); the named
   variants are ``spans`` (``DedupC4Spans``, three-sentence spans) and ``none``.
6. ``LangdetectFilter`` (``c4.language_detector: langdetect``, TFDS ``detect_english``:
   "en" >= 0.99, seeded); ``fasttext`` uses the shared ``LanguageFilter`` instead.
7. ``C4BadwordsFilter`` (if ``c4.badwords``): the 2021 TFDS badwords filter, last.
8. ``NearDedup`` (if ``minhash.enabled``): MinHash near-dedup, with CC under ``scope: global``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from filters.lang_id import LanguageFilter
from filters.sources.c4.language import LangdetectFilter
from filters.sources.c4.released import ReleasedC4Reader, is_released_c4
from filters.sources.c4.rules import C4BadwordsFilter, C4Cleaner, C4LengthFilter, C4PageFilter
from mixtures.config import ConfigError, PipelineConfig, SourceSpec
from pipeline.recipes import Read
from pipeline.recipes.cc import web_text
from stages.c4_dedup import DedupC4Lines, DedupC4Spans, DedupC4Urls
from stages.dedup import NearDedup
from stages.model_files import LocalModels


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    if any(is_released_c4(path) for path in paths):
        return released_steps(spec, paths)
    c4 = cfg.settings("c4")
    recipe: list[Any] = [*web_text(cfg, spec, paths), C4LengthFilter(c4)]
    if c4.url_dedup:
        recipe.append(DedupC4Urls(label="DedupC4Urls"))
    # The badwords rule runs last, on its own (TFDS 2021), not inside the page filter.
    recipe += [C4Cleaner(c4), C4PageFilter(dataclasses.replace(c4, badwords=False))]
    if c4.dedup == "lines":
        recipe.append(DedupC4Lines(c4))
    elif c4.dedup == "spans":
        recipe.append(DedupC4Spans(c4))
    if c4.language_detector == "langdetect":
        recipe.append(LangdetectFilter(c4))
    else:
        recipe.append(LocalModels(LanguageFilter, dataclasses.replace(cfg.lang_id, languages=c4.languages), "model"))
    if c4.badwords:
        recipe.append(C4BadwordsFilter(c4))
    if cfg.minhash.enabled:
        recipe.append(NearDedup(cfg.minhash))
    return recipe


def released_steps(spec: SourceSpec, paths: Sequence[str]) -> list[Any]:
    """The released C4 (``c4-train.*.json.gz``, what LLaMA used): read, and nothing after.

    Its pages were cleaned, deduplicated and language-filtered by TFDS already; the WET
    steps above would re-apply those rules to their own output (filters/sources/c4/released.py).
    WARC/WET and released files in one source would need two different chains, so they are
    refused together: give them as two sources.
    """
    wet = [path for path in paths if not is_released_c4(path)]
    if wet:
        raise ConfigError(f"{spec.name}: released C4 files (.json.gz) and WARC/WET files to rebuild C4 from "
                          f"cannot be one source (e.g. {wet[0]}); give them as two c4 sources")
    return [Read(ReleasedC4Reader(spec.name), tuple(paths))]
