"""Training data and training for the Wikipedia-reference classifier (``pasture models quality``).

The recipe follows LLaMA-1 / RedPajama (``data_prep/cc/classifier/``), with their known
bugs fixed:

- **Positives** (``__label__wiki``), by origin:
  (a) ``reference_pages``: pages whose URLs Wikipedia articles cite (``<ref>`` contents,
  ``{{cite ...|url=...}}`` templates, bracketed ``[http... label]`` external links), looked
  up among the WARC/WET inputs after URL normalisation (:func:`filters.exact_dedup.normalize_url`,
  the key of C4's URL dedup). RedPajama
  crawled 300K of 38M such URLs with wget.
  (b) ``wikipedia_text``: when fewer reference pages are found than negatives (always the
  case on samples), Wikipedia article paragraphs themselves (cleaned wikitext, consecutive
  paragraphs merged up to ``min_chars``), sampled with a seeded hash.
- **Negatives** (``__label__cc``): random pages of the WARC/WET inputs (extracted text),
  sampled with a seeded hash so the sample does not depend on file order.
- **The same text as at run time**: the filter scores pages after CCNet's line steps (the
  300-character rule on the raw page, then line dedup), so the web examples of both classes
  go through them too, together, before normalisation (:func:`ccnet_line_steps`). Otherwise
  the model learns "has menus and footers" (raw pages) against "has none" (what it scores).
- Classes are balanced (RedPajama: as many cc lines as wiki lines) by sampling the larger.
- **Dedup** by a content hash of the normalised text. RedPajama stored the literal key
  ``unique["digest"] = 1`` so its dedup never fired; ours drops every repeat.
- **Held-out split** by a hash of the normalised text (no RNG), so the same example is
  always on the same side.
- fastText ``train_supervised`` with ``seed``, ``thread=1`` and seeded initial vectors for
  every word (:func:`write_initial_vectors` works around fastText leaving 90% of the input
  matrix uninitialised when ``thread=1``), so the model file is byte-identical run to run.

Everything here is Beam-free; the command in ``pipeline/commands/models_quality.py`` only
parses flags and prints :func:`summary_lines`.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from filters.document import Document
from filters.exact_dedup import normalize_url
from filters.line_dedup import drop_reason, duplicated_keys, line_keys, remove_lines, too_short
from filters.quality import CC_LABEL, WIKI_LABEL, classifier_text, wiki_probability
from mixtures.config import LineDedupConfig, QualityConfig, QualityTrainingConfig
from mixtures.provenance import sha256_file, write_json_atomically

REFERENCE_PAGES = "reference_pages"
WIKIPEDIA_TEXT = "wikipedia_text"
CC_PAGES = "cc_pages"

DUMP_SUFFIXES = (".xml", ".xml.bz2", ".xml.gz", ".xml.xz")

# --- reference URLs ----------------------------------------------------------------------

# RedPajama's URL pattern (extract_urls.py), restricted to the web schemes.
_URL_RE = re.compile(r"\bhttps?://[\w/#~:.?+=&%@!\-,;]+?(?=[.:?\-,;]*(?:[^\w/#~:.?+=&%@!\-,;]|$))")
_REF_RE = re.compile(r"<ref(?:\s[^>]*)?>(.*?)</ref\s*>", re.IGNORECASE | re.DOTALL)
_CITE_URL_RE = re.compile(r"\{\{\s*cite[^{}]*?\|\s*url\s*=\s*([^|}\s]+)", re.IGNORECASE)
_BRACKET_LINK_RE = re.compile(r"\[(https?://[^\s\]<>|]+)[^\]]*\]")


def reference_urls(wikitext: str) -> list[str]:
    """The external URLs a page cites, in order of first appearance, without repeats.

    Args:
        wikitext: One article's wikitext.

    Returns:
        URLs found inside ``<ref>...</ref>``, in ``{{cite ...|url=...}}`` templates and in
        bracketed external links ``[http://... label]``.
    """
    found: list[str] = []
    for ref in _REF_RE.finditer(wikitext):
        found.extend(_URL_RE.findall(ref.group(1)))
    found.extend(_CITE_URL_RE.findall(wikitext))
    found.extend(_BRACKET_LINK_RE.findall(wikitext))
    return list(dict.fromkeys(url.strip() for url in found if url.strip()))


# --- examples, sampling, split ----------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training line: label, origin and the normalised text."""

    label: str
    origin: str
    text: str  # already classifier_text()
    key: str  # where it came from (URL or title#chunk), for rank and reporting

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.text.encode("utf-8")).hexdigest()


