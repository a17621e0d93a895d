"""MinHash signatures and LSH band keys for near-duplicate detection (Beam-free).

Pipeline for one document:

1. ``normalized_words(text)``: lower-case, diacritics stripped, every digit → ``0``,
   punctuation treated as a word break, whitespace collapsed. This is datatrove's
   ``TextNormConfig`` default (lowercase, remove_punctuation, norm_unicode_diacritics,
   norm_numbers, norm_whitespace), so "Page 12 — Café" and "page 47: cafe" shingle alike.
2. ``shingles(text, n)``: the set of word n-grams (``n = MinHashConfig.ngram``, 5 as in
   datatrove and BigCode), as UTF-8 bytes. This set *defines* the Jaccard we report. A
   document with 1..n-1 words is one shingle (identical short texts still collide); a
   document with no words has no shingles and no signature: it is never a near-duplicate.
3. ``shingle_hashes(text, n)``: the same shingles as 32-bit hashes, computed without building
   them: each word is hashed once with ``xxhash.xxh32_intdigest`` and the n word hashes of a
   shingle are combined by a polynomial (``h = h * 0x9E3779B1 + w`` mod 2^32) in numpy.
   Equal shingles give equal hashes; different shingles collide with probability ~2^-32, as
   with xxh32 over the shingle bytes. ``word_shingle_hashes(words, n, bits=64)`` is the same
   construction over 64 bits (xxh64, multiplier 0x9E3779B97F4A7C15) for callers that split
   words their own way and compare shingle sets exactly (the books dedup).
4. ``minhash_signature(hashes, num_perm, seed)`` (``MinHasher.hashvalues(text)`` on text):
   datasketch's ``affine32`` MinHash scheme (``affine64`` for 64-bit hashes), seeded: the
   MurmurHash3 finalizer (``fmix32``/``fmix64``), then ``a * h + b`` mod 2^32 (2^64) with
   datasketch's own permutations ``MinHash(num_perm, seed, scheme=...).permutations``, then
   the minimum per permutation. The values are exactly ``MinHash(num_perm, seed,
   hashfunc=int, scheme=...).update_batch(hashes)`` (tests check both widths), so
   ``MinHasher.signature`` returns a datasketch ``LeanMinHash`` that works with
   ``MinHashLSH`` and ``jaccard``.
5. ``band_keys(hashvalues, bands, rows)``: one key per band; two documents become candidates
   when any band key is equal.

Speed (profiled: shingling dominated, then the per-shingle Python hash calls inside
``update_batch``): ASCII punctuation/digits go through one ``bytes.translate`` table and a
C ``split``; only non-ASCII text pays for one regex (and NFD when it is not already NFD);
words are hashed with ``map`` over a C function; shingles never exist as Python objects;
the permutations are one numpy broadcast per 4,096 shingles (which also bounds memory on
book-length documents). Figures: bench/dedup_throughput.py.

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
from collections.abc import Sequence

import numpy as np
import xxhash

from mixtures.config import MinHashConfig

# Everything that is neither a word character nor ASCII: Unicode punctuation, symbols and
# spaces (NBSP, U+3000, ...). They become ASCII spaces; ASCII is handled by _BYTE_TABLE.
# (ASCII range first in the class: the common case is decided without a Unicode lookup.)
_NON_ASCII_BREAK_RE = re.compile(r"[^\x00-\x7f\w]+")
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
_KEY_DTYPE_64 = np.dtype(">u8")  # band keys of 64-bit signatures (affine64)


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
        # NFD + a regex over combining marks is 2x faster than a per-character category test;
        # the quick check skips both for text with nothing to decompose (most non-Latin text).
        if not unicodedata.is_normalized("NFD", text):
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


# Per hash width: the word hash, the dtype, the odd multiplier of the polynomial shingle hash
# (the golden ratio, as in Fibonacci hashing), datasketch's scheme, and the MurmurHash3
# finalizer constants (shift, multiplier, shift, multiplier, shift: datasketch's
# ``_FMIX_CONSTANTS``, the pre-mix of its affine schemes) that avalanche a shingle hash
# before the affine permutations.
_WIDTHS = {
    32: (xxhash.xxh32_intdigest, np.dtype(np.uint32), 0x9E3779B1, "affine32",
         (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)),
    64: (xxhash.xxh64_intdigest, np.dtype(np.uint64), 0x9E3779B97F4A7C15, "affine64",
         (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)),
}
_BITS = {np.dtype(np.uint32): 32, np.dtype(np.uint64): 64}
_CHUNK = 4096  # shingles per numpy broadcast: 4096 x num_perm x 4 bytes ≈ 2.4 MB at 144 (32 bits)


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """32-bit hashes of the word ``n``-grams of the normalised ``text`` (see the module docstring).

    Args:
        text: Document text.
        n: Words per shingle.

    Returns:
        A uint32 array with one hash per shingle position (repeated shingles repeat their
        hash, which does not change a minimum); empty when the text has no words.
    """
    return word_shingle_hashes(normalized_words(text), n)


def word_shingle_hashes(words: Sequence[bytes], n: int, bits: int = 32) -> np.ndarray:
    """Hashes of the ``n``-grams of ``words``, one per position, without building them.

    Each word is hashed once (xxh32 or xxh64) and the ``n`` word hashes of a shingle are
    combined by ``h = h * M + w`` mod 2^bits, in numpy.

    Args:
        words: The words, as UTF-8 bytes, however the caller split them.
        n: Words per shingle.
        bits: 32 (uint32, ``affine32``) or 64 (uint64, ``affine64``).

    Returns:
        One hash per shingle position; one hash of all the words when there are fewer
        than ``n``; empty when there are none.
    """
    word_hash, dtype, multiplier, _, _ = _WIDTHS[bits]
    count = len(words)
    word_hashes = np.fromiter(map(word_hash, words), dtype=dtype, count=count)
    mult = dtype.type(multiplier)
    if count <= n:
        if count == 0:
            return word_hashes
        h = word_hashes[:1].copy()
        for j in range(1, count):
            h *= mult
            h += word_hashes[j]
        return h
    positions = count - n + 1
    h = word_hashes[:positions].copy()
    for j in range(1, n):
        h *= mult
        h += word_hashes[j:j + positions]
    return h


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finalizer (fmix32 or fmix64, by dtype) of a hash array, as a new array."""
    s1, m1, s2, m2, s3 = (h.dtype.type(c) for c in _WIDTHS[_BITS[h.dtype]][4])
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


