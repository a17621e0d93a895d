"""Training text of the filters' models, prepared on Beam workers (``pasture models lm|quality``).

Perplexity LM (``prepare_lm_text``)::

    units (dumps, multistream byte ranges) ─Reshuffle─> "Prepare unit" (one DoFn per unit:
        read with the Wikipedia source's reader, WikitextCleaner, lm_lines, sample key, side)
        └─> OUT/cand-NNNNN.txt   the unit's candidate pages' text, in reading order
            OUT/cand-NNNNN.json  per candidate page (key, split, side, bytes, lines, chars),
                                 and the unit's totals (every page, kept or not)

Only paths cross the Reshuffle: every unit writes its own files, named by its position in
the input list, so names and bytes do not depend on the runner or the number of workers,
and no shuffle ever holds text. The launcher then reads the small ``.json`` files, picks
the sample (``pipeline.training.lm_sample``: smallest sample keys within
``models.lm.max_training_bytes`` / ``max_docs``; a rerun from exact totals when the
first key limit kept too few), copies the sampled pages' bytes into
``OUT/train-NNNNN.txt`` / ``OUT/heldout-NNNNN.txt`` (bounded by the sample size) and writes
``OUT/manifest.json`` (counts, bytes, sha256 of each file, sampling rate, settings). OUT may
be on any Beam filesystem. The fit (SentencePiece, lmplz) runs on one machine over a local
copy of those files (:func:`localize_lm_text`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, BinaryIO

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.base import QuarantineRecord
from filters.document import Document
from filters.perplexity import lm_lines
from filters.sources.wikipedia.config import WikipediaConfig
from filters.sources.wikipedia.reader import REASON_WIKI_LANG, SOURCE, WikipediaDumpReader
from filters.sources.wikipedia.rules import WikitextCleaner
from pipeline.recipes.wikipedia import plan_units
from pipeline.training.lm import LMTextCounts
from pipeline.training.lm_sample import (
    BYTES_PER_PAGE_GUESS,
    OVERSAMPLE,
    SAMPLE_SEED,
    SPACE,
    PageText,
    assign_sides,
    cut_key,
    estimated_text_bytes,
    key_limit,
    page_text,
)
from stages import fsio
from stages.fsio import atomic_output
from stages.model_files import is_remote
from stages.steps import DROPPED, QUARANTINE, data_errors_of, guarded, read_one_input

log = logging.getLogger("pasture.models.inputs")

LM_TEXT_KIND = "pasture-lm-training-text"
MANIFEST = "manifest.json"
MAX_QUARANTINE_KEPT = 20  # quarantine records listed per unit in the manifest (all are counted)
_CHUNK = 8 << 20


def _name(stem: str, index: int, ext: str) -> str:
    return f"{stem}-{index:05d}.{ext}"


def _open(path: str) -> BinaryIO:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def input_records(paths: Sequence[str]) -> list[dict[str, Any]]:
    """``{path, sha256, bytes}`` of input files on any filesystem (local paths made absolute)."""
    out = []
    for path in paths:
        sha256, size = file_digest(path)
        out.append({"path": path if is_remote(path) else os.path.abspath(path), "sha256": sha256, "bytes": size})
    return out


def file_digest(path: str) -> tuple[str, int]:
    """``(sha256, bytes)`` of a file on any filesystem, read in blocks."""
    digest, size = hashlib.sha256(), 0
    with _open(path) as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _input_sizes(paths: Sequence[str]) -> list[tuple[str, int]]:
    """``(path, bytes)`` of each input, from a listing (nothing is read)."""
    found = FileSystems.match(list(paths))
    return [(m.path, m.size_in_bytes) for result in found for m in result.metadata_list]


# ---------------------------------------------------------------------------------------
# Perplexity LM: Wikipedia pages → normalised paragraphs


class _LMUnitDoFn(beam.DoFn):
    """Reads one unit of Wikipedia dump text and writes its candidate pages (see the module doc)."""

    def __init__(self, lang: str, wikipedia: WikipediaConfig, heldout_percent: int, limit: int,
                 out_dir: str) -> None:
        # The Wikipedia source's own reading (any filesystem, quarantine of bad pages), kept to one language.
        self._read = read_one_input(SOURCE, WikipediaDumpReader(SOURCE, replace(wikipedia, languages=(lang,))))
        self._cleaner = WikitextCleaner(wikipedia)
        self._heldout_percent = heldout_percent
        self._limit = limit
        self._out_dir = out_dir

    def setup(self) -> None:
        self._cleaner.load()

    def process(self, element: tuple[int, Any]) -> Iterator[int]:
        index, unit = element
        label = unit.label if hasattr(unit, "label") else str(unit)
        errors = data_errors_of(self._cleaner)
        candidates: list[list[int]] = []
        quarantined: list[dict[str, Any]] = []
        n_quarantined = pages = text_bytes = 0
        with atomic_output(fsio.join(self._out_dir, _name("cand", index, "txt"))) as out:
            for item in self._read(unit):
                if isinstance(item, pvalue.TaggedOutput):
                    if item.tag == QUARANTINE:
                        n_quarantined += 1
                        quarantined.append(item.value)
                    elif item.tag == DROPPED and item.value.annotations["dropped"]["reason"] == REASON_WIKI_LANG:
                        break  # a dump holds one wiki: the rest of this unit is the same other language
                    continue
                doc = guarded(self._cleaner.name, item, errors, self._cleaner, item)
                if isinstance(doc, QuarantineRecord):
                    n_quarantined += 1
                    quarantined.append(doc.to_dict())
                    continue
                if not isinstance(doc, Document) or not doc.text.strip():
                    continue
                lines = lm_lines(doc.text)
                if not lines:
                    continue
                page, payload = page_text(doc.id, lines, self._heldout_percent)
                pages += 1
                text_bytes += page.nbytes
                if page.key < self._limit:
                    out.write(payload)
                    candidates.append(page.to_list())
        summary = {"unit": label, "pages": pages, "bytes": text_bytes, "limit": self._limit,
                   "candidates": candidates, "quarantined": n_quarantined,
                   "quarantine": quarantined[:MAX_QUARANTINE_KEPT]}
        fsio.write_bytes(fsio.join(self._out_dir, _name("cand", index, "json")), _json_bytes(summary))
        yield index


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def lm_candidates_pipeline(p: beam.Pipeline, units: Sequence[Any], lang: str, wikipedia: WikipediaConfig,
                           heldout_percent: int, limit: int, out_dir: str) -> None:
    """Adds the per-unit preparation to ``p``: ``out_dir/cand-NNNNN.txt`` + ``.json`` per unit."""
    _ = (
        p
        | "LM units" >> beam.Create(list(enumerate(units)))
        | "Spread units" >> beam.Reshuffle()
        | "Prepare unit" >> beam.ParDo(_LMUnitDoFn(lang, wikipedia, heldout_percent, limit, out_dir))
    )


def _read_summaries(out_dir: str, count: int) -> list[dict[str, Any]]:
    summaries = []
    for index in range(count):
        path = fsio.join(out_dir, _name("cand", index, "json"))
        if not fsio.exists(path):
            raise RuntimeError(f"the Beam run wrote no {path}: unit {index} was not prepared")
        summaries.append(fsio.read_json(path))
    return summaries


def prepare_lm_text(paths: Sequence[str], lang: str, out_dir: str, *, heldout_percent: int,
                    max_bytes: int, max_docs: int | None = None, wikipedia: WikipediaConfig | None = None,
                    beam_args: list[str] | None = None, oversample: float = OVERSAMPLE) -> dict[str, Any]:
    """Prepares the LM's training text of ``lang`` from Wikipedia dumps into ``out_dir``; returns its manifest.

    Args:
        paths: pages-articles dumps (any Beam filesystem; multistream dumps with their index
            are split into byte ranges as the Wikipedia source does).
        lang: the wiki language; dumps of other wikis are skipped after their first page.
        out_dir: folder for ``train-*.txt``, ``heldout-*.txt`` and ``manifest.json`` (any
            filesystem; files of an earlier preparation there are replaced).
        heldout_percent: pages held out by id hash (``models.lm.heldout_percent``).
        max_bytes, max_docs: bounds of the sample (``models.lm.max_training_bytes``, ``max_docs``).
        wikipedia: reader settings (page size limit, multistream split size).
        beam_args: runner flags.
    """
    from pipeline.options import make_options

    wikipedia = wikipedia or WikipediaConfig()
    units = plan_units(list(paths), wikipedia.multistream_split_bytes)
    estimate = estimated_text_bytes(_input_sizes(paths))
    limit = key_limit(estimate, max(1, estimate // BYTES_PER_PAGE_GUESS), max_bytes, max_docs, oversample)
    runs = 0
    while True:
        _delete_parts(out_dir)
        runs += 1
        log.info("models lm: preparing %d unit(s) on Beam (key limit %.4g of the pages)", len(units), limit / SPACE)
        with beam.Pipeline(options=make_options(beam_args)) as p:
            lm_candidates_pipeline(p, units, lang, wikipedia, heldout_percent, limit, out_dir)
        summaries = _read_summaries(out_dir, len(units))
        pages = [PageText.from_list(c) for s in summaries for c in s["candidates"]]
        cut = cut_key(pages, max_bytes, max_docs)
        if cut < limit or limit >= SPACE:
            break
        # Too few candidates to reach a bound: again, from the exact totals, four times wider.
        oversample *= 4
        limit = key_limit(sum(s["bytes"] for s in summaries), sum(s["pages"] for s in summaries), max_bytes,
                          max_docs, oversample)
    return _write_sample(out_dir, summaries, cut, lang, heldout_percent, max_bytes, max_docs, runs)


def _write_sample(out_dir: str, summaries: list[dict[str, Any]], cut: int, lang: str, heldout_percent: int,
                  max_bytes: int, max_docs: int | None, runs: int) -> dict[str, Any]:
    """Copies the sampled pages from the candidate files into the train/held-out files; writes the manifest."""
    pages: list[tuple[int, int, PageText]] = []  # (unit, position in the unit's candidates, page)
    for index, summary in enumerate(summaries):
        pages += [(index, pos, PageText.from_list(c)) for pos, c in enumerate(summary["candidates"])]
    sampled = [(u, pos, page) for u, pos, page in pages if page.key < cut]
    sides, counts = assign_sides([page for _, _, page in sampled], heldout_percent)
    held = {(u, pos): side for (u, pos, _), side in zip(sampled, sides)}
    units_sampled = {u for u, _, _ in sampled}
    files: dict[str, dict[str, Any]] = {}
    for index, summary in enumerate(summaries):
        if index not in units_sampled:
            continue
        names = {False: _name("train", index, "txt"), True: _name("heldout", index, "txt")}
        digests = {side: hashlib.sha256() for side in names}
        sizes = dict.fromkeys(names, 0)
        with contextlib.ExitStack() as stack:
            outs = {side: stack.enter_context(atomic_output(fsio.join(out_dir, name))) for side, name in names.items()}
            src = stack.enter_context(_open(fsio.join(out_dir, _name("cand", index, "txt"))))
            for pos, values in enumerate(summary["candidates"]):
                data = src.read(values[3])
                side = held.get((index, pos))
                if side is None:
                    continue
                outs[side].write(data)
                digests[side].update(data)
                sizes[side] += len(data)
        for side, name in names.items():
            files[name] = {"bytes": sizes[side], "sha256": digests[side].hexdigest()}
    _delete_parts(out_dir, stems=("cand",), manifest=False)
    manifest = {
        "kind": LM_TEXT_KIND,
        "format": 1,
        "lang": lang,
        "units": [s["unit"] for s in summaries],
        "available": {"pages": sum(s["pages"] for s in summaries), "bytes": sum(s["bytes"] for s in summaries)},
        "sample": {"max_training_bytes": max_bytes, "max_docs": max_docs, "seed": SAMPLE_SEED,
                   "key_below": cut, "rate": round(cut / SPACE, 6), "beam_runs": runs,
                   "bytes": sum(page.nbytes for _, _, page in sampled)},
        "heldout_percent": heldout_percent,
        "counts": asdict(counts),
        "quarantined": sum(s["quarantined"] for s in summaries),
        "quarantine": [r for s in summaries for r in s["quarantine"]][:MAX_QUARANTINE_KEPT],
        "files": files,
    }
    fsio.write_bytes(fsio.join(out_dir, MANIFEST), _json_bytes(manifest))
    return manifest


def _delete_parts(out_dir: str, stems: Sequence[str] = ("cand", "train", "heldout"),
                  manifest: bool = True) -> None:
    """Removes what an earlier preparation left in ``out_dir`` (its files only)."""
    found = [p for stem in stems for p in fsio.match(fsio.join(out_dir, f"{stem}-*"))]
    if manifest:
        found += fsio.match(fsio.join(out_dir, MANIFEST))
    fsio.delete(found)


def lm_text_counts(manifest: dict[str, Any]) -> LMTextCounts:
    """The counts of a prepared text's manifest, as the fit takes them."""
    return LMTextCounts(**manifest["counts"])