def seeded_rank(seed: int, key: str) -> str:
    """A pseudo-random but reproducible sort key: the sample is the lowest ranks."""
    return hashlib.sha1(f"{seed}\x1f{key}".encode()).hexdigest()


class LowestRanks:
    """Keeps the ``limit`` items with the lowest seeded rank seen so far (streaming)."""

    def __init__(self, limit: int, seed: int) -> None:
        self.limit = limit
        self.seed = seed
        # (negated rank, key, arrival, item): a max-heap on rank; ``arrival`` breaks ties
        # between equal keys so items themselves are never compared.
        self._heap: list[tuple[str, str, int, Any]] = []
        self._arrivals = 0

    def offer(self, key: str, item: Any) -> None:
        if self.limit <= 0:
            return
        rank = seeded_rank(self.seed, key)
        self._arrivals += 1
        entry = (_negate(rank), key, -self._arrivals, item)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list[Any]:
        """Kept items, lowest rank first."""
        return [item for _, _, _, item in sorted(self._heap, key=lambda e: e[:3], reverse=True)]


def _negate(hex_rank: str) -> str:
    # Lexicographic complement so heapq's min-heap acts as a max-heap on rank.
    return "".join("0123456789abcdef"[15 - int(c, 16)] for c in hex_rank)


def dedup_examples(examples: Iterable[Example]) -> tuple[list[Example], int]:
    """First occurrence of every distinct normalised text; returns (kept, removed)."""
    seen: set[str] = set()
    kept: list[Example] = []
    removed = 0
    for example in examples:
        digest = example.digest
        if digest in seen:
            removed += 1
            continue
        seen.add(digest)
        kept.append(example)
    return kept, removed


def ccnet_line_steps(texts: list[str], config: LineDedupConfig | None = None) -> list[str | None]:
    """The texts after CCNet's line steps, as the ``cc`` recipe applies them (None: dropped).

    The pages are one dedup group: a line held by two of them is removed from both, a line
    repeated inside one keeps its first copy (cc_net's semantics, ``filters.line_dedup``).
    """
    config = config or LineDedupConfig()
    before = config.min_chars_at == "before"
    keys: list[list[int] | None] = [
        None if before and too_short(text, config.min_doc_chars) else line_keys(text) for text in texts]
    duplicated = duplicated_keys((k for k in keys if k is not None), config.repeats_in_doc)
    out: list[str | None] = []
    for text, page_keys in zip(texts, keys):
        if page_keys is None:
            out.append(None)
            continue
        result = remove_lines(text, page_keys, duplicated)
        reason = drop_reason(result, 0 if before else config.min_doc_chars)
        out.append(None if reason else result.text)
    return out


def is_heldout(example: Example, fraction: float) -> bool:
    """True for a deterministic ``fraction`` of texts (md5 of the normalised text)."""
    bucket = int(hashlib.md5(example.text.encode("utf-8")).hexdigest()[:8], 16) % 10_000
    return bucket < round(fraction * 10_000)


