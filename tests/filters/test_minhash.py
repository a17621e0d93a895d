"""Shingling, signatures, band keys and the S-curve, on real text and without Beam."""

from __future__ import annotations

import random

import numpy as np
import pytest
import xxhash
from datasketch import MinHash

from filters.minhash import (
    MinHasher,
    band_keys,
    candidate_probability,
    estimated_jaccard,
    hash_sample,
    jaccard,
    minhash_signature,
    normalized_words,
    s_curve,
    shingle_hashes,
    shingles,
    signature_array,
    signature_bytes,
    word_shingle_hashes,
)
from mixtures.config import ConfigError, MinHashConfig


@pytest.fixture(scope="module")
def frankenstein(corpus) -> str:
    return (corpus / "books" / "84-0-frankenstein-body-only.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello,   World!", [b"hello", b"world"]),
        ("Page 12 — Café", [b"page", b"00", b"cafe"]),
        ("déjà_vu 3.14", [b"deja", b"vu", b"0", b"00"]),
        ("«Ja» sagte\u00a0er…\u3000gut", [b"ja", b"sagte", b"er", b"gut"]),
        ("naïve\tNAÏVE\nnaive", [b"naive", b"naive", b"naive"]),
        # NFD strips the diaeresis of Cyrillic "ї" too, as datatrove does
        ("Київ і Львів", ["киів".encode(), "і".encode(), "львів".encode()]),
        ("  ...  ", []),
    ],
)
def test_normalized_words(text, words):
    assert normalized_words(text) == words


def test_shingles_are_word_ngrams_and_short_texts_are_one_shingle():
    assert shingles("one two three four five six", 5) == {b"one two three four five", b"two three four five six"}
    assert shingles("Just three words", 5) == {b"just three words"}
    assert shingles("!!! ???", 5) == set()
    # punctuation and case do not change the shingles
    assert shingles("The cat, the HAT.", 2) == shingles("the cat the hat", 2)


def test_shingle_hashes_are_the_shingles_hashed(frankenstein):
    text = frankenstein[:20000]
    hashes = shingle_hashes(text, 5)
    grams = shingles(text, 5)
    assert hashes.dtype == np.uint32
    assert len(hashes) == len(normalized_words(text)) - 4
    assert len(set(hashes.tolist())) == len(grams)  # no collisions on a real text
    # the first shingle by hand: h = h * 0x9E3779B1 + xxh32(word) mod 2^32
    h = 0
    for word in normalized_words(text)[:5]:
        h = (h * 0x9E3779B1 + xxhash.xxh32_intdigest(word)) % 2**32
    assert int(hashes[0]) == h
    assert shingle_hashes("two words", 5).shape == (1,)
    assert shingle_hashes("— …", 5).shape == (0,)


def test_signature_is_datasketch_affine32_minhash(frankenstein):
    cfg = MinHashConfig()
    hasher = MinHasher(cfg)
    hasher.load()
    for text in (frankenstein[:5000], frankenstein):  # the whole book crosses the 4096-shingle chunks
        ours = hasher.signature(text)
        theirs = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=int)
        theirs.update_batch(shingle_hashes(text, cfg.ngram).tolist())
        assert list(ours.hashvalues) == list(theirs.hashvalues)
        assert ours.scheme == "affine32" and len(ours.hashvalues) == 144
    # seeded: a second hasher gives the same values; another seed does not
    text = frankenstein[:5000]
    assert list(MinHasher(cfg).hashvalues(text)) == list(hasher.hashvalues(text))
    assert list(MinHasher(MinHashConfig(seed=2)).hashvalues(text)) != list(hasher.hashvalues(text))


def test_signature_of_text_without_words_is_none_and_non_text_raises():
    hasher = MinHasher(MinHashConfig())
    assert hasher.signature("— … ——") is None
    with pytest.raises(TypeError, match="must be str"):
        hasher.signature(None)


def test_estimated_jaccard_tracks_true_jaccard_on_real_text(frankenstein):
    hasher = MinHasher(MinHashConfig())
    words = frankenstein.split()[:1500]
    rng = random.Random(3)
    edited = list(words)
    for _ in range(60):
        edited[rng.randrange(len(edited))] = f"edit{rng.randrange(10**6)}"
    a, b = " ".join(words), " ".join(edited)
    true = jaccard(shingles(a), shingles(b))
    est = estimated_jaccard(hasher.signature(a).hashvalues, hasher.signature(b).hashvalues)
    assert 0.6 < true < 0.9
    # standard error of the estimate is sqrt(J(1-J)/144) ≈ 0.04
    assert abs(est - true) < 0.12
    unrelated = " ".join(frankenstein.split()[5000:6500])
    assert estimated_jaccard(hasher.signature(a).hashvalues, hasher.signature(unrelated).hashvalues) < 0.05


