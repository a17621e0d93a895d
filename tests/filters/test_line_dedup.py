"""CCNet line-dedup helpers: keys identical to cc_net's, rewrite bookkeeping, drop reasons."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from filters.line_dedup import EMPTY_AFTER_DEDUP, TOO_SHORT, drop_reason, line_key, line_keys, remove_lines


def _cc_net_key(line: str) -> int:
    """cc_net/dedup.py compute_hashes: sha1 digest[:8] reinterpreted as np.uint64 (little-endian)."""
    from filters.normalize import normalize_for_dedup

    digest = hashlib.sha1(bytes(normalize_for_dedup(line), encoding="utf-8")).digest()[:8]
    return int(np.frombuffer(digest, dtype="<u8")[0])


@pytest.mark.parametrize("line", ["Hello, World 2024!", "  Impressum  ", "Straße – 12 km", "「日本語」のテキスト"])
def test_key_is_cc_net_hash(line):
    assert line_key(line) == _cc_net_key(line)


@pytest.mark.parametrize("a, b, same", [
    ("Hello World 12", "  hello world 99 ", True),       # case, digits, outer spaces
    ("Hello… World", "Hello World", True),               # Unicode punctuation is removed
    ("Hello, World", "Hello World", False),              # ASCII punctuation is kept
    ("Kontakt", "Kontakte", False),
])
def test_normalisation_decides_what_is_a_duplicate(a, b, same):
    assert (line_key(a) == line_key(b)) is same


@pytest.mark.parametrize("line", ["", "   ", "…", "「」", "\x00\t"])
def test_lines_that_normalise_to_nothing_are_not_keys(line):
    assert line_key(line) is None


def test_remove_lines_keeps_cc_net_bookkeeping():
    text = "Menu\nReal sentence one.\n\nCookie banner\nReal sentence two."
    keys = line_keys(text)
    result = remove_lines(text, keys, {line_key("Menu"), line_key("Cookie banner")})
    assert result.text == "Real sentence one.\nReal sentence two."
    assert result.line_ids == (1, 4)
    assert (result.original_nlines, result.original_length) == (5, len(text))
    assert result.annotations() == {
        "original_nlines": 5, "original_length": len(text), "nlines": 2, "length": len(result.text), "line_ids": [1, 4],
    }


def test_remove_lines_rejects_mismatched_keys():
    with pytest.raises(ValueError):
        remove_lines("a\nb", [line_key("a")], set())


def test_drop_reasons():
    assert drop_reason(remove_lines("x", line_keys("x"), {line_key("x")}), 0) == EMPTY_AFTER_DEDUP
    assert drop_reason(remove_lines("short", line_keys("short"), set()), 300) == TOO_SHORT
    long_text = "word " * 70
    assert drop_reason(remove_lines(long_text, line_keys(long_text), set()), 300) is None
