"""StackExchange (LLaMA 2%): Posts.xml → posts keyed by question → GroupByKey → Q/A documents.

Inputs as the data dump publishes them: a site's archive (``coffee.stackexchange.com.7z``),
stackoverflow's per-table archive (``stackoverflow.com-Posts.7z``; its ``-Users.7z`` … are not
read) or an extracted ``<site>/Posts.xml``; the ``.7z`` are streamed, never unpacked to disk.

The reader streams posts (filters/sources/stackexchange/reader.py); answers are joined to
their question in Beam (``stages/stackexchange.py``), keyed by ``(site, question id)``, so
a large site is spread over workers and only the posts of one question meet on one worker.
Assembly (text, numeric answer order, meta) is the pure
``filters.sources.stackexchange.assemble.assemble``.

Accounting (stats.json): ``documents_in`` = question posts + reader drops (tag wikis, other
post types, excluded sites) + quarantined rows + orphan answers. An orphan answer (its
question is not in the dump) drops as ``orphan_answer``. Attached answers are part of their
question's document. A question id seen twice (the same dump given twice) keeps one copy;
the others drop as ``duplicate_post``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from filters.sources.stackexchange.reader import StackExchangeReader, is_posts_file
from mixtures.config import PipelineConfig, SourceSpec
from pipeline.recipes import Read
from stages.stackexchange import AssembleQuestions


def steps(cfg: PipelineConfig, spec: SourceSpec, paths: Sequence[str] = ()) -> list[Any]:
    posts_files = tuple(path for path in paths if is_posts_file(path))
    return [
        Read(StackExchangeReader(spec.name, cfg.settings("stackexchange")), posts_files),
        AssembleQuestions(spec.name),
    ]