def localize_lm_text(out_dir: str, manifest: dict[str, Any], work: Path) -> tuple[Path, Path]:
    """``work/train.txt`` and ``work/heldout.txt``: the prepared files concatenated in unit order."""
    targets = {"train": work / "train.txt", "heldout": work / "heldout.txt"}
    for stem, target in targets.items():
        with open(target, "wb") as dst:
            for name in sorted(n for n in manifest["files"] if n.startswith(stem + "-")):
                with _open(fsio.join(out_dir, name)) as src:
                    shutil.copyfileobj(src, dst, _CHUNK)
    return targets["train"], targets["heldout"]


# ---------------------------------------------------------------------------------------
# Quality classifier: cited URLs and Wikipedia chunks from dumps, web pages from WARC/WET


def _example_dict(example: Any, page_id: str) -> dict[str, str]:
    return {"id": page_id, "label": example.label, "origin": example.origin, "key": example.key,
            "text": example.text}


class _QualityDumpDoFn(beam.DoFn):
    """One unit of a dump: the URLs it cites (``cited-NNNNN.txt``, when it is a reference dump)
    and its ``max_wiki_articles`` lowest-ranked articles as classifier chunks
    (``articles-NNNNN.jsonl``, when it tops up the positives)."""

    def __init__(self, options: Any, wikipedia: WikipediaConfig, out_dir: str) -> None:
        self._read = read_one_input(SOURCE, WikipediaDumpReader(SOURCE, replace(wikipedia, languages=None)))
        self._cleaner = WikitextCleaner(wikipedia)
        self._options = options
        self._out_dir = out_dir

    def setup(self) -> None:
        self._cleaner.load()

    def process(self, element: tuple[int, Any, bool, bool]) -> Iterator[int]:
        from filters.exact_dedup import normalize_url
        from pipeline.training.quality import LowestRanks, article_chunks, reference_urls

        index, unit, cites, tops_up = element
        cited: set[str] = set()
        articles = LowestRanks(self._options.max_wiki_articles if tops_up else 0, self._options.seed)
        n_articles = n_quarantined = 0
        for item in self._read(unit):
            if isinstance(item, pvalue.TaggedOutput):
                n_quarantined += item.tag == QUARANTINE
                continue
            if cites:
                cited.update(normalize_url(url) for url in reference_urls(item.text))
            if tops_up:
                n_articles += 1
                articles.offer(item.id, item)
        cited.discard("")
        errors = data_errors_of(self._cleaner)
        with atomic_output(fsio.join(self._out_dir, _name("articles", index, "jsonl"))) as out:
            for doc in articles.items():
                chunks = guarded(self._cleaner.name, doc, errors, article_chunks, doc, self._cleaner,
                                 self._options.min_chars)
                if isinstance(chunks, QuarantineRecord):
                    n_quarantined += 1
                    continue
                out.write(_json_bytes({"id": doc.id, "base": chunks.base, "chunks": list(chunks.chunks)}))
        fsio.write_bytes(fsio.join(self._out_dir, _name("cited", index, "txt")),
                         "".join(url + "\n" for url in sorted(cited)).encode("utf-8"))
        fsio.write_bytes(fsio.join(self._out_dir, _name("dump", index, "json")), _json_bytes(
            {"unit": getattr(unit, "label", str(unit)), "articles": n_articles, "quarantined": n_quarantined}))
        yield index


