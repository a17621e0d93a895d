"""Throughput of the quality classifier and the C4 rules on corpus/cc-pages, one core.

The 216 real pages are read and extracted once (not timed); then each stage runs over the
same extracted texts, best of ``--repeat`` runs:

* ``quality``: ``QualityFilter`` (``classifier_text`` normalisation + fastText predict) with
  a model trained here by ``pipeline.training.quality`` on the enwiki sample + corpus/cc
  pages (about 3 s; or pass ``--model``);
* ``c4_rules``: ``C4Cleaner`` + ``C4PageFilter`` (TFDS line rules, sentence count, LDNOOBW
  badwords regex);
* ``c4_span_dedup``: the per-page CPU work of ``DedupC4Spans`` (``span_hashes`` +
  ``remove_duplicate_spans`` on the C4-cleaned pages; the shuffles are the runner's);
* peer: ``lang_id`` (fastText lid.176, ``LanguageFilter``) on the same texts, so the
  ratios say how each stage compares with a stage every CC/C4 page already pays for.

Usage::

    .venv/bin/python bench/quality_c4.py [--corpus ../shared/corpus] [--repeat 3] [--model M] [--record]

``--record`` merges ``quality``, ``c4_rules`` and ``c4_span_dedup`` into ``bench/results.json``
(MB of document text entering the stage per second per core, as ``bench/_results.py`` says).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import best_of, extracted_pages  # noqa: E402

from filters.lang_id import LanguageFilter  # noqa: E402
from filters.quality import QualityFilter, classifier_text  # noqa: E402
from filters.sources.c4.config import C4Config  # noqa: E402
from filters.sources.c4.rules import C4Cleaner, C4PageFilter  # noqa: E402
from filters.sources.c4.spans import remove_duplicate_spans, span_hashes  # noqa: E402
from mixtures.config import LangIdConfig, QualityConfig  # noqa: E402
from pipeline.training.quality import TrainingOptions, build_training_set, train_quality_model  # noqa: E402


def train_model(corpus: Path, output: str) -> dict[str, Any]:
    web = sorted(str(p) for p in (corpus / "cc-pages").glob("*.warc.gz")) + \
        sorted(str(p) for p in (corpus / "cc").glob("*.gz"))
    dumps = [str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2")]
    options = TrainingOptions(epoch=30, lr=0.5, heldout_fraction=0.2)
    return train_quality_model(build_training_set(web, dumps, dumps, options), output, options, {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", help="a trained quality model (default: train one on the samples)")
    parser.add_argument("--record", action="store_true", help="merge figures into bench/results.json")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)

    docs = [d for d in extracted_pages(sorted((corpus / "cc-pages").glob("*.warc.gz"))) if d.text.strip()]
    text_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = str(Path(tmp) / "quality.bin")
            metrics = train_model(corpus, model)
            print(f"trained {model}: held-out ROC-AUC {metrics['heldout']['roc_auc']}")
        quality = QualityFilter(QualityConfig(enabled=True, model=model))
        quality.load()
        lid = LanguageFilter(LangIdConfig())
        lid.load()
        cleaner, page_filter = C4Cleaner(C4Config()), C4PageFilter(C4Config())
        page_filter.load()

        t_lid, _ = best_of(args.repeat, lambda: [lid(d) for d in docs])
        t_norm, _ = best_of(args.repeat, lambda: [classifier_text(d.text) for d in docs])
        t_quality, verdicts = best_of(args.repeat, lambda: [quality(d) for d in docs])
        t_c4, c4_out = best_of(args.repeat, lambda: [(c, page_filter(c)) for c in map(cleaner, docs)])
        kept = [c for c, v in c4_out if v.keep]
        kept_bytes = sum(len(c.text.encode("utf-8")) for c in kept)

        def dedup_work() -> int:
            removed = 0
            for c in kept:
                hashes = span_hashes(c.text)
                removed += remove_duplicate_spans(c.text, frozenset(hashes)).sentences_removed
            return removed

        t_dedup, _ = best_of(args.repeat, dedup_work)

    rows = [
        ("lang_id (peer: lid.176)", len(docs), t_lid, text_bytes),
        ("quality: normalisation only", len(docs), t_norm, text_bytes),
        ("quality (normalise + predict)", len(docs), t_quality, text_bytes),
        ("c4_rules (clean + page filter)", len(docs), t_c4, text_bytes),
        ("c4_span_dedup (per-page work)", len(kept), t_dedup, kept_bytes),
    ]
    print(f"\n{len(docs)} pages, {text_bytes / 1e6:.2f} MB of extracted text "
          f"({text_bytes // len(docs)} B/page); C4 keeps {len(kept)} pages ({kept_bytes / 1e6:.2f} MB)")
    print(f"kept by the quality model at 0.25: {sum(v.keep for v in verdicts)} of {len(docs)}")
    print(f"{'stage':<34}{'docs':>6}{'seconds':>9}{'docs/s':>10}{'MB/s':>8}{'vs lang_id':>12}")
    lid_rate = len(docs) / t_lid
    for name, n, seconds, size in rows:
        rate = n / seconds
        print(f"{name:<34}{n:>6}{seconds:>9.3f}{rate:>10.1f}{size / 1e6 / seconds:>8.2f}{rate / lid_rate:>11.2f}x")

    if args.record:
        from _results import record  # bench/ is sys.path[0] when this runs as a script

        command = ".venv/bin/python bench/quality_c4.py --record"
        record("quality", mb_per_s_per_core=round(text_bytes / 1e6 / t_quality, 3),
               docs_per_s_per_core=round(len(docs) / t_quality, 1),
               text_bytes_per_doc=text_bytes // len(docs), command=command)
        record("c4_rules", mb_per_s_per_core=round(text_bytes / 1e6 / t_c4, 3),
               docs_per_s_per_core=round(len(docs) / t_c4, 1),
               text_bytes_per_doc=text_bytes // len(docs), command=command)
        record("c4_span_dedup", mb_per_s_per_core=round(kept_bytes / 1e6 / t_dedup, 3),
               docs_per_s_per_core=round(len(kept) / t_dedup, 1),
               text_bytes_per_doc=kept_bytes // max(1, len(kept)), command=command, sources=["c4"],
               note="span hashes + removal per page; the two shuffles are not included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
