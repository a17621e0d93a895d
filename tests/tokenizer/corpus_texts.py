"""Small, self-contained readers of the raw sample corpus, for tokenizer tests only.

They do not depend on the pipeline's readers/cleaners (other engineers' code): the point is
to throw every kind of real text at the tokenizer (HTML-extracted web text in many
charsets, wiki markup, LaTeX, code, minified JS, Gutenberg books, SE post bodies).
Documents are ``(doc_id, text)`` pairs with ids from ``filters.document.stable_id``.
"""

from __future__ import annotations

import bz2
import gzip
import html
import json
import re
import tarfile
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from warcio.archiveiterator import ArchiveIterator

from filters.document import stable_id

_CHARSET = re.compile(rb"charset=[\"']?([A-Za-z0-9_\-]+)", re.I)
_WIKI_TEXT = re.compile(r"<text\b[^>]*>(.*?)</text>", re.S)


def _decode_html(payload: bytes, content_type: str) -> str:
    match = _CHARSET.search(content_type.encode("latin-1", "replace")) or _CHARSET.search(payload[:4096])
    charset = match.group(1).decode("ascii", "replace") if match else "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def warc_html_docs(path: Path) -> list[tuple[str, str]]:
    docs = []
    with open(path, "rb") as fh:
        for offset, record in enumerate(ArchiveIterator(fh)):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            content_type = record.http_headers.get_header("Content-Type") or ""
            if "html" not in content_type:
                continue
            payload = record.content_stream().read()
            tree = HTMLParser(_decode_html(payload, content_type))
            for tag in tree.css("script, style, noscript"):
                tag.decompose()
            text = (tree.body or tree.root).text(separator="\n") if (tree.body or tree.root) else ""
            text = "\n".join(line.strip() for line in text.split("\n") if line.strip())
            if text:
                docs.append((stable_id("cc", path.name, offset), text))
    return docs


def wikipedia_docs(path: Path) -> list[tuple[str, str]]:
    raw = bz2.decompress(path.read_bytes()).decode("utf-8")
    return [(stable_id("wikipedia", path.name, i), html.unescape(m.group(1)))
            for i, m in enumerate(_WIKI_TEXT.finditer(raw)) if m.group(1).strip()]


def book_docs(path: Path) -> list[tuple[str, str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return [(stable_id("books", path.name), text)]


def github_docs(path: Path) -> list[tuple[str, str]]:
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["content"]:
                docs.append((stable_id("github", rec["repo_name"], rec["path"]), rec["content"]))
    return docs


def arxiv_docs(path: Path) -> list[tuple[str, str]]:
    docs = []
    with tarfile.open(path, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and member.name.endswith(".tex"):
                text = tar.extractfile(member).read().decode("utf-8", errors="replace")
                if text.strip():
                    docs.append((stable_id("arxiv", path.name, member.name), text))
    return docs


def stackexchange_docs(path: Path) -> list[tuple[str, str]]:
    docs = []
    for _, elem in ET.iterparse(path):
        if elem.tag == "row" and elem.get("Body"):
            docs.append((stable_id("stackexchange", path.parent.name, elem.get("Id")), elem.get("Body")))
        elem.clear()
    return docs


@lru_cache(maxsize=2)
def corpus_documents(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    """Every document of the corpus by source kind (``cc-pages`` serves as ``c4``)."""
    c = Path(corpus)
    return {
        "cc": [d for p in sorted((c / "cc").glob("*.warc.gz")) for d in warc_html_docs(p)],
        "c4": [d for p in sorted((c / "cc-pages").glob("*.warc.gz")) for d in warc_html_docs(p)],
        "wikipedia": [d for p in sorted((c / "wikipedia").glob("*.xml.bz2")) for d in wikipedia_docs(p)],
        "books": [d for p in sorted((c / "books").glob("*.txt")) for d in book_docs(p)],
        "github": github_docs(c / "github" / "github_sample.jsonl.gz"),
        "arxiv": [d for p in sorted((c / "arxiv").glob("*.tar.gz")) for d in arxiv_docs(p)],
        "stackexchange": [d for p in sorted((c / "stackexchange").glob("*/Posts.xml")) for d in stackexchange_docs(p)],
    }