def wikipedia_chunks(text: str, min_chars: int) -> list[str]:
    """Article paragraphs (blank-line separated), merged in order until ``min_chars``.

    A trailing remainder shorter than ``min_chars`` is dropped, like RedPajama's
    ``len(raw_content) < 1000`` skip.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in text.split("\n\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        current.append(paragraph)
        size += len(paragraph)
        if size >= min_chars:
            chunks.append("\n".join(current))
            current, size = [], 0
    return chunks


# --- reading inputs ----------------------------------------------------------------------


def is_dump(path: str) -> bool:
    return path.lower().endswith(DUMP_SUFFIXES)


def iter_wikipedia_articles(paths: Iterable[str]) -> Iterator[Document]:
    """Raw-wikitext article documents (namespace 0, no redirects) of local dumps, any language."""
    from filters.sources.wikipedia.reader import read_wikipedia_dump

    for path in paths:
        with open(path, "rb") as fh:
            for item in read_wikipedia_dump(path, fh, None):
                if isinstance(item, Document):
                    yield item


def iter_web_pages(paths: Iterable[str]) -> Iterator[Document]:
    """Extracted-text documents of local WARC/WET files (HTML responses and WET records)."""
    from filters.sources.cc.extract import HtmlExtractor
    from filters.sources.cc.warc import read_warc

    extractor = HtmlExtractor()
    for path in paths:
        with open(path, "rb") as fh:
            for item in read_warc(path, fh):
                if isinstance(item, Document):
                    yield extractor(item)


# --- building the training set -----------------------------------------------------------


_DEFAULTS = QualityTrainingConfig()  # the one home of the defaults is the config tree (models.quality)


@dataclass(frozen=True)
class TrainingOptions:
    """Knobs of ``pasture models quality`` (recorded in MODEL.metrics.json).

    The knobs and their defaults are ``models.quality`` of the config tree
    (:class:`mixtures.config.QualityTrainingConfig`); ``threshold`` is ``quality.threshold``.
    """

    seed: int = _DEFAULTS.seed
    epoch: int = _DEFAULTS.epoch
    lr: float = _DEFAULTS.lr
    dim: int = _DEFAULTS.dim
    word_ngrams: int = 1  # not configurable, must stay 1: see _train_fasttext
    min_chars: int = _DEFAULTS.min_chars
    max_negatives: int = _DEFAULTS.max_negatives
    max_wiki_articles: int = _DEFAULTS.max_wiki_articles
    heldout_fraction: float = _DEFAULTS.heldout_fraction
    threshold: float = QualityConfig.threshold  # precision/recall are measured where the filter cuts

    @classmethod
    def from_config(cls, training: QualityTrainingConfig, scoring: QualityConfig) -> TrainingOptions:
        """The options from ``models.quality`` and ``quality`` of one config tree."""
        return cls(**asdict(training), threshold=scoring.threshold)


@dataclass
class TrainingSet:
    positives: list[Example]
    negatives: list[Example]
    reference_urls: int = 0
    web_pages: int = 0
    wiki_articles: int = 0
    wiki_chunks_available: int = 0
    duplicates_removed: int = 0
    negatives_available: int = 0


@dataclass(frozen=True)
class ArticleChunks:
    """A Wikipedia article as the top-up uses it: its chunks, ready for the classifier."""

    base: str  # the article's URL (else its id): chunk ``i`` is keyed ``base#i``
    chunks: tuple[str, ...]  # classifier_text of wikipedia_chunks(cleaned text, min_chars)


def article_chunks(article: Document, cleaner: Any, min_chars: int) -> ArticleChunks:
    """The chunks of one raw-wikitext article (``cleaner``: a ``WikitextCleaner``)."""
    text = cleaner(article).text
    return ArticleChunks(str(article.meta.get("url", article.id)),
                         tuple(classifier_text(chunk) for chunk in wikipedia_chunks(text, min_chars)))


@dataclass
class CollectedInputs:
    """What one read of the inputs gathers; :func:`assemble_training_set` makes the examples of it.

    ``pasture models quality`` gathers it on Beam workers (``stages.model_inputs``); the
    single-process :func:`collect_inputs` gathers the same for local files.
    """

    reference_urls: int  # distinct normalised URLs the reference dumps cite
    references: list[Example]  # cited web pages (raw text), in input order
    negatives: list[Example]  # the sampled other pages (raw text), lowest seeded rank first
    articles: list[Document | ArticleChunks]  # sampled articles, lowest seeded rank first
    web_pages: int = 0
    wiki_articles: int = 0
    negatives_available: int = 0


def collect_inputs(web_paths: list[str], dump_paths: list[str], reference_dump_paths: list[str],
                   options: TrainingOptions) -> CollectedInputs:
    """Reads the local inputs once each, in one process (see :func:`build_training_set`)."""
    cited: set[str] = set()
    articles = LowestRanks(options.max_wiki_articles, options.seed)
    wiki_articles = 0
    for path in dict.fromkeys([*reference_dump_paths, *dump_paths]):
        for doc in iter_wikipedia_articles([path]):
            if path in reference_dump_paths:
                cited.update(normalize_url(url) for url in reference_urls(doc.text))
            if path in dump_paths:
                wiki_articles += 1
                articles.offer(doc.id, doc)
    cited.discard("")

    references: list[Example] = []
    negatives = LowestRanks(options.max_negatives, options.seed)
    web_pages = 0
    negatives_available = 0
    for page in iter_web_pages(web_paths):
        web_pages += 1
        example = web_example(page, cited, options.min_chars)
        if example is None:
            continue
        if example.label == WIKI_LABEL:
            references.append(example)
        else:
            negatives_available += 1
            negatives.offer(page.id, example)
    return CollectedInputs(len(cited), references, negatives.items(), articles.items(), web_pages, wiki_articles,
                           negatives_available)


def web_example(page: Document, cited: set[str] | frozenset[str], min_chars: int) -> Example | None:
    """A web page as a raw example: a reference page when its normalised URL is cited, else a
    negative candidate; None when shorter than ``min_chars``."""
    if len(page.text) < min_chars:
        return None
    url = str(page.meta.get("url", ""))
    key = normalize_url(url) if url else page.id
    # Raw text for now: the CCNet line steps need every page of the set (assemble_training_set).
    if url and key in cited:
        return Example(WIKI_LABEL, REFERENCE_PAGES, page.text, url)
    return Example(CC_LABEL, CC_PAGES, page.text, url or page.id)


def build_training_set(web_paths: list[str], dump_paths: list[str], reference_dump_paths: list[str],
                       options: TrainingOptions) -> TrainingSet:
    """Reads the inputs once each and returns balanced, deduplicated examples.

    Args:
        web_paths: WARC/WET files: reference pages are looked up here; every other page is
            a negative candidate.
        dump_paths: Wikipedia dumps whose article text may top up the positives.
        reference_dump_paths: Wikipedia dumps whose citations define the reference URLs.
        options: Sampling and size knobs.
    """
    return assemble_training_set(collect_inputs(web_paths, dump_paths, reference_dump_paths, options), options)


def assemble_training_set(collected: CollectedInputs, options: TrainingOptions) -> TrainingSet:
    """The balanced, deduplicated examples of what the inputs gave (one machine, bounded sets)."""
    from filters.sources.wikipedia.rules import WikitextCleaner

    web_examples = [*collected.references, *collected.negatives]
    processed = ccnet_line_steps([e.text for e in web_examples])
    kept = [Example(e.label, e.origin, classifier_text(text), e.key) for e, text in zip(web_examples, processed)
            if text is not None and len(text) >= options.min_chars]
    references, dup_refs = dedup_examples([e for e in kept if e.label == WIKI_LABEL])
    sampled_negatives, dup_neg = dedup_examples([e for e in kept if e.label == CC_LABEL])
    positives = list(references)
    needed = len(sampled_negatives) - len(positives)
    chunks_available = 0
    if needed > 0:
        cleaner = WikitextCleaner()
        chunks = LowestRanks(needed, options.seed)
        for article in collected.articles:
            if isinstance(article, Document):
                article = article_chunks(article, cleaner, options.min_chars)
            for i, chunk in enumerate(article.chunks):
                chunks_available += 1
                key = f"{article.base}#{i}"
                chunks.offer(key, Example(WIKI_LABEL, WIKIPEDIA_TEXT, chunk, key))
        positives.extend(chunks.items())
    # Dedup across both classes: a text never appears twice nor under both labels.
    combined, dup_all = dedup_examples([*positives, *sampled_negatives])
    positives = [e for e in combined if e.label == WIKI_LABEL]
    negatives_kept = [e for e in combined if e.label == CC_LABEL]
    # Balance (RedPajama: as many cc examples as wiki ones): keep the lowest-ranked.
    if len(negatives_kept) > len(positives):
        negatives_kept = sorted(negatives_kept, key=lambda e: seeded_rank(options.seed, e.key))[:len(positives)]
    elif len(positives) > len(negatives_kept):
        positives = sorted(positives, key=lambda e: seeded_rank(options.seed, e.key))[:len(negatives_kept)]
    return TrainingSet(
        positives=positives,
        negatives=negatives_kept,
        reference_urls=collected.reference_urls,
        web_pages=collected.web_pages,
        wiki_articles=collected.wiki_articles,
        wiki_chunks_available=chunks_available,
        duplicates_removed=dup_refs + dup_neg + dup_all,
        negatives_available=collected.negatives_available,
    )


# --- training and evaluation -------------------------------------------------------------


def roc_auc(labels: list[int], scores: list[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Returns:
        None when one class is absent.
    """
    n_pos = sum(1 for y in labels if y == 1)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def precision_recall(labels: list[int], scores: list[float], threshold: float) -> tuple[float | None, float | None]:
    """Precision and recall of the wiki class for ``score >= threshold``."""
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s >= threshold)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if y == 0 and s >= threshold)
    fn = sum(1 for y, s in zip(labels, scores, strict=True) if y == 1 and s < threshold)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def _write_examples(path: str, examples: list[Example]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(f"{example.label} {example.text}\n")


def write_initial_vectors(train_path: str, vec_path: str, dim: int, seed: int) -> int:
    """Seeded initial input vectors for every word of a fastText training file.

    Why: fastText's ``DenseMatrix::uniformThread`` initialises rows in blocks of
    ``rows * dim / 10`` and with ``thread=1`` fills only the first block, so 90% of the input
    matrix keeps whatever was in memory (values up to 1e35 were observed here, with
    sporadic "Encountered NaN" failures and models that depend on the heap). fastText
    copies ``pretrainedVectors`` over every row it names, so a file that names every word
    (and the end-of-line token ``</s>``) gives a fully defined, seeded start: uniform in
    ``[-1/dim, 1/dim]``, fastText's own intended initialisation.

    Returns:
        The number of words written.
    """
    import numpy as np

    vocab: dict[str, None] = {"</s>": None}
    with open(train_path, encoding="utf-8") as fh:
        for line in fh:
            for token in line.split():
                if not token.startswith("__label__"):
                    vocab.setdefault(token, None)
    words = list(vocab)
    rng = np.random.default_rng(seed)
    bound = 1.0 / dim
    with open(vec_path, "w", encoding="utf-8") as out:
        out.write(f"{len(words)} {dim}\n")
        for start in range(0, len(words), 10_000):
            block = rng.uniform(-bound, bound, size=(len(words[start:start + 10_000]), dim))
            for word, row in zip(words[start:start + 10_000], block, strict=True):
                out.write(word + " " + " ".join(f"{v:.8f}" for v in row) + "\n")
    return len(words)


def _train_fasttext(path: str, options: TrainingOptions) -> Any:
    import fasttext

    if options.word_ngrams != 1:
        # Word n-gram bucket rows cannot be named in a vectors file, so they would start
        # from uninitialised memory (see write_initial_vectors).
        raise ValueError("word_ngrams must be 1: fastText leaves n-gram buckets uninitialised with thread=1")
    vectors = path + ".vec"
    write_initial_vectors(path, vectors, options.dim, options.seed)
    return fasttext.train_supervised(
        input=path, epoch=options.epoch, lr=options.lr, dim=options.dim, wordNgrams=1,
        # minCount 1: words of the vectors file re-enter the dictionary anyway.
        minCount=1, loss="softmax", seed=options.seed, thread=1, verbose=0,
        pretrainedVectors=vectors)


def train_quality_model(training: TrainingSet, output: str, options: TrainingOptions,
                        inputs: dict[str, list[str]], sha256_of: Callable[[str], str] = sha256_file) -> dict[str, Any]:
    """Splits, trains, evaluates; writes ``output`` and ``output + ".metrics.json"``.

    Args:
        training: The examples from :func:`build_training_set`.
        output: Path of the fastText model to write.
        options: Training knobs.
        inputs: Input files by role (for the sha256s in the metrics).
        sha256_of: How an input's sha256 is computed (the command passes one that reads any filesystem).

    Returns:
        The metrics dict, as written.
    """
    if not training.positives or not training.negatives:
        raise ValueError(
            f"cannot train: {len(training.positives)} positives and {len(training.negatives)} negatives "
            "(give WARC/WET pages as negatives and a Wikipedia dump or reference pages as positives)")
    examples = [*training.positives, *training.negatives]
    train = [e for e in examples if not is_heldout(e, options.heldout_fraction)]
    heldout = [e for e in examples if is_heldout(e, options.heldout_fraction)]
    # A fixed pseudo-random order mixes the labels (fastText reads the file in order).
    train.sort(key=lambda e: seeded_rank(options.seed, e.digest))
    heldout.sort(key=lambda e: e.digest)
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        train_path = os.path.join(tmp, "train.txt")
        _write_examples(train_path, train)
        training_sha = sha256_file(train_path)
        model = _train_fasttext(train_path, options)
        tmp_model = os.path.join(tmp, "model.bin")
        model.save_model(tmp_model)
        os.replace(tmp_model, output)

    labels = [1 if e.label == WIKI_LABEL else 0 for e in heldout]
    scores = []
    for e in heldout:
        predicted, probs = model.predict(e.text, k=1)
        scores.append(wiki_probability(predicted, probs) if predicted else 0.0)
    precision, recall = precision_recall(labels, scores, options.threshold)
    auc = roc_auc(labels, scores)

    def by_origin(items: list[Example]) -> dict[str, int]:
        return {origin: sum(1 for e in items if e.origin == origin) for origin in (REFERENCE_PAGES, WIKIPEDIA_TEXT)}

    metrics: dict[str, Any] = {
        "model": os.path.abspath(output),
        "model_sha256": sha256_file(output),
        "training_set_sha256": training_sha,
        "heldout": {
            "threshold": options.threshold,
            "precision": _round(precision),
            "recall": _round(recall),
            "roc_auc": _round(auc),
            "positives": sum(labels),
            "negatives": len(labels) - sum(labels),
        },
        "counts": {
            "positives": by_origin(training.positives),
            "negatives": len(training.negatives),
            "train": {"positives": sum(1 for e in train if e.label == WIKI_LABEL),
                      "negatives": sum(1 for e in train if e.label == CC_LABEL)},
            "heldout": {"positives": sum(labels), "negatives": len(labels) - sum(labels)},
            "duplicates_removed": training.duplicates_removed,
            "reference_urls": training.reference_urls,
            "web_pages_read": training.web_pages,
            "negatives_available": training.negatives_available,
            "wiki_articles_read": training.wiki_articles,
            "wiki_chunks_available": training.wiki_chunks_available,
        },
        "config": {**asdict(options), "labels": [WIKI_LABEL, CC_LABEL], "thread": 1,
                   "normalisation": "filters.quality.classifier_text"},
        "inputs": {role: {path: sha256_of(path) for path in paths} for role, paths in inputs.items()},
    }
    write_json_atomically(output + ".metrics.json", metrics)
    return metrics


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A readable summary of a training run for the terminal."""
    counts = metrics["counts"]
    held = metrics["heldout"]

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return [
        f"quality model  {metrics['model']}",
        f"  sha256       {metrics['model_sha256']}",
        f"  positives    {sum(counts['positives'].values())} "
        f"(reference pages {counts['positives'][REFERENCE_PAGES]}, "
        f"Wikipedia text {counts['positives'][WIKIPEDIA_TEXT]}); "
        f"{counts['reference_urls']} cited URLs, {counts['web_pages_read']} web pages read",
        f"  negatives    {counts['negatives']} (of {counts['negatives_available']} candidate pages)",
        f"  duplicates   {counts['duplicates_removed']} removed",
        f"  train/held   {counts['train']['positives'] + counts['train']['negatives']} / "
        f"{counts['heldout']['positives'] + counts['heldout']['negatives']}",
        f"  held-out     precision {fmt(held['precision'])}  recall {fmt(held['recall'])} "
        f"(wiki_prob >= {held['threshold']})  ROC-AUC {fmt(held['roc_auc'])}",
        f"  metrics      {metrics['model']}.metrics.json",
    ]

