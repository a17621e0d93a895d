"""StackExchange question assembly: posts keyed by question → GroupByKeyOnDisk → Q/A documents.

The reader streams posts (filters/sources/stackexchange/reader.py); answers are joined to their
question in Beam, keyed by ``(site, question id)``, so a large site is spread over workers
and only the posts of one question meet on one worker. Assembly (text, numeric answer
order, meta) is the pure ``filters.sources.stackexchange.assemble.assemble``.

Accounting (stats.json): ``documents_in`` = question posts + reader drops (tag wikis, other
post types, excluded sites) + quarantined rows + orphan answers. An orphan answer (its
question is not in the dump) is discovered only after grouping, so the assembly stage
emits it on an ``orphans`` output that counts both as input and as dropped
(``orphan_answer``). Attached answers are part of their question's document. A question id
seen twice (the same dump given twice) keeps one copy; the others drop as
``duplicate_post``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from filters.base import QuarantineRecord, mark_dropped
from filters.document import Document
from filters.sources.stackexchange.assemble import QUESTION, assemble
from filters.sources.stackexchange.reader import ORPHAN_ANSWER
from stages.spill import GroupByKeyOnDisk
from stages.steps import DROPPED, QUARANTINE, guarded
from stages.streams import step_outputs

STAGE = "stackexchange_assemble"
DUPLICATE_POST = "duplicate_post"
ORPHANS = "orphans"


def question_key(doc: Document) -> tuple[tuple[str, int], Document]:
    """``((site, question id), post)``: a question by its own id, an answer by its parent's."""
    meta = doc.meta
    qid = meta["post_id"] if meta["post_type"] == QUESTION else meta["parent_id"]
    return (meta["site"], int(qid)), doc


class _AssembleDoFn(beam.DoFn):
    """One question's posts → its document, or orphan answers when the question is absent."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._assembled = Metrics.counter(STAGE, "assembled")
        self._orphans = Metrics.counter(STAGE, "dropped.orphan_answer")
        self._answers = Metrics.counter(STAGE, "answers_attached")

    def process(self, element: tuple[tuple[str, int], Iterable[Document]]) -> Iterator[Any]:
        _, posts = element
        questions = sorted((d for d in posts if d.meta["post_type"] == QUESTION), key=lambda d: d.id)
        answers = {d.meta["post_id"]: d for d in sorted((d for d in posts if d.meta["post_type"] != QUESTION),
                                                         key=lambda d: d.id)}
        if not questions:
            for answer in answers.values():
                self._orphans.inc()
                yield pvalue.TaggedOutput(ORPHANS, mark_dropped(answer, STAGE, ORPHAN_ANSWER))
            return
        question, *repeats = questions
        for repeat in repeats:
            yield pvalue.TaggedOutput(DROPPED, mark_dropped(repeat, STAGE, DUPLICATE_POST))
        doc = guarded(STAGE, question, (), assemble, question, list(answers.values()), self._source)
        if isinstance(doc, QuarantineRecord):  # a post body the HTML parser gives up on: that question only
            yield pvalue.TaggedOutput(QUARANTINE, doc.to_dict())
            return
        self._assembled.inc()
        self._answers.inc(len(answers))
        yield doc


def _is_question(doc: Document, _: int) -> int:
    return 0 if doc.meta["post_type"] == QUESTION else 1


class AssembleQuestions(beam.PTransform):
    """Posts (questions and answers) → one document per question (:func:`step_outputs`).

    ``dropped`` holds repeated questions and orphan answers; ``counted_inputs`` holds the
    posts that count as documents of the source (questions and orphan answers: an attached
    answer is part of its question's document).
    """

    drop_stage = STAGE  # the stage its dropped documents are annotated with (stats funnel)
    def __init__(self, source: str, label: str | None = "Assemble") -> None:
        super().__init__(label)
        self._source = source

    def expand(self, posts: beam.PCollection) -> dict[str, beam.PCollection]:
        questions, _answers = posts | "Split posts" >> beam.Partition(_is_question, 2)
        assembled = (
            posts
            | "Key by question" >> beam.Map(question_key)
            | "Group by question" >> GroupByKeyOnDisk()
            | "Assemble" >> beam.ParDo(_AssembleDoFn(self._source)).with_outputs(
                DROPPED, ORPHANS, QUARANTINE, main="docs")
        )
        orphans = assembled[ORPHANS]
        return step_outputs(
            assembled.docs,
            (assembled[DROPPED], orphans),
            assembled[QUARANTINE],
            counted_inputs=(questions, orphans),
        )

