"""``pasture extract PATH...``: what pasture keeps of web pages, one JSON line per page.

HTML files and WARC/WET files in (a file is WARC/WET when it starts with a gzip member or
a ``WARC/`` header line, whatever its name); for each page one line out::

    {"url": "https://...", "text": "..."}          # a WARC/WET record
    {"path": "page.html", "text": "..."}            # an HTML file

A page the chain sets aside carries ``"dropped": REASON`` (``no_text``, ``non_html``,
``http_status`` ...) and an empty text; a record the reader could not read is a line with
``"quarantined": ERROR``. Nothing is skipped silently.

The pages go through exactly the steps ``pasture rebuild`` runs for a CC or C4 source
before line dedup: :func:`pipeline.recipes.cc.web_text` (WARC reader → ``HtmlExtractor`` →
``ExtractedTextFilter``), in this process, without Beam. An HTML file stands for one
WARC response body: it is decoded as the reader decodes payloads (BOM, ``<meta charset>``,
else UTF-8; :func:`filters.sources.cc.payload.decode_html`) and enters the same steps.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from pipeline.cli import add_config_option

GZIP_MAGIC = b"\x1f\x8b"
WARC_MAGIC = b"WARC/"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="print the main text pasture keeps of HTML or WARC/WET files (one JSON line per page)",
        description="Run the CC/C4 read + extract steps (the code `pasture rebuild` runs) over HTML files "
        "and WARC/WET files and write one JSON line per page: {\"url\" or \"path\", \"text\"}, plus "
        "\"dropped\" or \"quarantined\" for pages set aside.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="HTML, WARC or WET files (.gz or not)")
    parser.add_argument("--output", metavar="FILE.jsonl", help="write here instead of stdout")
    add_config_option(parser, "extract.* settings (max_html_bytes, min_text_chars)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from pipeline.cli import VerbSettings

    cfg = VerbSettings(args, "extract").cfg
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            count = write_pages(args.paths, cfg, out)
        print(f"{count} pages written to {args.output}", file=sys.stderr)
    else:
        write_pages(args.paths, cfg, sys.stdout)
    return 0


def write_pages(paths: Sequence[str], cfg: Any, out: IO[str]) -> int:
    """Writes one JSON line per page of ``paths`` to ``out``; returns the number of lines."""
    count = 0
    for record in extract_pages(paths, cfg):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def extract_pages(paths: Sequence[str], cfg: Any) -> Iterator[dict[str, Any]]:
    """``{"url" | "path", "text"[, "dropped" | "quarantined"]}`` for every page of ``paths``, in order."""
    from filters.base import Dropped, QuarantineRecord
    from filters.document import Document
    from mixtures.config import SourceSpec
    from pipeline.recipes.cc import web_text

    spec = SourceSpec("cc", "cc")
    read, *steps = web_text(cfg, spec, paths)
    for step in steps:
        step.load()
    for path in paths:
        with open(path, "rb") as fh:
            head = fh.read(len(WARC_MAGIC))
            fh.seek(0)
            if head.startswith(GZIP_MAGIC) or head == WARC_MAGIC:
                items: Iterator[Any] = read.reader(path, fh)
            else:
                items = iter([_html_file_document(path, fh.read(), cfg, spec.name)])
            for item in items:
                if isinstance(item, QuarantineRecord):
                    yield {"path": path, "record": item.record, "text": "", "quarantined": item.error}
                elif isinstance(item, Dropped):
                    yield {**_where(item.doc, path), "text": "", "dropped": item.reason}
                elif isinstance(item, Document):
                    yield _through(item, steps, path)


def _html_file_document(path: str, raw: bytes, cfg: Any, source: str):
    """An HTML file as the reader would hand over its bytes (decoded, ``format: html``)."""
    from filters.base import Dropped
    from filters.document import Document, stable_id
    from filters.sources.cc.payload import decode_html

    doc_id = stable_id(source, path)
    if len(raw) > cfg.extract.max_html_bytes:
        return Dropped(Document(doc_id, "", source, {"file": path}), "oversized")
    text, codec, origin = decode_html(raw, "")
    return Document(doc_id, text, source, {"file": path, "format": "html", "charset": codec,
                                           "charset_origin": origin})


def _through(doc: Any, steps: Sequence[Any], path: str) -> dict[str, Any]:
    """Runs the extract steps on one page: cleaners return a Document, filters a Verdict."""
    from filters.document import Document

    for step in steps:
        result = step(doc)
        if isinstance(result, Document):
            doc = result
        elif not result.keep:
            return {**_where(doc, path), "text": "", "dropped": result.reason}
    return {**_where(doc, path), "text": doc.text}


def _where(doc: Any, path: str) -> dict[str, str]:
    url = doc.meta.get("url")
    return {"url": url} if url else {"path": path}
