"""Throughput of the per-source readers and cleaners on the real sample corpus.

For every source: documents/s and MB/s (of input text) for each pure step, plus a peer
measured in the same process on the same documents:

* GitHub content heuristics vs the RedPajama formulation (``sum(c.isalnum() for c in text)``
  style counting, ``github_clean_dedup_local.py``), header cleaner alone.
* arXiv cleaner vs a re-implementation of RedPajama's ``arxiv_cleaner.py`` regex pipeline
  (preamble regex, comment regexes, bibliography regex, one ``re.sub`` per macro).
* StackExchange HTML → text (stdlib ``html.parser``) vs selectolax's ``text()``.
* Books: Gutenberg stripping; shingles + MinHash (``filters.minhash`` over 64 bits: xxh64 word
  hashes, numpy n-gram mix, datasketch's affine64 permutations applied in numpy) vs
  datasketch's default path (sha1 per shingle string).

Then, per source, the end-to-end rate of what its recipe (``pipeline/recipes/<kind>.py``) runs
on one core before any shuffle: the steps come from the recipe itself (``recipe_steps``): its
``Read.reader`` over its files, then every step that is not a Beam composite, in order, each
applied as ``stages.steps.ApplyStep`` applies it (a dropping Verdict or a declared data error
ends the document; any other exception fails the bench, as it fails the run). Rates are MB
(1e6 bytes) of UTF-8 document text entering the stage, i.e. produced by the reader, per
CPU-second (best of ``--repeat``; CPU time because the machine is shared).

Run: ``.venv/bin/python bench/cleaners.py [--corpus ../shared/corpus] [--repeat 3] [--record]``

``--record`` writes the end-to-end rates as stages ``github``, ``arxiv``, ``stackexchange`` and
``books`` of ``bench/results.json`` (read by ``pasture plan-cost``, see ``bench/_results.py``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _common import best_of, read_documents  # noqa: E402

from filters.document import Document  # noqa: E402
from filters.minhash import minhash_signature  # noqa: E402
from filters.sources.arxiv.config import ArxivConfig  # noqa: E402
from filters.sources.arxiv.latex import ArxivCleaner  # noqa: E402
from filters.sources.arxiv.reader import ArxivReader  # noqa: E402
from filters.sources.books.config import BooksConfig  # noqa: E402
from filters.sources.books.gutenberg import GutenbergCleaner, book_shingles  # noqa: E402
from filters.sources.books.reader import BooksReader  # noqa: E402
from filters.sources.github.config import GithubConfig  # noqa: E402
from filters.sources.github.reader import GithubReader  # noqa: E402
from filters.sources.github.rules import GithubContentFilter, GithubHeaderCleaner  # noqa: E402
from filters.sources.stackexchange.assemble import ANSWER, QUESTION, assemble, html_to_text  # noqa: E402
from filters.sources.stackexchange.config import StackExchangeConfig  # noqa: E402
from filters.sources.stackexchange.reader import StackExchangeReader  # noqa: E402
from mixtures.config import PipelineConfig, SourceSpec  # noqa: E402
from pipeline.recipes import Read, recipe_steps  # noqa: E402
from stages.steps import data_errors_of  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` runs (the least disturbed by other processes)."""
    return best_of(repeat, fn)[0]


def row(name: str, docs: int, chars: int, seconds: float, peer: float | None = None) -> str:
    ratio = f"{peer / seconds:6.2f}x" if peer else "      "
    return f"{name:<44}{docs:>7}{chars / 1e6:>9.2f}{docs / seconds:>12.1f}{chars / 1e6 / seconds:>9.2f}  {ratio}"


# --- peers -----------------------------------------------------------------------------


def redpajama_github_stats(text: str) -> tuple[int, float, float]:
    """RedPajama's per-file numbers, computed its way (character loops)."""
    lines = text.splitlines()
    max_len = max((len(line) for line in lines), default=0)
    avg = len(text) / max(len(lines), 1)
    alnum = sum(c.isalnum() for c in text) / max(len(text), 1)
    return max_len, avg, alnum


