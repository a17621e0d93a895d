"""CommonCrawl via CCNet (LLaMA 67%): WARC/WET → extract → line dedup → LID → perplexity → quality → near dedup.

The order is cc_net's ``DEFAULT_PIPELINE`` (dedup → lid → keep_lang → sp → lm → pp_bucket),
with HTML extraction in front because we read WARC responses as well as WET records:

1. read WARC/WET records (``filters/sources/cc/warc.py``), extract main text
   (``filters/sources/cc/extract.py``), drop pages with no text (``no_text``). Shared with
   the C4 recipe (:func:`web_text`): one code path, two configurations.
2. ``DedupLines`` (if ``line_dedup.enabled``): cc_net's ``min_len`` (300 chars, on the raw
   page) then CCNet line dedup within each snapshot's dedup group (``too_short`` /
   ``empty_after_dedup``).
3. ``LanguageFilter``: fastText lid.176, keep ``lang_id.languages`` (``lang``).
4. ``PerplexityFilter`` (if ``perplexity.enabled``): KenLM buckets (``filters/perplexity.py``).
5. ``QualityFilter`` (if ``quality.enabled``): Wikipedia-reference classifier.
6. ``NearDedup`` (if ``minhash.enabled``): MinHash near-dedup, with C4 under ``scope: global``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from filters.lang_id import LanguageFilter
from filters.line_dedup import file_groups
from filters.sources.cc.extract import ExtractedTextFilter, HtmlExtractor
from filters.sources.cc.warc import WarcReader
from mixtures.config import ConfigError, PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.dedup import NearDedup
from stages.line_dedup import DedupLines
from stages.model_files import LocalModels


def web_text(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str]) -> list[Any]:
    """Web pages of ``paths`` as main text: read WARC/WET → extract → drop empty pages."""
    return [
        Read(WarcReader(spec.name, cfg.extract), tuple(paths), cost_stage="extract"),
        HtmlExtractor(cfg.extract),
        ExtractedTextFilter(cfg.extract),
    ]


def require_local_model(path: str, what: str, how: str) -> None:
    """Fail before any work starts when a local model is missing (remote ones are checked on load)."""
    if "://" not in path and not os.path.exists(path):
        raise ConfigError(f"{what} not found at {path}: {how}")


def require_language_models(model_dir: str, languages: Sequence[str], how: str) -> None:
    """Every kept language needs its three perplexity files: without them the filter would
    put the language's pages in bucket ``all`` and keep them all, silently."""
    if "://" in model_dir:
        return
    missing = [os.path.join(model_dir, f"{lang}.{kind}") for lang in languages
               for kind in ("sp.model", "arpa.bin", "cutoffs.json")
               if not os.path.isfile(os.path.join(model_dir, f"{lang}.{kind}"))]
    if missing:
        raise ConfigError(f"perplexity models missing for kept language(s) {list(languages)}: "
                          f"{', '.join(missing)}: {how}")


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    # Imported here: the perplexity and quality models are optional for runs that disable them.
    from filters.perplexity import PerplexityFilter
    from filters.quality import QualityFilter

    recipe = web_text(cfg, spec, paths)
    if cfg.line_dedup.enabled:
        try:
            groups = file_groups(paths, cfg.line_dedup.scope, cfg.line_dedup.group_files)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        recipe.append(DedupLines(cfg.line_dedup, label="DedupLines", groups=groups))
    recipe.append(LocalModels(LanguageFilter, cfg.lang_id, "model"))
    if cfg.perplexity.enabled:
        recipe.append(LocalModels(PerplexityFilter, cfg.perplexity, "model_dir"))
    if cfg.quality.enabled:
        recipe.append(LocalModels(QualityFilter, cfg.quality, "model"))
    if cfg.minhash.enabled:
        recipe.append(NearDedup(cfg.minhash))
    return recipe


def check(cfg: PipelineConfig) -> None:
    """Fail before any work when a model this recipe loads is missing locally."""
    if cfg.perplexity.enabled:
        how = ("train them with `pasture models lm --wikipedia DUMP --lang xx --output DIR`, import cc_net's "
               "with `pasture models import-ccnet`, or set perplexity.enabled: false")
        require_local_model(cfg.perplexity.model_dir, "perplexity models", how)
        require_language_models(cfg.perplexity.model_dir, cfg.lang_id.languages, how)
    if cfg.quality.enabled:
        require_local_model(cfg.quality.model, "quality classifier",
                            "train it with `pasture models quality` or set quality.enabled: false")