class _QualityWebDoFn(beam.DoFn):
    """One WARC/WET file: its cited pages (all) and its ``max_negatives`` lowest-ranked other
    pages, raw text, in ``web-NNNNN.jsonl``. The cited URLs are the ``cited-*.txt`` files of
    the dump run, loaded once per worker."""

    def __init__(self, options: Any, out_dir: str) -> None:
        from filters.sources.cc.extract import HtmlExtractor
        from filters.sources.cc.warc import WarcReader

        self._read = read_one_input("cc", WarcReader("cc"))
        self._extract = HtmlExtractor()
        self._options = options
        self._out_dir = out_dir
        self._cited: frozenset[str] = frozenset()

    def setup(self) -> None:
        self._extract.load()
        self._cited = load_cited(self._out_dir)

    def process(self, element: tuple[int, Any]) -> Iterator[int]:
        from pipeline.training.quality import WIKI_LABEL, LowestRanks, web_example

        index, unit = element
        negatives = LowestRanks(self._options.max_negatives, self._options.seed)
        pages = available = n_quarantined = 0
        errors = data_errors_of(self._extract)
        with atomic_output(fsio.join(self._out_dir, _name("web", index, "jsonl"))) as out:
            for item in self._read(unit):
                if isinstance(item, pvalue.TaggedOutput):
                    n_quarantined += item.tag == QUARANTINE
                    continue
                page = guarded(self._extract.name, item, errors, self._extract, item)
                if isinstance(page, QuarantineRecord):
                    n_quarantined += 1
                    continue
                pages += 1
                example = web_example(page, self._cited, self._options.min_chars)
                if example is None:
                    continue
                if example.label == WIKI_LABEL:
                    out.write(_json_bytes(_example_dict(example, page.id)))  # every cited page, in file order
                else:
                    available += 1
                    negatives.offer(page.id, (page.id, example))
            for page_id, example in negatives.items():
                out.write(_json_bytes(_example_dict(example, page_id)))
        fsio.write_bytes(fsio.join(self._out_dir, _name("web", index, "json")), _json_bytes(
            {"unit": getattr(unit, "label", str(unit)), "web_pages": pages, "negatives_available": available,
             "quarantined": n_quarantined}))
        yield index