_RP_SECTION = re.compile(
    r"^(.*?)(\\\bchapter\b\*?(?:\[(.*?)\])?\{(.*?)\}|\\\bpart\b\*?(?:\[(.*?)\])?\{(.*?)\}"
    r"|\\\bsection\b\*?(?:\[(.*?)\])?\{(.*?)\}|\\\bsubsection\b\*?(?:\[(.*?)\])?\{(.*?)\}"
    r"|\\\bsubsubsection\b\*?(?:\[(.*?)\])?\{(.*?)\}|\\\bparagraph\b\*?(?:\[(.*?)\])?\{(.*?)\}"
    r"\\\bsubparagraph\b\*?(?:\[(.*?)\])?\{(.*?)\})",
    re.DOTALL,
)
_RP_BIB = re.compile(r"(\\appendix|\\begin\{references\}|\\begin\{REFERENCES\}|\\begin\{thebibliography\}"
                     r"|\\bibliography\{.*\}).*$", re.DOTALL)
_RP_NEWCOMMAND = re.compile(r"\\\bnewcommand\b\*?\{(\\[a-zA-Z0-9]+?)\}\{(.*?)\}$", re.MULTILINE)
_RP_DEF = re.compile(r"\\def\s*(\\[a-zA-Z0-9]+?)\s*\{(.*?)\}$", re.MULTILINE)


def redpajama_arxiv_clean(tex: str) -> str:
    """RedPajama v1 arxiv_cleaner.py, re-implemented (its missing ``|`` included)."""
    macros = {m.group(1): m.group(2) for rx in (_RP_NEWCOMMAND, _RP_DEF) for m in rx.finditer(tex)}
    tex = _RP_SECTION.sub(r"\2", tex, count=1)
    tex = re.sub(r"(?m)^%.*\n?", "", tex)
    tex = re.sub(r"[^\\]%.+$", "", tex, flags=re.MULTILINE)
    tex = _RP_BIB.sub("", tex)
    for name, value in macros.items():
        tex = re.sub("(" + re.escape(name) + ")" + r"([^a-zA-Z0-9])", lambda m, v=value: v + m.group(2), tex)
    return tex