def test_band_keys_and_signature_bytes_round_trip(frankenstein):
    cfg = MinHashConfig()
    hasher = MinHasher(cfg)
    values = hasher.signature(frankenstein[:3000]).hashvalues
    raw = signature_bytes(values)
    assert len(raw) == 4 * cfg.num_perm
    assert list(signature_array(raw)) == list(values)
    keys = band_keys(raw, cfg.bands, cfg.rows)
    assert keys == band_keys(values, cfg.bands, cfg.rows)
    assert len(keys) == cfg.bands and len(set(keys)) == cfg.bands
    assert all(len(k) == 2 + 4 * cfg.rows for k in keys)
    assert [int.from_bytes(k[:2], "big") for k in keys] == list(range(cfg.bands))
    with pytest.raises(ValueError, match="expected bands"):
        band_keys(values, 16, 8)


def test_default_s_curve_catches_j08_and_rarely_j05():
    cfg = MinHashConfig()
    assert cfg.bands * cfg.rows == cfg.num_perm
    curve = dict(s_curve(cfg.bands, cfg.rows))
    assert curve[0.8] >= 0.95
    assert curve[0.5] < 0.08
    assert curve[0.95] > 0.9999
    assert candidate_probability(0.8, 16, 8) < 0.95  # why the default is not 16 x 8


def test_config_validation():
    with pytest.raises(ConfigError, match="bands \\* rows"):
        MinHashConfig(bands=16, rows=8)
    with pytest.raises(ConfigError, match="verify_threshold"):
        MinHashConfig(verify_threshold=1.5)
    with pytest.raises(ConfigError, match="max_rounds"):
        MinHashConfig(max_rounds=0)


def test_64_bit_shingles_and_signatures_are_datasketch_affine64(frankenstein):
    words = normalized_words(frankenstein)
    hashes = word_shingle_hashes(words, 5, bits=64)
    assert hashes.dtype == np.uint64 and len(hashes) == len(words) - 4
    h = 0  # the first shingle by hand: h = h * 0x9E3779B97F4A7C15 + xxh64(word) mod 2^64
    for word in words[:5]:
        h = (h * 0x9E3779B97F4A7C15 + xxhash.xxh64_intdigest(word)) % 2**64
    assert int(hashes[0]) == h
    ours = minhash_signature(hashes, 128, 1)  # the whole book crosses the 4096-shingle chunks
    theirs = MinHash(num_perm=128, seed=1, hashfunc=int, scheme="affine64")
    theirs.update_batch(hashes.tolist())
    assert ours.dtype == np.uint64 and list(ours) == list(theirs.hashvalues)
    # 32-bit hashes give the affine32 values MinHasher gives
    assert list(minhash_signature(shingle_hashes(frankenstein, 5), 144, 1)) == list(
        MinHasher(MinHashConfig()).hashvalues(frankenstein))
    # 64-bit band keys carry the full values: equal bands, equal keys
    keys = band_keys(ours, 32, 4)
    assert len(keys) == 32 and len(keys[0]) == 2 + 4 * 8 and keys == band_keys(ours.copy(), 32, 4)


def test_hash_sample_of_a_subset_is_the_subset_of_the_sample(frankenstein):
    """Sampling depends on the shingle alone: a volume's samples are the book's samples in it."""
    from filters.sources.books.gutenberg import book_shingles

    book = book_shingles(frankenstein, 5)
    volume = book_shingles(frankenstein[: len(frankenstein) // 10], 5)
    sample, volume_sample = hash_sample(book, 32, seed=1), hash_sample(volume, 32, seed=1)
    assert set(volume_sample.tolist()) <= set(sample.tolist())
    assert set(volume_sample.tolist()) == set(sample.tolist()) & set(volume.tolist())
    assert 0.8 < len(sample) * 32 / len(book) < 1.2  # about one in 32
    assert hash_sample(book, 1).tolist() == book.tolist()
    assert set(hash_sample(book, 32, seed=2).tolist()) != set(sample.tolist())
    with pytest.raises(ValueError):
        hash_sample(book, 0)
