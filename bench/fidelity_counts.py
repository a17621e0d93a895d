"""What each fidelity change (issue 16) keeps of CC and C4: documents and characters, before and after.

Same input for every row: every real web page of ``../shared/corpus`` (``cc-pages``: 216 HTML
pages in 2 WARC files; ``cc``: the dolma, resiliparse, UK web archive and whirlwind WARC/WET
samples). Characters of kept text stand in for tokens.

CC rows (in memory, the pure functions the Beam stages run; ``pipeline.training.lm_cutoffs``):

* line dedup: our earlier semantics (every copy of a line repeated inside a page lost, the
  300-character rule after dedup) against cc_net's (first copy kept, the rule on the raw page
  before dedup), each change alone and both; scope ``snapshot`` vs ``global`` on this input;
* perplexity: English pages in head + middle (what RedPajama/LLaMA keep) with the earlier
  per-line scoring and Wikipedia-paragraph cutoffs, against whole-document scoring and cutoffs
  calibrated on these Common Crawl documents (cc_net's ``cutoff.csv`` recipe). The LM is trained
  here on the enwiki sample with ``pasture models lm``'s code (needs ./install.sh's KenLM tools).

C4 and MinHash rows (``pipeline.runner.run_sources``, the real Beam recipe on DirectRunner):

* C4 before: three-sentence span dedup, no URL dedup, fastText LID at 0.5; then URL dedup,
  TFDS line dedup and langdetect at 0.99 added one at a time (the last row is the default);
* MinHash near-dedup on/off for CC (perplexity off) and C4, as the llama1 preset turns it off.

Usage::

    .venv/bin/python bench/fidelity_counts.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import _common  # noqa: E402

from filters.document import Document  # noqa: E402
from filters.line_dedup import drop_reason, duplicated_keys, file_groups, group_of, line_keys, remove_lines  # noqa: E402
from mixtures.config import LineDedupConfig, PipelineConfig, config_from_dict  # noqa: E402


def web_inputs(corpus: Path) -> list[str]:
    return sorted(str(p) for p in [*(corpus / "cc-pages").glob("*.warc.gz"), *(corpus / "cc").glob("*.warc*.gz")])


def extracted_pages(paths: list[str]) -> list[Document]:
    """The pages the cc recipe hands to line dedup (its reader and per-page steps)."""
    from pipeline.training.lm_cutoffs import _apply, _per_document_steps

    reader, steps = _per_document_steps(PipelineConfig(), paths)
    pages = []
    for path in paths:
        with open(path, "rb") as fh:
            for item in reader(path, fh):
                if isinstance(item, Document):
                    kept = _apply(steps, item)
                    if kept is not None:
                        pages.append(kept)
    return pages


def line_dedup(pages: list[Document], paths: list[str], cfg: LineDedupConfig) -> list[Document]:
    before = cfg.min_chars_at == "before"
    mined = [d for d in pages if not (before and len(d.text) < cfg.min_doc_chars)]
    groups = file_groups(paths, cfg.scope, cfg.group_files)
    by_group: dict[str, list[Document]] = {}
    for doc in mined:
        by_group.setdefault(group_of(doc.meta["file"], groups, cfg.scope), []).append(doc)
    out = []
    for members in by_group.values():
        keys = {d.id: line_keys(d.text) for d in members}
        duplicated = duplicated_keys(keys.values(), cfg.repeats_in_doc)
        for doc in members:
            result = remove_lines(doc.text, keys[doc.id], duplicated)
            if drop_reason(result, 0 if before else cfg.min_doc_chars) is None:
                out.append(doc.with_text(result.text))
    return out


def row(name: str, docs: list, base: tuple[int, int] | None = None) -> tuple[int, int]:
    n, chars = len(docs), sum(len(d.text if hasattr(d, "text") else d["text"]) for d in docs)
    delta = ""
    if base is not None:
        delta = f"  ({n - base[0]:+d} docs, {100.0 * (chars - base[1]) / base[1]:+.1f}% chars)"
    print(f"  {name:<58} {n:>5} docs {chars:>10,} chars{delta}")
    return n, chars


def cc_line_dedup_rows(pages: list[Document], paths: list[str]) -> list[Document]:
    print(f"CC line dedup ({len(pages)} extracted pages in)")
    old = LineDedupConfig(min_chars_at="after", repeats_in_doc="drop_all", scope="global")
    base = row("before: drop all copies, 300 chars after dedup, global", line_dedup(pages, paths, old))
    keep_first = dataclasses.replace(old, repeats_in_doc="keep_first")
    row("+ keep first copy of in-page repeats", line_dedup(pages, paths, keep_first), base)
    min_before = dataclasses.replace(old, min_chars_at="before")
    row("+ 300 chars on the raw page before dedup", line_dedup(pages, paths, min_before), base)
    new = LineDedupConfig()
    after = line_dedup(pages, paths, new)
    row("after: cc_net (both), scope snapshot (default)", after, base)
    row("after, scope global", line_dedup(pages, paths, dataclasses.replace(new, scope="global")), base)
    # The same pages recrawled unchanged in a second snapshot (as when one source lists five dumps).
    twice, twice_paths = [], []
    for snapshot in ("2019-30", "2023-06"):
        for path in paths:
            twice_paths.append(f"crawl-data/CC-MAIN-{snapshot}/{Path(path).name}")
        for doc in pages:
            name = f"{snapshot}-{doc.meta['file']}"
            twice.append(dataclasses.replace(doc, id=f"{snapshot}/{doc.id}", meta={**doc.meta, "file": name}))
    twice_paths = [str(Path(p).parent / f"{p.split('CC-MAIN-')[1][:7]}-{Path(p).name}") for p in twice_paths]
    print(f"CC line dedup, the same {len(pages)} pages recrawled unchanged in two snapshots ({len(twice)} in)")
    both = row("scope snapshot (cc_net: dedup within each snapshot)", line_dedup(twice, twice_paths, new))
    row("scope global (one group for the whole run)",
        line_dedup(twice, twice_paths, dataclasses.replace(new, scope="global")), both)
    return after


def cc_perplexity_rows(corpus: Path, paths: list[str], work: Path) -> None:
    from filters.perplexity import bucket_for, load_models
    from pipeline.training.lm import LMTrainingSettings, find_kenlm_binary, train_language
    from pipeline.training.lm_cutoffs import calibrate, ccnet_documents
    from pipeline.training.wikipedia_text import iter_articles

    english = list(ccnet_documents(paths, PipelineConfig(), "en"))
    dump = corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"
    tools = [find_kenlm_binary(name) for name in ("lmplz", "build_binary")]
    train_language(iter_articles([str(dump)], ["en"]), [str(dump)], work, LMTrainingSettings("en"), *tools)
    wiki_table = load_models(work)["en"].percentiles  # held-out Wikipedia paragraphs
    calibrate(work, "en", english)
    model = load_models(work)["en"]
    print(f"CC perplexity: English pages after line dedup + LID ({len(english)} in), kept = head + middle")

    def kept(unit: str, table: list[float]) -> list[Document]:
        return [d for d in english if bucket_for(model.perplexity(d.text, unit), table, 30, 60) in ("head", "middle")]

    base = row("before: per-line scoring, Wikipedia paragraph cutoffs", kept("line", wiki_table))
    row("+ whole-document scoring (cc_net mine)", kept("document", wiki_table), base)
    row("after: whole-document scoring, cutoffs from CC documents", kept("document", model.percentiles), base)


def run_docs(cfg_data: dict, name: str, out: Path) -> list[dict]:
    from pipeline import runner

    cfg = config_from_dict({**cfg_data, "output": str(out), "shards": {"num_shards": 1}})
    runner.run_sources(cfg, [name])
    docs = []
    for shard in sorted((out / name / "docs").iterdir()):
        docs += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode().splitlines() if line]
    return docs


def c4_rows(paths: list[str], work: Path) -> None:
    print("C4 rebuilt from the same pages (runner, DirectRunner)")
    source = {"c4": {"kind": "c4", "inputs": paths}}
    old = {"dedup": "spans", "url_dedup": False, "language_detector": "fasttext"}
    steps = [("before: span dedup, no URL dedup, fastText >= 0.5", old),
             ("+ URL normalise + dedupe", {**old, "url_dedup": True}),
             ("+ TFDS line dedup in place of span dedup", {**old, "url_dedup": True, "dedup": "lines"}),
             ("after: + langdetect >= 0.99 (default)", {})]
    base = None
    for i, (label, c4) in enumerate(steps):
        docs = run_docs({"minhash": {"enabled": False}, "c4": c4, "sources": source}, "c4", work / f"c4-{i}")
        counts = row(label, docs, base)
        base = base or counts


def minhash_rows(paths: list[str], work: Path) -> None:
    print("MinHash near-dedup (llama1 preset: off)")
    for kind, extra in (("cc", {"perplexity": {"enabled": False}}), ("c4", {})):
        source = {kind: {"kind": kind, "inputs": paths}}
        on = row(f"{kind}: minhash on", run_docs({**extra, "sources": source}, kind, work / f"{kind}-mh-on"))
        row(f"{kind}: minhash off (llama1)", run_docs({**extra, "mixture": "llama1", "sources": source}, kind,
                                                      work / f"{kind}-mh-off"), on)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(_common.DEFAULT_CORPUS))
    args = parser.parse_args()
    corpus = Path(args.corpus)
    paths = web_inputs(corpus)
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        work = Path(tmp)
        pages = extracted_pages(paths)
        cc_line_dedup_rows(pages, paths)
        cc_perplexity_rows(corpus, paths, work / "lm")
        c4_rows(paths, work)
        minhash_rows(paths, work)


if __name__ == "__main__":
    main()
