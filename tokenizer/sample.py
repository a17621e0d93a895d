"""The tokenizer's training sample: drawn from every source in proportion to the mixture.

LLaMA trained its tokenizer on the pretraining data itself; a sample dominated by whichever
source happens to be largest on disk would give code or a single language too many pieces.
So each source kind gets ``sample_chars × weight`` characters (weights renormalised over the
kinds present), and inside a source documents are taken in the order of a seeded hash of
their id: the same run, seed and budget give the same sample whatever the file order or
shard count. A document that would overflow the budget is cut at the last line break that
fits. Sources of one kind share the kind's budget in proportion to their size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from mixtures.spec import MixtureSpec
from tokenizer.manifest import RunSource, iter_documents


def sample_key(seed: int, doc_id: str) -> int:
    """Position of a document in the seeded sampling order."""
    digest = hashlib.sha1(f"{seed}\x1f{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class SourceSample:
    """How much of one source went into the sample."""

    name: str
    kind: str
    weight: float  # effective percent after renormalisation
    available_chars: int = 0
    budget_chars: int = 0
    sampled_chars: int = 0
    documents: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "weight": round(self.weight, 6),
            "available_chars": self.available_chars,
            "budget_chars": self.budget_chars,
            "sampled_chars": self.sampled_chars,
            "documents": self.documents,
        }


@dataclass
class TrainingSample:
    """Sampled texts (in sampling order) and per-source figures."""

    texts: list[str] = field(default_factory=list)
    sources: dict[str, SourceSample] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # source name → why it contributed nothing

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.texts)

    def lines(self) -> Iterator[str]:
        """Training lines: SentencePiece learns on lines; blank lines carry nothing."""
        for text in self.texts:
            for line in text.split("\n"):
                if line.strip():
                    yield line


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[: cut if cut > 0 else limit]


def draw_sample(sources: list[RunSource], mixture: MixtureSpec, sample_chars: int, seed: int) -> TrainingSample:
    """Draws the weighted, seeded training sample.

    Args:
        sources: Run sources with ``docs/`` folders.
        mixture: Weights per source kind.
        sample_chars: Total characters wanted.
        seed: Sampling seed.

    Returns:
        The sample; ``skipped`` names sources left out (kind not in the mixture, no documents).
    """
    result = TrainingSample()
    # Pass 1: (key, id, chars) per document; texts are not kept, so memory stays small.
    index: dict[str, list[tuple[int, str, int]]] = {}
    for src in sources:
        if src.kind not in mixture.kinds:
            result.skipped[src.name] = f"kind {src.kind!r} not in mixture {mixture.name}"
            continue
        entries = [(sample_key(seed, d.id), d.id, len(d.text)) for f in src.doc_files() for d in iter_documents(f)]
        if not entries:
            result.skipped[src.name] = "no documents"
            continue
        entries.sort()
        index[src.name] = entries
    if not index:
        return result
    by_name = {s.name: s for s in sources}
    kinds = {by_name[n].kind for n in index}
    present_weight = sum(mixture.source(k).weight for k in kinds)
    kind_chars = {k: sum(sum(e[2] for e in index[n]) for n in index if by_name[n].kind == k) for k in kinds}
    selected: dict[str, dict[str, int]] = {}
    for name, entries in index.items():
        kind = by_name[name].kind
        available = sum(e[2] for e in entries)
        kind_weight = mixture.source(kind).weight * 100.0 / present_weight
        weight = kind_weight * available / kind_chars[kind] if kind_chars[kind] else 0.0
        budget = int(sample_chars * weight / 100.0)
        info = SourceSample(name, kind, weight, available_chars=available, budget_chars=budget)
        take: dict[str, int] = {}
        remaining = budget
        for _, doc_id, chars in entries:
            if remaining <= 0:
                break
            take[doc_id] = min(chars, remaining)
            remaining -= chars
        selected[name] = take
        result.sources[name] = info
    # Pass 2: collect the chosen texts, then order the whole sample by key.
    keyed: list[tuple[int, str, str]] = []
    for name, take in selected.items():
        info = result.sources[name]
        for f in by_name[name].doc_files():
            for doc in iter_documents(f):
                limit = take.get(doc.id)
                if limit is None:
                    continue
                text = _truncate(doc.text, limit)
                if not text:
                    continue
                keyed.append((sample_key(seed, doc.id), doc.id, text))
                info.sampled_chars += len(text)
                info.documents += 1
    keyed.sort()
    result.texts = [t for _, _, t in keyed]
    return result
