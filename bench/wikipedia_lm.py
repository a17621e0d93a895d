"""Wikipedia reading/cleaning speed, perplexity scoring speed and LM training time.

Prints, on the four real dumps of corpus/wikipedia (one process, one core):

1. streaming the XML only (pages/s, MB/s of decompressed XML);
2. reading + ``WikitextCleaner`` (pages/s, MB/s of wikitext in and of plain text out), against
   the peer ``mwparserfromhell.parse(text).strip_code()`` on the same pages (which keeps
   tables, file captions and reference text, so it does less work than we do);
3. ``pasture models lm`` phases on all 512 ukwiki pages (SentencePiece, lmplz, build_binary);
4. ``PerplexityFilter`` scoring (docs/s, MB/s of text) against the bare tokenize+KenLM floor.

Usage: .venv/bin/python bench/wikipedia_lm.py [--corpus ../shared/corpus] [--no-record]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filters.document import Document  # noqa: E402
from filters.perplexity import PerplexityFilter  # noqa: E402
from filters.sources.wikipedia.reader import iter_dump, read_wikipedia_dump  # noqa: E402
from filters.sources.wikipedia.rules import WikitextCleaner  # noqa: E402
from mixtures.config import PerplexityConfig  # noqa: E402
from pipeline.training.lm import (  # noqa: E402
    LMTrainingSettings,
    find_kenlm_binary,
    tokenize_line,
    train_language,
)
from pipeline.training.wikipedia_text import iter_articles  # noqa: E402

UK = "ukwiki-20230501-pages-articles-multistream-first100k-lines.xml.bz2"


def _mb(n: int) -> float:
    return n / 1e6


def bench_read(dumps: list[Path]) -> dict[str, float]:
    import bz2

    xml_bytes = sum(len(bz2.decompress(dump.read_bytes())) for dump in dumps)
    pages = 0
    t0 = time.perf_counter()
    for dump in dumps:
        with dump.open("rb") as fh:
            pages += sum(1 for item in iter_dump(fh) if not hasattr(item, "dbname"))
    elapsed = time.perf_counter() - t0
    return {"pages": pages, "seconds": elapsed, "pages_per_s": pages / elapsed,
            "xml_mb_per_s": _mb(xml_bytes) / elapsed}


def bench_clean(dumps: list[Path]) -> tuple[dict[str, float], list[Document]]:
    import mwparserfromhell

    docs: list[Document] = []
    for dump in dumps:
        with dump.open("rb") as fh:
            docs += [d for d in read_wikipedia_dump(str(dump), fh, None) if isinstance(d, Document)]
    wikitext_bytes = sum(len(d.text.encode("utf-8")) for d in docs)

    t0 = time.perf_counter()
    for dump in dumps:  # read + clean, as the pipeline does
        with dump.open("rb") as fh:
            cleaner = WikitextCleaner()
            cleaned = [cleaner(d) for d in read_wikipedia_dump(str(dump), fh, None) if isinstance(d, Document)]
            del cleaned
    ours = time.perf_counter() - t0
    cleaner = WikitextCleaner()
    text_bytes = sum(len(cleaner(d).text.encode("utf-8")) for d in docs)

    t0 = time.perf_counter()
    for d in docs:
        mwparserfromhell.parse(d.text).strip_code()
    peer = time.perf_counter() - t0
    return {
        "pages": len(docs), "seconds": ours, "pages_per_s": len(docs) / ours,
        "wikitext_mb_per_s": _mb(wikitext_bytes) / ours, "text_mb_per_s": _mb(text_bytes) / ours,
        "text_bytes_per_doc": text_bytes / len(docs), "peer_seconds": peer, "speedup_vs_strip_code": peer / ours,
    }, docs


def bench_lm(corpus: Path, work: Path) -> dict[str, float]:
    lmplz, build_binary = find_kenlm_binary("lmplz"), find_kenlm_binary("build_binary")
    uk = corpus / "wikipedia" / UK
    result = train_language(iter_articles([str(uk)], ["uk"]), [str(uk)], work / "models",
                            LMTrainingSettings("uk", vocab_size=65536), lmplz, build_binary, temp_dir=work)
    return {**{f"{k}_s": v for k, v in result.timings.items()}, "vocab": result.sentencepiece["vocab_size"],
            "train_tokens": result.counts["train_tokens"], "train_paragraphs": result.counts["train_paragraphs"]}


def bench_perplexity(model_dir: Path, docs: list[Document]) -> dict[str, float]:
    uk_docs = [WikitextCleaner()(d) for d in docs if d.meta["lang"] == "uk"]
    uk_docs = [Document(d.id, d.text, "cc", {}, {"lang_id": {"lang": "uk", "lang_score": 1.0}}) for d in uk_docs]
    text_bytes = sum(len(d.text.encode("utf-8")) for d in uk_docs)
    f = PerplexityFilter(PerplexityConfig(model_dir=str(model_dir)))
    f.load()
    t0 = time.perf_counter()
    for doc in uk_docs:
        f(doc)
    ours = time.perf_counter() - t0
    model = f._models["uk"]  # noqa: SLF001 - the floor uses the same loaded models
    lines = [line for d in uk_docs for line in d.text.split("\n") if line.strip()]
    t0 = time.perf_counter()
    for line in lines:
        model.lm.score(tokenize_line(model.sp, line))
    floor = time.perf_counter() - t0
    return {"docs": len(uk_docs), "seconds": ours, "docs_per_s": len(uk_docs) / ours,
            "mb_per_s": _mb(text_bytes) / ours, "text_bytes_per_doc": text_bytes / len(uk_docs),
            "floor_seconds": floor, "overhead_vs_floor": ours / floor}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--no-record", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corpus = Path(args.corpus)
    dumps = sorted((corpus / "wikipedia").glob("*.xml.bz2"))

    read = bench_read(dumps)
    print(f"read (XML stream only): {read['pages']} pages in {read['seconds']:.2f}s = "
          f"{read['pages_per_s']:,.0f} pages/s, {read['xml_mb_per_s']:.1f} MB/s of XML")
    clean, docs = bench_clean(dumps)
    print(f"read + clean: {clean['pages']} articles in {clean['seconds']:.2f}s = {clean['pages_per_s']:,.0f} pages/s, "
          f"{clean['wikitext_mb_per_s']:.2f} MB/s wikitext in, {clean['text_mb_per_s']:.2f} MB/s text out")
    print(f"  peer mwparserfromhell strip_code (clean only): {clean['peer_seconds']:.2f}s -> ours is "
          f"{clean['speedup_vs_strip_code']:.2f}x its speed")
    with tempfile.TemporaryDirectory(prefix="bench-lm-") as tmp:
        lm = bench_lm(corpus, Path(tmp))
        print(f"models lm uk (512 pages, {lm['train_paragraphs']:,} paragraphs, {lm['train_tokens']:,} tokens, "
              f"vocab {lm['vocab']:,}): read {lm['read_s']:.1f}s, sentencepiece {lm['sentencepiece_s']:.1f}s, "
              f"tokenize {lm['tokenize_s']:.1f}s, lmplz {lm['lmplz_s']:.1f}s, "
              f"build_binary {lm['build_binary_s']:.1f}s, "
              f"cutoffs {lm['cutoffs_s']:.1f}s")
        ppl = bench_perplexity(Path(tmp) / "models", docs)
    print(f"perplexity filter: {ppl['docs']} uk docs in {ppl['seconds']:.2f}s = {ppl['docs_per_s']:,.0f} docs/s, "
          f"{ppl['mb_per_s']:.2f} MB/s; {ppl['overhead_vs_floor']:.2f}x tokenize+score without normalize "
          f"({ppl['floor_seconds']:.2f}s)")
    if not args.no_record:
        from _results import record

        command = ".venv/bin/python bench/wikipedia_lm.py"
        record("wikipedia", mb_per_s_per_core=round(clean["text_mb_per_s"], 3),
               docs_per_s_per_core=round(clean["pages_per_s"], 1),
               text_bytes_per_doc=round(clean["text_bytes_per_doc"]), command=command)
        record("perplexity", mb_per_s_per_core=round(ppl["mb_per_s"], 3),
               docs_per_s_per_core=round(ppl["docs_per_s"], 1),
               text_bytes_per_doc=round(ppl["text_bytes_per_doc"]), command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