def load_cited(out_dir: str) -> frozenset[str]:
    """The union of the ``cited-*.txt`` files of a quality preparation."""
    cited: set[str] = set()
    for path in fsio.match(fsio.join(out_dir, "cited-*.txt")):
        cited.update(line for line in fsio.read_bytes(path).decode("utf-8").split("\n") if line)
    return frozenset(cited)


def _quality_parts(out_dir: str) -> list[str]:
    """The per-unit files of a quality preparation in ``out_dir`` (nothing else there is touched)."""
    stems = ("cited", "articles", "dump", "web")
    return sorted(p for stem in stems for p in fsio.match(fsio.join(out_dir, f"{stem}-*")))


def delete_quality_inputs(out_dir: str) -> None:
    """Removes a quality preparation's files from ``out_dir``."""
    fsio.delete([*_quality_parts(out_dir), *fsio.match(fsio.join(out_dir, MANIFEST))])


def _jsonl(path: str) -> Iterator[dict[str, Any]]:
    with _open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def prepare_quality_inputs(web_paths: Sequence[str], dump_paths: Sequence[str],
                           reference_dump_paths: Sequence[str], options: Any, out_dir: str, *,
                           wikipedia: WikipediaConfig | None = None,
                           beam_args: list[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """The quality classifier's inputs read on Beam workers: ``(CollectedInputs, manifest)``.

    The same :class:`pipeline.training.quality.CollectedInputs` as the single-process
    ``collect_inputs`` of the same files (so the same examples and model): a first run reads
    the dumps (cited URLs; each unit's lowest-ranked articles, cleaned and chunked), a second
    the WARC/WET files (cited pages; each file's lowest-ranked other pages, extracted). The
    launcher merges the per-unit samples into the global ones (the lowest ranks overall are
    among each unit's lowest) and writes ``out_dir/manifest.json``.

    Args:
        web_paths: WARC/WET files (any filesystem), in the order the command reads them.
        dump_paths: dumps whose articles top up the positives.
        reference_dump_paths: dumps whose citations define the reference URLs.
        options: ``pipeline.training.quality.TrainingOptions``.
        out_dir: folder for the per-unit files and the manifest (any filesystem; replaced).
    """
    from pipeline.options import make_options
    from pipeline.training.quality import WIKI_LABEL, ArticleChunks, CollectedInputs, Example, LowestRanks

    wikipedia = wikipedia or WikipediaConfig()
    delete_quality_inputs(out_dir)
    dumps = list(dict.fromkeys([*reference_dump_paths, *dump_paths]))
    units = plan_units(dumps, wikipedia.multistream_split_bytes)
    dump_jobs = [(i, u, getattr(u, "path", u) in reference_dump_paths, getattr(u, "path", u) in dump_paths)
                 for i, u in enumerate(units)]
    webs = list(enumerate(web_paths))
    for label, jobs, fn in (("dump", dump_jobs, _QualityDumpDoFn(options, wikipedia, out_dir)),
                            ("web", webs, _QualityWebDoFn(options, out_dir))):
        if not jobs:
            continue
        log.info("models quality: reading %d %s unit(s) on Beam", len(jobs), label)
        with beam.Pipeline(options=make_options(beam_args)) as p:
            _ = (p | f"{label} units" >> beam.Create(jobs) | f"Spread {label} units" >> beam.Reshuffle()
                 | f"Prepare {label} unit" >> beam.ParDo(fn))

    articles = LowestRanks(options.max_wiki_articles, options.seed)
    dump_counts = [fsio.read_json(fsio.join(out_dir, _name("dump", i, "json"))) for i, *_ in dump_jobs]
    for i, *_ in dump_jobs:
        for rec in _jsonl(fsio.join(out_dir, _name("articles", i, "jsonl"))):
            articles.offer(rec["id"], ArticleChunks(rec["base"], tuple(rec["chunks"])))
    references: list[Example] = []
    negatives = LowestRanks(options.max_negatives, options.seed)
    web_counts = [fsio.read_json(fsio.join(out_dir, _name("web", i, "json"))) for i, _ in webs]
    for i, _ in webs:
        for rec in _jsonl(fsio.join(out_dir, _name("web", i, "jsonl"))):
            example = Example(rec["label"], rec["origin"], rec["text"], rec["key"])
            if example.label == WIKI_LABEL:
                references.append(example)
            else:
                negatives.offer(rec["id"], example)
    collected = CollectedInputs(
        reference_urls=len(load_cited(out_dir)),
        references=references,
        negatives=negatives.items(),
        articles=articles.items(),
        web_pages=sum(c["web_pages"] for c in web_counts),
        wiki_articles=sum(c["articles"] for c in dump_counts),
        negatives_available=sum(c["negatives_available"] for c in web_counts),
    )
    files = {}
    for path in _quality_parts(out_dir):
        sha256, size = file_digest(path)
        files[path.rsplit("/", 1)[-1]] = {"bytes": size, "sha256": sha256}
    manifest = {
        "kind": "pasture-quality-training-inputs",
        "format": 1,
        "units": {"dumps": [c["unit"] for c in dump_counts], "web": [c["unit"] for c in web_counts]},
        "counts": {"reference_urls": collected.reference_urls, "references": len(references),
                   "negatives_sampled": len(collected.negatives), "negatives_available": collected.negatives_available,
                   "web_pages": collected.web_pages, "wiki_articles": collected.wiki_articles,
                   "articles_sampled": len(collected.articles)},
        "quarantined": sum(c["quarantined"] for c in [*dump_counts, *web_counts]),
        "config": {"seed": options.seed, "min_chars": options.min_chars, "max_negatives": options.max_negatives,
                   "max_wiki_articles": options.max_wiki_articles},
        "files": files,
    }
    fsio.write_bytes(fsio.join(out_dir, MANIFEST), _json_bytes(manifest))
    return collected, manifest
