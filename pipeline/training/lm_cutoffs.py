"""Perplexity cutoffs the way cc_net's ``cutoff.csv`` holds them, and cc_net's released models.

cc_net buckets a page by its perplexity against percentiles 0..99 of the perplexity of
*Common Crawl documents* of the same language (``cc_net/data/cutoff.csv``; en: p30 = 340,
p60 = 520). :func:`calibrate` measures that table on a CC sample the user gives: the WARC/WET
files go through the same CCNet steps the ``cc`` recipe runs before the perplexity filter
(read → extract → line dedup → language ID, :func:`ccnet_documents`), then every kept
document of the language is scored as the filter scores it (``filters.perplexity``).

:func:`import_cc_net` converts cc_net's released layout (``{lang}.sp.model``,
``{lang}.arpa.bin`` in one folder, ``cutoff.csv`` with one column per language and one row
per percentile) into ours (``{lang}.cutoffs.json`` beside the two model files).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from filters.base import Step, Verdict
from filters.document import Document
from filters.lang_id import LanguageFilter
from filters.line_dedup import drop_reason, duplicated_keys, file_groups, group_of, line_keys, remove_lines, too_short
from filters.perplexity import LanguageModel, document_perplexity, load_sentencepiece
from mixtures.config import PipelineConfig, SourceSpec
from mixtures.provenance import sha256_file, write_json_atomically
from pipeline.training.lm import LMTrainingError, percentile_table

CC_NET_CUTOFF_SOURCE = "cc_net cutoff.csv"


def _per_document_steps(cfg: PipelineConfig, paths: Sequence[str]) -> tuple[Any, list[Any]]:
    """The ``cc`` recipe's reader and the per-document steps it runs before line dedup."""
    from pipeline.recipes import Read, recipe_steps

    recipe = recipe_steps(cfg, SourceSpec(name="cc-sample", kind="cc"), tuple(paths))
    read = recipe[0]
    if not isinstance(read, Read):
        raise LMTrainingError("the cc recipe does not start with a Read step")
    steps = []
    for step in recipe[1:]:
        if not isinstance(step, Step):
            break  # the first composite (line dedup) ends the per-document part
        steps.append(step)
    return read.reader, steps


def _apply(steps: Iterable[Any], doc: Document) -> Document | None:
    for step in steps:
        out = step(doc)
        if isinstance(out, Verdict):
            if not out.keep:
                return None
        elif isinstance(out, Document):
            doc = out
        else:
            return None
    return doc


def ccnet_documents(paths: Sequence[str], cfg: PipelineConfig, lang: str) -> Iterator[Document]:
    """The documents of ``lang`` that reach the perplexity filter of the ``cc`` recipe.

    Plain Python, in memory (a calibration sample is small): the recipe's reader and
    per-document steps, then line dedup with ``cfg.line_dedup`` (the pure functions of
    ``filters.line_dedup``, same groups), then fastText LID keeping ``lang``.
    """
    reader, steps = _per_document_steps(cfg, paths)
    for step in steps:
        if hasattr(step, "load"):
            step.load()
    docs: list[Document] = []
    for path in sorted(paths):
        with open(path, "rb") as fh:
            for item in reader(path, fh):
                if isinstance(item, Document):
                    kept = _apply(steps, item)
                    if kept is not None:
                        docs.append(kept)
    if cfg.line_dedup.enabled:
        docs = _dedup(docs, cfg, paths)
    lid = LanguageFilter(dataclasses.replace(cfg.lang_id, languages=(lang,)))
    lid.load()
    for doc in docs:
        if lid(doc).keep:
            yield doc


def _dedup(docs: list[Document], cfg: PipelineConfig, paths: Sequence[str]) -> list[Document]:
    dedup = cfg.line_dedup
    before = dedup.min_chars_at == "before"
    mined = [d for d in docs if not (before and too_short(d.text, dedup.min_doc_chars))]
    groups = file_groups(paths, dedup.scope, dedup.group_files)
    keys = {d.id: line_keys(d.text) for d in mined}
    by_group: dict[str, list[Document]] = {}
    for doc in mined:
        by_group.setdefault(group_of(str(doc.meta.get("file", "")), groups, dedup.scope), []).append(doc)
    out = []
    for members in by_group.values():
        duplicated = duplicated_keys((keys[d.id] for d in members), dedup.repeats_in_doc)
        for doc in members:
            result = remove_lines(doc.text, keys[doc.id], duplicated)
            if drop_reason(result, 0 if before else dedup.min_doc_chars) is None:
                out.append(doc.with_text(result.text))
    return sorted(out, key=lambda d: d.id)


def document_perplexities(docs: Iterable[Document], model: LanguageModel, unit: str = "document") -> list[float]:
    """Perplexity of each document that has text to score (cc_net ``mine``)."""
    values = []
    for doc in docs:
        pp = document_perplexity(doc.text, model.sp, model.lm, unit)
        if pp is not None:
            values.append(pp)
    return values