def selectolax_text(html: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    return LexborHTMLParser(html).text(separator="")


def datasketch_default_signature(text: str, num_perm: int) -> object:
    from datasketch import MinHash

    words = re.findall(r"\w+", text.lower())
    grams = {" ".join(words[i:i + 5]).encode("utf-8") for i in range(len(words) - 4)}
    m = MinHash(num_perm=num_perm)
    m.update_batch(list(grams))
    return m


# --- per source ------------------------------------------------------------------------


def bench_github(corpus: Path, repeat: int) -> list[str]:
    path = corpus / "github" / "github_sample.jsonl.gz"
    with path.open("rb") as fh:
        raw = gzip.decompress(fh.read())
    docs = [d for d in read_documents(GithubReader("github", GithubConfig()), [path]) if d.text]
    chars = sum(len(d.text) for d in docs)
    cfg = GithubConfig()
    header, content = GithubHeaderCleaner(cfg), GithubContentFilter(cfg)
    read_s = timed(lambda: read_documents(GithubReader("github", GithubConfig()), [path]), repeat)
    header_s = timed(lambda: [header(d) for d in docs], repeat)
    content_s = timed(lambda: [content(d) for d in docs], repeat)
    peer_s = timed(lambda: [redpajama_github_stats(d.text) for d in docs], repeat)
    return [
        row("github reader (jsonl.gz → docs)", 723, len(raw), read_s),
        row("github header cleaner", len(docs), chars, header_s),
        row("github content heuristics (vs RedPajama calc)", len(docs), chars, content_s, peer_s),
        row("  peer: RedPajama stats (no token ratio)", len(docs), chars, peer_s),
    ]


def bench_arxiv(corpus: Path, repeat: int) -> list[str]:
    cfg = ArxivConfig()
    paths = sorted((corpus / "arxiv").glob("*.tar.gz"))
    read = lambda: read_documents(ArxivReader("arxiv", cfg), paths)  # noqa: E731
    docs = read()
    chars = sum(len(d.text) for d in docs)
    cleaner = ArxivCleaner(cfg)
    read_s = timed(read, repeat)
    clean_s = timed(lambda: [cleaner(d) for d in docs], repeat)
    peer_s = timed(lambda: [redpajama_arxiv_clean(d.text) for d in docs], repeat)
    return [
        row("arxiv reader (tar.gz → flattened tex)", len(docs), chars, read_s),
        row("arxiv cleaner (vs RedPajama regexes)", len(docs), chars, clean_s, peer_s),
        row("  peer: RedPajama arxiv_cleaner re-impl.", len(docs), chars, peer_s),
    ]


def bench_stackexchange(corpus: Path, repeat: int) -> list[str]:
    cfg = StackExchangeConfig()
    paths = sorted((corpus / "stackexchange").glob("*/Posts.xml"))
    read = lambda: read_documents(StackExchangeReader("se", cfg), paths)  # noqa: E731
    posts = read()
    raw = sum(p.stat().st_size for p in paths)
    chars = sum(len(d.text) for d in posts)
    groups: dict[tuple[str, int], list[Document]] = defaultdict(list)
    questions = {}
    for d in posts:
        if d.meta["post_type"] == QUESTION:
            questions[(d.meta["site"], d.meta["post_id"])] = d
        elif d.meta["post_type"] == ANSWER:
            groups[(d.meta["site"], d.meta["parent_id"])].append(d)
    read_s = timed(read, repeat)
    html_s = timed(lambda: [html_to_text(d.text) for d in posts], repeat)
    peer_s = timed(lambda: [selectolax_text(d.text) for d in posts], repeat)
    assemble_s = timed(lambda: [assemble(q, groups[k], "se") for k, q in questions.items()], repeat)
    return [
        row("stackexchange reader (Posts.xml → posts)", len(posts), raw, read_s),
        row("stackexchange html_to_text (vs selectolax)", len(posts), chars, html_s, peer_s),
        row("  peer: selectolax .text()", len(posts), chars, peer_s),
        row("stackexchange assemble (per question)", len(questions), chars, assemble_s),
    ]


def bench_books(corpus: Path, repeat: int) -> list[str]:
    cfg = BooksConfig()
    paths = sorted((corpus / "books").glob("*.txt"))
    read = lambda: read_documents(BooksReader("books", cfg), paths)  # noqa: E731
    docs = read()
    chars = sum(len(d.text) for d in docs)
    cleaner = GutenbergCleaner(cfg)
    cleaned = [cleaner(d) for d in docs]
    body = sum(len(d.text) for d in cleaned)
    read_s = timed(read, repeat)
    clean_s = timed(lambda: [cleaner(d) for d in docs], repeat)
    sig_s = timed(lambda: [minhash_signature(book_shingles(d.text, cfg.shingle_words), cfg.num_perm, cfg.seed)
                           for d in cleaned], repeat)
    peer_s = timed(lambda: [datasketch_default_signature(d.text, cfg.num_perm) for d in cleaned], repeat)
    return [
        row("books reader (decode + newlines)", len(docs), chars, read_s),
        row("books gutenberg cleaner", len(docs), chars, clean_s),
        row("books shingles+minhash (vs datasketch sha1)", len(cleaned), body, sig_s, peer_s),
        row("  peer: datasketch default (sha1/shingle)", len(cleaned), body, peer_s),
    ]


# --- end to end per source (what --record writes) ----------------------------------------


def run_steps(docs: list[Document], steps: list[Any]) -> tuple[int, int]:
    """Applies cleaners/filters in order as ``ApplyStep`` does; returns ``(kept, text bytes out)``."""
    kept = out_bytes = 0
    errors = [data_errors_of(step) for step in steps]
    for doc in docs:
        for step, data_errors in zip(steps, errors):
            try:
                result = step(doc)
            except data_errors:  # quarantined in the pipeline: the document ends here
                break
            if isinstance(result, Document):
                doc = result
            elif not result.keep:
                break
        else:
            kept += 1
            out_bytes += len(doc.text.encode("utf-8"))
    return kept, out_bytes


def group_and_assemble(posts: list[Document]) -> tuple[int, int]:
    """StackExchange after the reader: posts by question (the recipe's GroupByKey, here a dict)
    → ``assemble`` per question."""
    groups: dict[tuple[str, int], list[Document]] = defaultdict(list)
    for doc in posts:
        meta = doc.meta
        groups[(meta["site"], int(meta["post_id"] if meta["post_type"] == QUESTION else meta["parent_id"]))].append(doc)
    kept = out_bytes = 0
    for members in groups.values():
        questions = [d for d in members if d.meta["post_type"] == QUESTION]
        if questions:
            doc = assemble(questions[0], [d for d in members if d.meta["post_type"] != QUESTION], "se")
            kept += 1
            out_bytes += len(doc.text.encode("utf-8"))
    return kept, out_bytes


@dataclass(frozen=True)
class SourceRate:
    """One source's end-to-end figures."""

    stage: str
    scope: str
    docs_in: int
    bytes_in: int  # UTF-8 text the reader produced
    kept: int
    bytes_out: int
    cpu_s: float
    wall_s: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes_in / 1e6 / self.cpu_s


def end_to_end(stage: str, scope: str, pipeline: Callable[[], tuple[list[Document], tuple[int, int]]],
               repeat: int) -> SourceRate:
    """Best CPU and wall time of ``pipeline`` (read → steps) over ``repeat`` runs."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        docs, (kept, bytes_out) = pipeline()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    bytes_in = sum(len(d.text.encode("utf-8")) for d in docs)
    return SourceRate(stage, scope, len(docs), bytes_in, kept, bytes_out, best_cpu, best_wall)


def recipe_chain(kind: str, paths: list[Path]) -> tuple[Read, list[Any], list[Any]]:
    """The recipe of ``kind`` (default config) over ``paths``: its Read, its pure steps in
    order (loaded), and the Beam composites this bench cannot run in one process."""
    import apache_beam as beam

    cfg = PipelineConfig(sources=(SourceSpec(kind, kind),))
    read, *steps = recipe_steps(cfg, cfg.sources[0], [str(p) for p in paths])
    pure = [step for step in steps if not isinstance(step, beam.PTransform)]
    for step in pure:
        step.load()
    return read, pure, [step for step in steps if isinstance(step, beam.PTransform)]


def _names(steps: list[Any]) -> str:
    return ", ".join(type(step).__name__ for step in steps) or "none"


def source_rates(corpus: Path, repeat: int) -> list[SourceRate]:
    """Reader + pure steps of each recipe, in recipe order, on the corpus sample of that source."""
    paths = {
        "github": [corpus / "github" / "github_sample.jsonl.gz"],
        "arxiv": sorted((corpus / "arxiv").glob("*.tar.gz")),
        "stackexchange": sorted((corpus / "stackexchange").glob("*/Posts.xml")),
        "books": sorted((corpus / "books").glob("*.txt")),
    }
    rates = []
    for kind, files in paths.items():
        read, pure, composites = recipe_chain(kind, files)
        scope = (f"recipe {kind}: {type(read.reader).__name__} + {_names(pure)}; "
                 f"Beam steps not included: {_names(composites)}")
        if kind == "stackexchange":
            # Its recipe groups posts by question in a Beam composite; here a dict stands in.
            scope += " (grouping by question in memory here, then assemble; the shuffle is not included)"

        def run(read=read, pure=pure, kind=kind):
            docs = read_documents(read.reader, [Path(f) for f in read.files])
            return docs, group_and_assemble(docs) if kind == "stackexchange" else run_steps(docs, pure)

        rates.append(end_to_end(kind, scope, run, repeat))
    return rates


def record_rates(rates: list[SourceRate]) -> None:
    from _results import record  # bench/ is sys.path[0] when this runs as a script

    for r in rates:
        record(r.stage, mb_per_s_per_core=round(r.mb_per_s, 3), docs_per_s_per_core=round(r.docs_in / r.cpu_s, 1),
               text_bytes_per_doc=round(r.bytes_in / r.docs_in), scope=r.scope,
               note=f"per CPU-second, one process; {r.kept}/{r.docs_in} documents out, "
                    f"{r.bytes_out / 1e6:.2f} of {r.bytes_in / 1e6:.2f} MB text out",
               command=".venv/bin/python bench/cleaners.py --record")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--record", action="store_true",
                        help="write the end-to-end rates as stages github/arxiv/stackexchange/books "
                             "of bench/results.json")
    args = parser.parse_args(argv)
    corpus = Path(args.corpus)
    header = f"{'step':<44}{'docs':>7}{'MB':>9}{'docs/s':>12}{'MB/s':>9}  vs peer"
    print(header)
    print("-" * len(header))
    rows = []
    for bench in (bench_github, bench_arxiv, bench_stackexchange, bench_books):
        for line in bench(corpus, args.repeat):
            rows.append(line)
            print(line, flush=True)
    print()
    e2e = (f"{'end to end, 1 core':<19}{'docs in':>8}{'MB in':>8}{'kept':>7}{'MB out':>8}{'CPU s':>8}"
           f"{'wall s':>8}{'MB/s/core':>11}")
    print(e2e)
    print("-" * len(e2e))
    rates = source_rates(corpus, args.repeat)
    for r in rates:
        print(f"{r.stage:<19}{r.docs_in:>8}{r.bytes_in / 1e6:>8.2f}{r.kept:>7}{r.bytes_out / 1e6:>8.2f}"
              f"{r.cpu_s:>8.2f}{r.wall_s:>8.2f}{r.mb_per_s:>11.2f}", flush=True)
    if args.record:
        record_rates(rates)
        print("\nrecorded github, arxiv, stackexchange, books in bench/results.json")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
