"""Which pages the perplexity LM is fit on: a bounded, deterministic sample (Beam-free).

``pasture models lm`` prepares the text on Beam workers (``stages.model_inputs``): each unit
of reading (a dump, or a byte range of a multistream dump) is cleaned and normalised into one
paragraph a line (:func:`pipeline.training.lm.write_lm_text`'s text, page for page), and every
page gets a 64-bit sample key, a seeded hash of its id (:func:`tokenizer.sample.sample_key`,
the tokenizer sample's order). The sample is the pages of smallest key while their text
(training + held-out bytes) stays within ``models.lm.max_training_bytes`` and their number
within ``models.lm.max_docs``: the same pages whatever the file order, the unit split or the
number of workers. Within the sample the held-out side and its two fall-backs are exactly
those of ``write_lm_text`` (:func:`assign_sides`), so the Beam text equals the
single-process text of the sampled pages byte for byte.

Workers keep only pages below a key limit set before the run from the input sizes (a few
times what the bound needs; ``2^64`` keeps every page); when the candidates fall short of
the bound, the launcher reruns with a limit from the exact totals they reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.training.lm import LMTextCounts, is_heldout, split_key
from tokenizer.sample import sample_key

SPACE = 1 << 64  # a key limit that keeps every page
SAMPLE_SEED = 0  # pages are sampled in the order of sample_key(SAMPLE_SEED, id)
OVERSAMPLE = 1.25  # candidates per needed byte on the first try (more when the estimate was short)
# Estimates for the first key limit, set low on purpose: too low a guess of the text only
# writes more candidates, too high a guess costs a second Beam run (never a wrong sample).
# A compressed dump holds at least its own size in clean text (bz2 packs wikitext about 4:1
# and cleaning keeps more than a quarter of it); a plain .xml dump at least a tenth of it
# (markup, templates and XML escaping are most of a page).
PLAIN_DUMP_TEXT_SHARE = 0.1
BYTES_PER_PAGE_GUESS = 2000  # text bytes per page, for the first limit of max_docs


def estimated_text_bytes(sizes: Sequence[tuple[str, int]]) -> int:
    """A low estimate of the clean text in dumps of these ``(path, size)``, for the first key limit."""
    compressed = (".bz2", ".gz", ".xz")
    return int(sum(size if path.endswith(compressed) else size * PLAIN_DUMP_TEXT_SHARE for path, size in sizes))


@dataclass(frozen=True)
class PageText:
    """One page's prepared text, as the sample sees it (its bytes travel separately)."""

    key: int  # sample key: pages are taken smallest first
    split: int  # split_key(id): the held-out side and the spare page
    heldout: bool  # is_heldout(id, heldout_percent)
    nbytes: int  # UTF-8 bytes of its lines, each ending in "\n"
    lines: int
    chars: int

    def to_list(self) -> list[int]:
        return [self.key, self.split, int(self.heldout), self.nbytes, self.lines, self.chars]

    @classmethod
    def from_list(cls, values: Sequence[int]) -> PageText:
        key, split, heldout, nbytes, lines, chars = values
        return cls(int(key), int(split), bool(heldout), int(nbytes), int(lines), int(chars))


def page_text(doc_id: str, lines: list[str], heldout_percent: int) -> tuple[PageText, bytes]:
    """A page's sample record and its text (the lines of ``filters.perplexity.lm_lines``)."""
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    page = PageText(sample_key(SAMPLE_SEED, doc_id), split_key(doc_id), is_heldout(doc_id, heldout_percent),
                    len(payload), len(lines), sum(len(line) for line in lines))
    return page, payload


def key_limit(total_bytes: int, total_pages: int, max_bytes: int, max_docs: int | None,
              oversample: float = OVERSAMPLE) -> int:
    """The key below which workers keep pages as candidates: enough for either bound, ``oversample`` over.

    Args:
        total_bytes, total_pages: the text and pages of the inputs (estimates or exact totals).
        max_bytes, max_docs: the bounds of the sample.
    """
    if total_bytes <= 0:
        return SPACE
    average = total_bytes / max(total_pages, 1)
    # 20 average pages on top: the cut must find a page past the bound among the candidates.
    fraction = (oversample * max_bytes + 20 * average) / total_bytes
    if max_docs is not None and total_pages > 0:
        # Candidates within the byte bound cost no more than a sample may, so a page-count
        # bound never keeps fewer than that: a short guess of the page count (pages vary
        # from a few hundred bytes to tens of kB) then costs no second run on small inputs.
        fraction = min(fraction, max((oversample * max_docs + 20) / total_pages, max_bytes / total_bytes))
    return SPACE if fraction >= 1.0 else max(1, int(fraction * SPACE))


def cut_key(pages: Sequence[PageText], max_bytes: int, max_docs: int | None) -> int:
    """The sample is the pages with key below the returned value (``SPACE``: all of ``pages``).

    Pages are taken smallest key first while their bytes stay ``<= max_bytes`` and their number
    ``<= max_docs``; the first page that does not fit ends the sample (so does every page with
    its key: the same page read twice is in or out as a whole).
    """
    total = 0
    for taken, page in enumerate(sorted(pages, key=lambda p: p.key)):
        if (max_docs is not None and taken >= max_docs) or total + page.nbytes > max_bytes:
            return page.key
        total += page.nbytes
    return SPACE


def assign_sides(pages: Sequence[PageText], heldout_percent: int) -> tuple[list[bool], LMTextCounts]:
    """Per page (in reading order), True when it goes to the held-out text; and the counts.

    The rules of :func:`pipeline.training.lm.write_lm_text`: the id-hash side; when that
    holds out nothing, the first training page of largest split key; when it holds out
    everything, no page (they are the training text).
    """
    sides = [p.heldout for p in pages]
    train = [i for i, held in enumerate(sides) if not held]
    if not any(sides) and heldout_percent > 0 and len(train) >= 2:
        spare = max(train, key=lambda i: (pages[i].split, -i))
        sides[spare] = True
    if pages and all(sides):
        sides = [False] * len(pages)
    counts = LMTextCounts(
        documents=len(pages),
        train_documents=sum(1 for held in sides if not held),
        train_paragraphs=sum(p.lines for p, held in zip(pages, sides) if not held),
        heldout_paragraphs=sum(p.lines for p, held in zip(pages, sides) if held),
        chars=sum(p.chars for p in pages),
    )
    return sides, counts
