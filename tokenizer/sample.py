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


@dataclass(frozen=True)
class SourceTotals:
    """One source's documents and characters (what the budgets are computed from)."""

    name: str
    kind: str
    documents: int
    chars: int


def source_budgets(totals: list[SourceTotals], mixture: MixtureSpec, sample_chars: int
                   ) -> tuple[dict[str, SourceSample], dict[str, str]]:
    """Per source: its effective weight and character budget; and the sources left out, with why.

    Kinds are weighted as in the mixture, renormalised over the kinds present; sources of one
    kind share its weight in proportion to their characters.
    """
    skipped: dict[str, str] = {}
    present: list[SourceTotals] = []
    for t in totals:
        if t.kind not in mixture.kinds:
            skipped[t.name] = f"kind {t.kind!r} not in mixture {mixture.name}"
        elif not t.documents:
            skipped[t.name] = "no documents"
        else:
            present.append(t)
    kinds = {t.kind for t in present}
    present_weight = sum(mixture.source(k).weight for k in kinds)
    kind_chars = {k: sum(t.chars for t in present if t.kind == k) for k in kinds}
    out: dict[str, SourceSample] = {}
    for t in present:
        kind_weight = mixture.source(t.kind).weight * 100.0 / present_weight
        weight = kind_weight * t.chars / kind_chars[t.kind] if kind_chars[t.kind] else 0.0
        budget = int(sample_chars * weight / 100.0)
        out[t.name] = SourceSample(t.name, t.kind, weight, available_chars=t.chars, budget_chars=budget)
    return out, skipped


def take_prefix(entries: list[tuple[int, str, str]], info: SourceSample) -> list[tuple[int, str, str]]:
    """The documents ``(key, id, text)`` (sorted by key) that fill ``info``'s budget; the last cut at a
    line break. Updates ``info``'s sampled figures."""
    taken = []
    remaining = info.budget_chars
    for key, doc_id, text in entries:
        if remaining <= 0:
            break
        limit = min(len(text), remaining)
        remaining -= len(text)
        cut = _truncate(text, limit)
        if not cut:
            continue
        taken.append((key, doc_id, cut))
        info.sampled_chars += len(cut)
        info.documents += 1
    return taken


def draw_sample(sources: list[RunSource], mixture: MixtureSpec, sample_chars: int, seed: int) -> TrainingSample:
    """Draws the weighted, seeded training sample in this process (small runs and tests).

    ``stages/tokenizer_sample.py`` draws the same sample on Beam for runs of any size: it keeps
    only the documents whose key falls below a per-source threshold, then applies the same
    ``take_prefix`` to those.

    Args:
        sources: Run sources with ``docs/`` folders.
        mixture: Weights per source kind.
        sample_chars: Total characters wanted.
        seed: Sampling seed.

    Returns:
        The sample; ``skipped`` names sources left out (kind not in the mixture, no documents).
    """
    result = TrainingSample()
    docs: dict[str, list[tuple[int, str, str]]] = {}
    totals = []
    for src in sources:
        entries = []
        if src.kind in mixture.kinds:
            entries = [(sample_key(seed, d.id), d.id, d.text) for f in src.doc_files() for d in iter_documents(f)]
        entries.sort()
        docs[src.name] = entries
        totals.append(SourceTotals(src.name, src.kind, len(entries), sum(len(e[2]) for e in entries)))
    result.sources, result.skipped = source_budgets(totals, mixture, sample_chars)
    keyed = [e for name, info in result.sources.items() for e in take_prefix(docs[name], info)]
    keyed.sort()
    result.texts = [t for _, _, t in keyed]
    return result
