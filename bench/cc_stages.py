"""Throughput of the CC stages on corpus/cc-pages (216 real pages, 32.8 MB of HTML), one core.

Stages, each timed on its own over the same documents (best of ``--repeat`` runs):

* ``read``: WARC records → decoded HTML Documents (``filters/sources/cc/warc.py``);
* ``extract``: HTML → main text with selectolax/Lexbor (``filters/sources/cc/extract.py``), against
  two peers measured here on the same pages: the naive selectolax ``body.text()`` (no block
  structure, no boilerplate removal) and, when importable, trafilatura (never a project
  dependency: install it into a throwaway ``--target`` dir and put it on PYTHONPATH);
* ``line_dedup``: CCNet line keys (normalize_for_dedup + sha1) + rewrite, the per-document
  CPU work of ``DedupLines`` (the two shuffles are the runner's business and not included);
* ``lang_id``: fastText lid.176 on the extracted text.

Usage::

    .venv/bin/python bench/cc_stages.py [--corpus ../shared/corpus] [--repeat 3] [--record]

``--record`` merges the figures into ``bench/results.json`` (read by ``pasture plan-cost``).
Rates there are per core in MB of document *text* entering the stage (for ``extract``: the
text it produced, read included), as ``bench/_results.py`` specifies.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))

import _common  # noqa: E402

from filters.document import Document  # noqa: E402
from filters.lang_id import LanguageFilter  # noqa: E402
from filters.line_dedup import line_keys, remove_lines  # noqa: E402
from filters.sources.cc.extract import HtmlExtractor  # noqa: E402
from filters.sources.cc.warc import read_warc  # noqa: E402
from mixtures.config import ExtractConfig, LangIdConfig  # noqa: E402


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Least CPU time of this process over ``repeat`` runs.

    CPU time, not wall time: the 2 cores are shared with other jobs, and every stage here is
    single-threaded, so CPU seconds are what one dedicated core would take.
    """
    return _common.best_of(repeat, fn, time.process_time)


def read_all(paths: list[Path]) -> list[Document]:
    return _common.read_documents(lambda path, fh: read_warc(path, fh, ExtractConfig()), paths)


def naive_selectolax(html: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    body = LexborHTMLParser(html).body
    return body.text(separator="\n") if body is not None else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="merge figures into bench/results.json")
    args = parser.parse_args(argv)

    paths = sorted((Path(args.corpus) / "cc-pages").glob("*.warc.gz"))
    warc_bytes = sum(p.stat().st_size for p in paths)
    rows: list[tuple[str, int, float, int]] = []  # stage, docs, seconds, text bytes entering

    t_read, html_docs = best_of(args.repeat, lambda: read_all(paths))
    html_bytes = sum(len(d.text.encode("utf-8")) for d in html_docs)
    n = len(html_docs)
    rows.append(("read (WARC → HTML)", n, t_read, warc_bytes))

    extractor = HtmlExtractor(ExtractConfig())
    t_extract, text_docs = best_of(args.repeat, lambda: [extractor(d) for d in html_docs])
    text_bytes = sum(len(d.text.encode("utf-8")) for d in text_docs)
    rows.append(("extract (HTML → text)", n, t_extract, html_bytes))

    def dedup_work() -> int:
        removed = 0
        for doc in text_docs:
            keys = line_keys(doc.text)
            removed += len(keys) - len(remove_lines(doc.text, keys, ()).line_ids)
        return removed

    t_dedup, _ = best_of(args.repeat, dedup_work)
    rows.append(("line_dedup (keys + rewrite)", n, t_dedup, text_bytes))

    lid = LanguageFilter(LangIdConfig())
    lid.load()
    t_lid, _ = best_of(args.repeat, lambda: [lid(d) for d in text_docs])
    rows.append(("lang_id (lid.176.ftz)", n, t_lid, text_bytes))

    print(f"corpus/cc-pages: {n} pages, {warc_bytes / 1e6:.1f} MB WARC.gz, {html_bytes / 1e6:.1f} MB HTML, "
          f"{text_bytes / 1e6:.2f} MB extracted text; least CPU time of {args.repeat} runs, 1 core")
    print(f"{'stage':<32}{'docs/s':>10}{'MB/s in':>10}{'CPU s':>10}")
    for stage, docs, seconds, size in rows:
        print(f"{stage:<32}{docs / seconds:>10.0f}{size / 1e6 / seconds:>10.1f}{seconds:>10.3f}")

    print("\nextraction vs peers (same pages, HTML already decoded):")
    peers: list[tuple[str, float, int]] = [("pasture HtmlExtractor (lexbor)", t_extract, text_bytes)]
    t_naive, naive = best_of(args.repeat, lambda: [naive_selectolax(d.text) for d in html_docs])
    peers.append(("selectolax body.text() (naive)", t_naive, sum(len(t.encode("utf-8")) for t in naive)))
    try:
        import trafilatura  # optional, never a project dependency

        t_traf, traf = best_of(1, lambda: [trafilatura.extract(d.text) or "" for d in html_docs])
        peers.append((f"trafilatura {trafilatura.__version__} extract()", t_traf,
                      sum(len(t.encode("utf-8")) for t in traf)))
    except ImportError:
        print("  (trafilatura not importable: skipped)")
    for name, seconds, out_bytes in peers:
        print(f"  {name:<36}{n / seconds:>8.0f} docs/s{html_bytes / 1e6 / seconds:>8.1f} MB/s HTML"
              f"   ours = {seconds / t_extract:>5.2f}x its speed   text out {out_bytes / 1e6:.2f} MB")

    if args.record:
        from _results import record  # bench/ is sys.path[0] when this runs as a script

        command = ".venv/bin/python bench/cc_stages.py --record"
        per_doc = text_bytes / n
        record("extract", mb_per_s_per_core=round(text_bytes / 1e6 / (t_read + t_extract), 3),
               docs_per_s_per_core=round(n / (t_read + t_extract), 1), text_bytes_per_doc=round(per_doc),
               command=command, scope="read + extract, rate in MB of extracted text produced")
        record("line_dedup", mb_per_s_per_core=round(text_bytes / 1e6 / t_dedup, 3),
               docs_per_s_per_core=round(n / t_dedup, 1), text_bytes_per_doc=round(per_doc), command=command,
               scope="line keys + rewrite; the two shuffles are not included")
        record("lang_id", mb_per_s_per_core=round(text_bytes / 1e6 / t_lid, 3),
               docs_per_s_per_core=round(n / t_lid, 1), text_bytes_per_doc=round(per_doc), command=command)
        print("\nrecorded extract, line_dedup, lang_id in bench/results.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
