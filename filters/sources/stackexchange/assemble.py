"""StackExchange question + answers → one document: HTML removed, answers by score.

LLaMA (arXiv 2302.13971 §2): "We kept the data from the 28 largest websites, removed the
HTML tags from text and sorted the answers by score (from highest to lowest)." The output
format and meta follow RedPajama v1 ``data_prep/stack_exchange/post_processing.py``:
``"Q: {question}\\nA: {answer}\\nA: {answer}…"``, ``<li>`` turned into ``"\\n*"`` bullets,
``url = https://{site}/questions/{id}`` and ``question_score`` in meta.

Fixed on purpose: RedPajama sorted the ``Score`` XML attribute as a *string*, so "9" came
before "10" and "-5" before "1". Here scores are integers (validated when read) and ties
are broken by the answer id, so the order is total and deterministic. The question text is
``Title`` on the first line and the body below it (RedPajama joined them with a space).

HTML → text uses the standard library's ``html.parser`` (entities decoded, tags dropped,
``<pre>``/``<code>`` text kept verbatim, ``<br>``/``<p>``-style blocks as line breaks).
A body the parser gives up on (it asserts on a marked section such as ``<![foo``) raises
:class:`~filters.base.BadRecord`: that question is quarantined.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from filters.base import BadRecord
from filters.document import Document

QUESTION = "question"
ANSWER = "answer"

_BLOCK_TAGS = frozenset(("p", "div", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                         "table", "tr", "hr", "dl", "dt", "dd"))
_SKIP_TAGS = frozenset(("script", "style"))
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "li":
            self.parts.append("\n* ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "hr":
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def _newline(self) -> None:
        if self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")


def html_to_text(html: str) -> str:
    """Visible text of a post body: tags removed, entities decoded, list items as bullets.

    Raises:
        BadRecord: ``html.parser`` cannot parse the body (it raises AssertionError on an
            unknown marked section, ``<![foo``); the message names the parser's complaint.
    """
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except AssertionError as exc:  # html.parser / _markupbase signal malformed markup this way
        raise BadRecord(f"unparseable post HTML: {exc}") from None
    text = "".join(parser.parts)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


def answer_order_key(answer: Document) -> tuple[int, int]:
    """Highest score first, then the older (smaller id) answer: numeric, never lexicographic."""
    return (-int(answer.meta["score"]), int(answer.meta["post_id"]))


def question_url(site: str, question_id: int | str) -> str:
    return f"https://{site}/questions/{question_id}"


def assemble(question: Document, answers: list[Document], source: str) -> Document:
    """One document for a question and its answers, in RedPajama's ``Q:``/``A:`` format.

    Args:
        question: the question post as read (``text`` is its HTML body; meta has ``title``).
        answers: its answer posts, any order.
        source: the source name of the output document.
    """
    ordered = sorted(answers, key=answer_order_key)
    title = question.meta.get("title", "")
    parts = ["Q: " + "\n".join(p for p in (title.strip(), html_to_text(question.text)) if p)]
    parts.extend("A: " + html_to_text(a.text) for a in ordered)
    meta = {
        "site": question.meta["site"],
        "url": question_url(question.meta["site"], question.meta["post_id"]),
        "question_id": int(question.meta["post_id"]),
        "question_score": int(question.meta["score"]),
        "title": title,
        "tags": question.meta.get("tags", ""),
        "answer_ids": [int(a.meta["post_id"]) for a in ordered],
        "answer_scores": [int(a.meta["score"]) for a in ordered],
        "file": question.meta.get("file", ""),
        "record": question.meta.get("record", ""),
    }
    return Document(question.id, "\n".join(parts), source, meta, dict(question.annotations))
