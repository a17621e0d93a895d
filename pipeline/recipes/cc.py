"""CommonCrawl via CCNet (LLaMA 67%): WARC/WET → extract → line dedup → LID → perplexity → quality.

The order is cc_net's ``DEFAULT_PIPELINE`` (dedup → lid → keep_lang → sp → lm → pp_bucket),
with HTML extraction in front because we read WARC responses as well as WET records:

1. ``read_web``: read WARC/WET records (``filters/warc.py``), extract main text
   (``filters/extract.py``), drop pages with no text (``no_text``). Shared with the C4
   recipe: one code path, two configurations.
2. ``DedupLines`` (if ``line_dedup.enabled``): CCNet line dedup over the whole input,
   then cc_net's ``min_len`` (300 chars) rule (``too_short`` / ``empty_after_dedup``).
3. ``with_lang_id``: fastText lid.176, keep ``lang_id.languages`` (``lang``).
4. ``PerplexityFilter`` (if ``perplexity.enabled``): KenLM buckets (``filters/perplexity.py``).
5. ``QualityFilter`` (if ``quality.enabled``): Wikipedia-reference classifier.
"""

from __future__ import annotations

import os

import apache_beam as beam

from filters.extract import ExtractedTextFilter, HtmlExtractor
from filters.lang_id import LanguageFilter
from filters.warc import WarcReader
from mixtures.config import ConfigError, PipelineConfig, SourceSpec
from stages.line_dedup import DedupLines
from stages.model_files import LocalModels
from stages.steps import ReadSource
from stages.streams import SourceStreams


def read_web(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    """Web pages of ``paths`` as main text: read WARC/WET → extract → drop empty pages."""
    read = p | f"{spec.name}/Read" >> ReadSource(spec.name, paths, WarcReader(cfg.extract, spec.name))
    return SourceStreams.from_read(spec.name, read).then_all([
        HtmlExtractor(cfg.extract),
        ExtractedTextFilter(cfg.extract),
    ])


def with_lang_id(streams: SourceStreams, cfg: PipelineConfig) -> SourceStreams:
    """Adds the fastText language filter (annotations ``lang_id.lang`` / ``lang_id.lang_score``)."""
    return streams.then(LocalModels(LanguageFilter, cfg.lang_id, "model"))


def _require_local_model(path: str, what: str, how: str) -> None:
    """Fail before any work starts when a local model is missing (remote ones are checked on load)."""
    if "://" not in path and not os.path.exists(path):
        raise ConfigError(f"{what} not found at {path}: {how}")


def build(p: beam.Pipeline, cfg: PipelineConfig, spec: SourceSpec, paths: list[str]) -> SourceStreams:
    streams = read_web(p, cfg, spec, paths)
    if cfg.line_dedup.enabled:
        streams.then_transform(DedupLines(cfg.line_dedup), f"{spec.name}/DedupLines")
    with_lang_id(streams, cfg)
    if cfg.perplexity.enabled:
        # Imported here: the perplexity models are optional for runs that disable it.
        from filters.perplexity import PerplexityFilter

        _require_local_model(cfg.perplexity.model_dir, "perplexity models",
                             "train them with `pasture models lm --wikipedia DUMP --lang xx --output DIR` "
                             "or set perplexity.enabled: false")
        streams.then(LocalModels(PerplexityFilter, cfg.perplexity, "model_dir"))
    if cfg.quality.enabled:
        from filters.quality import QualityFilter

        _require_local_model(cfg.quality.model, "quality classifier",
                             "train it with `pasture models quality` or set quality.enabled: false")
        streams.then(LocalModels(QualityFilter, cfg.quality, "model"))
    return streams
