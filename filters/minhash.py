"""MinHash signatures and LSH band keys for near-duplicate detection (Beam-free).

Pipeline for one document:

1. ``normalized_words(text)``: lower-case, diacritics stripped, every digit → ``0``,
   punctuation treated as a word break, whitespace collapsed. This is datatrove's
   ``TextNormConfig`` default (lowercase, remove_punctuation, norm_unicode_diacritics,
   norm_numbers, norm_whitespace), so "Page 12 — Café" and "page 47: cafe" shingle alike.
2. ``shingles(text, n)``: the set of word n-grams (``n = MinHashConfig.ngram``, 5 as in
   datatrove and BigCode), as UTF-8 bytes because datasketch and xxhash hash bytes only.
   A document with 1..n-1 words is one shingle (so identical short texts still collide); a
   document with no words has no shingles and no signature: it is never a near-duplicate.
3. ``MinHasher.signature(text)``: datasketch ``MinHash`` (scheme ``affine32``, seeded) with
   ``hashfunc=xxhash.xxh32_intdigest``, returned as a ``LeanMinHash``. The values are exactly
   what ``MinHash.bulk(..., hashfunc=xxh32_intdigest)`` gives, so they can be loaded into a
   datasketch ``MinHashLSH`` for inspection.
4. ``band_keys(hashvalues, bands, rows)``: one key per band; two documents become candidates
   when any band key is equal.

Speed: building shingles dominated (deps.md §5). ``normalized_words`` handles ASCII with one
``bytes.translate`` table (punctuation → space, digit → 0) and a C ``split``, 2-3x faster than
a Unicode regex ``findall``; only non-ASCII text pays for NFD and one regex. Shingles are
joined as bytes in C (``map(b" ".join, zip(...))``), never encoded one by one. Figures:
bench/dedup_throughput.py.

Known limit: scripts written without spaces (zh, ja, th) give few, long "words"; their
documents still dedup when nearly identical, but with coarse shingles.

S-curve. With b bands of r rows, a pair with Jaccard J becomes a candidate with probability
``P(J) = 1 - (1 - J^r)^b``. Default b = 18, r = 8 (num_perm = 144):

======  ======  ======  ======  ======  ======  ======  ======  ======
J        0.50    0.60    0.70    0.75    0.80    0.85    0.90    0.95
======  ======  ======  ======  ======  ======  ======  ======  ======
18×8    0.068   0.263   0.657   0.850   0.963   0.997   1.000   1.000
16×8    0.061   0.237   0.613   0.815   0.947   0.994   1.000   1.000
14×8    0.053   0.211   0.565   0.772   0.924   0.988   1.000   1.000
======  ======  ======  ======  ======  ======  ======  ======  ======

16 × 8 (128 permutations) misses the target "J ≥ 0.8 caught with ≥ 0.95"; datatrove's
14 × 8 gives 0.924. 18 × 8 costs 12.5% more hashing than 128 permutations and keeps
J = 0.5 pairs at 7%, which the optional verification (estimated Jaccard ≥
``verify_threshold``) removes. The threshold of the curve is about ``(1/b)^(1/r)`` ≈ 0.70.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import xxhash

from mixtures.config import MinHashConfig

# Everything that is neither a word character nor ASCII: Unicode punctuation, symbols and
# spaces (NBSP, U+3000, ...). They become ASCII spaces; ASCII is handled by _BYTE_TABLE.
_NON_ASCII_BREAK_RE = re.compile(r"[^\w\x00-\x7f]+")
# Combining marks left by NFD decomposition: "é" → "e" + U+0301.
_COMBINING_RE = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def _byte_table() -> bytes:
    """bytes.translate table: ASCII punctuation and control characters → space, digits → 0."""
    table = bytearray(range(256))
    for code in list(range(0, 32)) + [127]:
        table[code] = ord(" ")
    for char in string.punctuation:  # includes "_", which \w would keep
        table[ord(char)] = ord(" ")
    for char in string.digits:
        table[ord(char)] = ord("0")
    return bytes(table)


_BYTE_TABLE = _byte_table()

# Byte order of stored signatures and band keys: fixed, so keys agree across machines.
_SIG_DTYPE = np.dtype("<u4")
_KEY_DTYPE = np.dtype(">u4")


def normalized_words(text: str) -> list[bytes]:
    """The words of ``text`` after datatrove-style normalisation, as UTF-8 bytes.

    Lower-case; diacritics stripped (NFD, combining marks dropped); every digit → ``0``
    (ASCII digits, CCNet's rule; datatrove maps a whole number to one ``0``); punctuation, symbols and
    any whitespace only separate words.

    Args:
        text: Any Unicode text.

    Returns:
        The words, in order.
    """
    text = text.lower()
    if not text.isascii():
        # NFD + a regex over combining marks is 2x faster than a per-character category test.
        text = _COMBINING_RE.sub("", unicodedata.normalize("NFD", text))
        text = _NON_ASCII_BREAK_RE.sub(" ", text)
    # The ASCII part is one C-level table lookup per byte: 2-3x faster than a regex findall.
    return text.encode("utf-8").translate(_BYTE_TABLE).split()


def shingles(text: str, n: int = 5) -> set[bytes]:
    """The set of word ``n``-grams of the normalised text, each as UTF-8 bytes.

    Args:
        text: Document text.
        n: Words per shingle.

    Returns:
        The shingle set; one shingle when the text has at most ``n`` words, empty when
        it has none.
    """
    words = normalized_words(text)
    if len(words) <= n:
        return {b" ".join(words)} if words else set()
    # zip of shifted views + map(b" ".join) builds every n-gram in C, without a Python loop.
    return set(map(b" ".join, zip(*(words[i:] for i in range(n)))))


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    """Exact Jaccard similarity of two shingle sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def estimated_jaccard(sig_a: np.ndarray | bytes, sig_b: np.ndarray | bytes) -> float:
    """Estimated Jaccard: the fraction of equal MinHash values in two signatures."""
    a = signature_array(sig_a)
    b = signature_array(sig_b)
    if a.shape != b.shape:
        raise ValueError(f"signatures of different lengths: {a.shape[0]} and {b.shape[0]}")
    return float(np.count_nonzero(a == b)) / a.shape[0]


def signature_bytes(hashvalues: np.ndarray) -> bytes:
    """A signature as compact little-endian bytes (4 bytes per permutation)."""
    return np.asarray(hashvalues).astype(_SIG_DTYPE, copy=False).tobytes()


def signature_array(sig: np.ndarray | bytes) -> np.ndarray:
    """The inverse of :func:`signature_bytes` (arrays pass through)."""
    if isinstance(sig, (bytes, bytearray, memoryview)):
        return np.frombuffer(sig, dtype=_SIG_DTYPE)
    return np.asarray(sig)


def band_keys(hashvalues: np.ndarray | bytes, bands: int, rows: int) -> list[bytes]:
    """One LSH bucket key per band: 2-byte band index + the band's ``rows`` values.

    Args:
        hashvalues: A signature of ``bands * rows`` values (array or :func:`signature_bytes`).
        bands: Number of bands.
        rows: Values per band.

    Returns:
        ``bands`` keys; equal keys (same band, same values) make two documents candidates.
    """
    values = signature_array(hashvalues)
    if values.shape[0] != bands * rows:
        raise ValueError(f"signature has {values.shape[0]} values, expected bands*rows = {bands * rows}")
    raw = values.astype(_KEY_DTYPE).tobytes()
    width = rows * _KEY_DTYPE.itemsize
    return [band.to_bytes(2, "big") + raw[band * width:(band + 1) * width] for band in range(bands)]


def candidate_probability(j: float, bands: int, rows: int) -> float:
    """P(two documents with Jaccard ``j`` share at least one band) = 1 - (1 - j^r)^b."""
    return 1.0 - (1.0 - j**rows) ** bands


def s_curve(bands: int, rows: int, levels: Sequence[float] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
            ) -> list[tuple[float, float]]:
    """``(J, P(candidate | J))`` for each Jaccard level, for docs and bench output."""
    return [(j, candidate_probability(j, bands, rows)) for j in levels]


class MinHasher:
    """Seeded MinHash signatures of documents; build once per worker with :meth:`load`.

    Args:
        cfg: The MinHash sub-config (``ngram``, ``num_perm``, ``seed``, ``bands``, ``rows``).
    """

    name = "minhash"

    def __init__(self, cfg: MinHashConfig) -> None:
        self.cfg = cfg
        self._template = None

    def load(self) -> None:
        """Draws the permutations once; every signature copies this template."""
        from datasketch import MinHash

        self._template = MinHash(num_perm=self.cfg.num_perm, seed=self.cfg.seed,
                                 hashfunc=xxhash.xxh32_intdigest)

    def signature(self, text: str):
        """The ``LeanMinHash`` of ``text``, or ``None`` when it has no words.

        Raises:
            TypeError: ``text`` is not a string.
        """
        from datasketch import LeanMinHash

        if not isinstance(text, str):
            raise TypeError(f"document text must be str, got {type(text).__name__}")
        if self._template is None:
            self.load()
        grams = shingles(text, self.cfg.ngram)
        if not grams:
            return None
        minhash = self._template.copy()
        minhash.update_batch(grams)
        return LeanMinHash(minhash)

    def signatures(self, texts: Iterable[str]) -> list:
        """``signature`` for many texts (one template, as ``MinHash.bulk`` does)."""
        return [self.signature(text) for text in texts]

    def band_keys(self, hashvalues: np.ndarray | bytes) -> list[bytes]:
        return band_keys(hashvalues, self.cfg.bands, self.cfg.rows)