def cutoffs_record(lang: str, model_id: str, table: list[float], percentile_head: int, percentile_tail: int,
                   unit: str, cutoff_set: str, count: int) -> dict[str, Any]:
    """The ``{lang}.cutoffs.json`` content (the filter reads ``percentiles``)."""
    return {
        "lang": lang,
        "model_id": model_id,
        "unit": unit,
        "set": cutoff_set,
        "documents" if unit == "document" else "paragraphs": count,
        "percentile_head": percentile_head,
        "percentile_tail": percentile_tail,
        "cutoffs": {f"p{percentile_head}": table[percentile_head], f"p{percentile_tail}": table[percentile_tail]},
        "percentiles": table,
    }


def model_id(model_dir: str | Path, lang: str) -> str:
    folder = Path(model_dir)
    joined = sha256_file(folder / f"{lang}.sp.model") + sha256_file(folder / f"{lang}.arpa.bin")
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def calibrate(model_dir: str | Path, lang: str, docs: Iterable[Document], percentile_head: int = 30,
              percentile_tail: int = 60, unit: str = "document") -> dict[str, Any]:
    """Writes ``{lang}.cutoffs.json`` from the perplexity of CC ``docs``; returns its content."""
    import kenlm

    folder = Path(model_dir)
    for name in (f"{lang}.sp.model", f"{lang}.arpa.bin"):
        if not (folder / name).is_file():
            raise LMTrainingError(f"{folder / name} not found: train the {lang} models first "
                                  f"(`pasture models lm --wikipedia DUMP --lang {lang}`) or import cc_net's")
    model = LanguageModel(lang, load_sentencepiece(folder / f"{lang}.sp.model"),
                          kenlm.Model(str(folder / f"{lang}.arpa.bin")), [], "")
    values = document_perplexities(docs, model, unit)
    if not values:
        raise LMTrainingError(f"no {lang} documents left in the CC sample after the CCNet steps")
    record = cutoffs_record(lang, model_id(folder, lang), percentile_table(values), percentile_head,
                            percentile_tail, unit, "cc-sample", len(values))
    write_json_atomically(folder / f"{lang}.cutoffs.json", record)
    return record


def read_cutoff_csv(path: str | Path) -> dict[str, list[float]]:
    """cc_net's ``cutoff.csv``: header ``,de,it,...``, then one row per percentile 0..99."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or len(rows) != 101:
        raise LMTrainingError(f"{path}: expected a header and 100 percentile rows, found {max(len(rows) - 1, 0)}")
    langs = rows[0][1:]
    table: dict[str, list[float]] = {lang: [] for lang in langs}
    for expected, row in enumerate(rows[1:]):
        if len(row) != len(langs) + 1 or int(row[0]) != expected:
            raise LMTrainingError(f"{path}: row {expected + 2} is not percentile {expected} for {len(langs)} languages")
        for lang, value in zip(langs, row[1:], strict=True):
            table[lang].append(float(value))
    return table


def write_cutoff_csv(path: str | Path, tables: dict[str, list[float]]) -> None:
    """Writes percentile tables in cc_net's ``cutoff.csv`` layout (used to test the import)."""
    langs = sorted(tables)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["", *langs])
        for p in range(100):
            writer.writerow([p, *(_csv_number(tables[lang][p]) for lang in langs)])


def _csv_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def import_cc_net(source_dir: str | Path, output_dir: str | Path, cutoff_csv: str | Path | None = None,
                  languages: Sequence[str] = (), percentile_head: int = 30,
                  percentile_tail: int = 60) -> dict[str, dict[str, Any]]:
    """Converts cc_net's released models and cutoffs into a ``perplexity.model_dir``.

    Args:
        source_dir: folder with cc_net's ``{lang}.sp.model`` and ``{lang}.arpa.bin``.
        output_dir: our model folder (created if needed; may be ``source_dir``).
        cutoff_csv: cc_net's ``cutoff.csv`` (default: ``source_dir/cutoff.csv``).
        languages: the languages to import (default: every language with both model files
            and a column in the csv).

    Returns:
        The written ``{lang}.cutoffs.json`` contents by language.
    """
    source, out = Path(source_dir), Path(output_dir)
    csv_path = Path(cutoff_csv) if cutoff_csv else source / "cutoff.csv"
    if not csv_path.is_file():
        raise LMTrainingError(f"{csv_path} not found: give cc_net's cutoff.csv (cc_net/data/cutoff.csv)")
    tables = read_cutoff_csv(csv_path)
    available = sorted(p.name[: -len(".sp.model")] for p in source.glob("*.sp.model"))
    wanted = list(languages) or [lang for lang in available if lang in tables]
    if not wanted:
        raise LMTrainingError(f"no language has {source}/LANG.sp.model, LANG.arpa.bin and a {csv_path.name} column")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for lang in wanted:
        for name in (f"{lang}.sp.model", f"{lang}.arpa.bin"):
            if not (source / name).is_file():
                raise LMTrainingError(f"{source / name} not found")
        if lang not in tables:
            raise LMTrainingError(f"{csv_path} has no column for {lang!r}")
        for name in (f"{lang}.sp.model", f"{lang}.arpa.bin"):
            if os.path.abspath(source / name) != os.path.abspath(out / name):
                shutil.copyfile(source / name, out / name)
        record = cutoffs_record(lang, model_id(out, lang), tables[lang], percentile_head, percentile_tail,
                                "document", CC_NET_CUTOFF_SOURCE, 0)
        record.pop("documents")
        write_json_atomically(out / f"{lang}.cutoffs.json", record)
        written[lang] = record
    return written
