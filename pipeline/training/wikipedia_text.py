"""Wikipedia article text for offline model training (the perplexity LM, the quality classifier).

The same reader and cleaner as the Wikipedia source (``filters/sources/wikipedia``), run
over local dumps in file order, without Beam.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from filters.base import Dropped, QuarantineRecord
from filters.document import Document
from filters.sources.wikipedia.reader import REASON_WIKI_LANG, DumpError, read_wikipedia_dump
from filters.sources.wikipedia.rules import WikitextCleaner


def iter_articles(paths: Iterable[str], languages: Iterable[str] | None = None,
                  max_docs: int | None = None) -> Iterator[Document]:
    """Cleaned, non-empty article documents of local dumps, in file order (for LM training)."""
    cleaner = WikitextCleaner()
    emitted = 0
    for path in paths:
        with open(path, "rb") as fh:
            for item in read_wikipedia_dump(path, fh, languages):
                if isinstance(item, QuarantineRecord):
                    raise DumpError(f"{item.file}: {item.record}: {item.error}")
                if isinstance(item, Dropped) and item.reason == REASON_WIKI_LANG:
                    break  # a dump holds one wiki: the rest of it is the same other language
                if not isinstance(item, Document):
                    continue
                doc = cleaner(item)
                if not doc.text.strip():
                    continue
                yield doc
                emitted += 1
                if max_docs is not None and emitted >= max_docs:
                    return