def hash_sample(hashes: np.ndarray, one_in: int, seed: int = 0) -> np.ndarray:
    """The hashes whose mixed value falls under ``2**bits / one_in``: a consistent sample.

    Whether a hash is sampled depends on that hash alone (and ``seed``), never on the set
    it is in, so the sample of a subset is exactly the subset of the sample: if book A's
    shingles lie inside book B's, every sampled shingle of A is a sampled shingle of B.
    That is what lets an index over samples find containment whatever the two sizes, which
    MinHash (an estimate of Jaccard) cannot. About ``len(hashes) / one_in`` are kept; the
    hash is mixed first (MurmurHash3's finalizer) so that shingle hashes with structure in
    their low or high bits sample evenly.
    """
    if one_in < 1:
        raise ValueError(f"one_in must be >= 1, not {one_in}")
    if one_in == 1 or len(hashes) == 0:
        return hashes.copy()
    bits = _BITS[hashes.dtype]
    mixed = _fmix(hashes ^ hashes.dtype.type(seed & ((1 << bits) - 1)))
    threshold = hashes.dtype.type(((1 << bits) - 1) // one_in)
    return hashes[mixed < threshold]


def permutations(num_perm: int, seed: int, bits: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's seeded affine permutations ``(a, b)`` of ``affine32`` or ``affine64``."""
    from datasketch import MinHash

    _, dtype, _, scheme, _ = _WIDTHS[bits]
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=scheme).permutations
    return np.ascontiguousarray(a, dtype=dtype), np.ascontiguousarray(b, dtype=dtype)


def permuted_minimums(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``min over hashes of (a * fmix(h) + b)`` per permutation, in the hashes' width.

    Args:
        hashes: Shingle hashes, of the permutations' dtype; repeats are harmless.
        a: Odd multipliers, one per permutation (:func:`permutations`).
        b: Offsets, one per permutation.

    Returns:
        The MinHash values; all at the maximum (datasketch's empty MinHash) without hashes.
    """
    if hashes.dtype != a.dtype:
        raise TypeError(f"{hashes.dtype} shingle hashes with {a.dtype} permutations")
    mixed = _fmix(hashes)
    values = np.full(a.shape[0], np.iinfo(a.dtype).max, dtype=a.dtype)
    for start in range(0, mixed.shape[0], _CHUNK):
        block = mixed[start:start + _CHUNK, None] * a + b
        np.minimum(values, block.min(axis=0), out=values)
    return values


def minhash_signature(hashes: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """The ``num_perm`` MinHash values of shingle hashes: datasketch ``affine32`` for uint32
    hashes, ``affine64`` for uint64 (for many documents, keep a :class:`MinHasher` instead:
    it builds the permutations once)."""
    return permuted_minimums(hashes, *permutations(num_perm, seed, _BITS[hashes.dtype]))


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
    key_dtype = _KEY_DTYPE_64 if values.dtype == np.uint64 else _KEY_DTYPE
    raw = values.astype(key_dtype).tobytes()
    width = rows * key_dtype.itemsize
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
        self._a: np.ndarray | None = None
        self._b: np.ndarray | None = None

    def load(self) -> None:
        """Takes datasketch's seeded ``affine32`` permutations once."""
        self._a, self._b = permutations(self.cfg.num_perm, self.cfg.seed, 32)

    def hashvalues(self, text: str) -> np.ndarray | None:
        """The ``num_perm`` uint32 MinHash values of ``text``, or ``None`` when it has no words.

        Raises:
            TypeError: ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise TypeError(f"document text must be str, got {type(text).__name__}")
        if self._a is None:
            self.load()
        hashes = shingle_hashes(text, self.cfg.ngram)
        if hashes.shape[0] == 0:
            return None
        return permuted_minimums(hashes, self._a, self._b)

    def signature(self, text: str):
        """The datasketch ``LeanMinHash`` of ``text`` (scheme ``affine32``), or ``None``."""
        from datasketch import LeanMinHash

        values = self.hashvalues(text)
        if values is None:
            return None
        return LeanMinHash(seed=self.cfg.seed, hashvalues=values, scheme="affine32")

    def band_keys(self, hashvalues: np.ndarray | bytes) -> list[bytes]:
        return band_keys(hashvalues, self.cfg.bands, self.cfg.rows)
