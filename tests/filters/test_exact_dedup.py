"""Exact-dedup keys: content sha1, TFDS C4 URL normalisation, source-file hash."""

from __future__ import annotations

import hashlib

import pytest

from filters.document import Document
from filters.exact_dedup import content_key, file_content_key, normalize_url, url_key


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.example.org/a/b/", "example.org/a/b"),
        ("http://example.org/a/b", "example.org/a/b"),
        ("https://WWW.Example.ORG/Path/?utm_source=x&utm_medium=y", "example.org/Path"),
        ("https://example.org/a?ref=rss", "example.org/a"),
        ("https://example.org/a?feed=atom", "example.org/a"),
        ("https://example.org/a?id=3", "example.org/a?id=3"),
        ("https://example.org/a#comments", "example.org/a"),
        ("<https://homes.cs.washington.edu/~x/>", "homes.cs.washington.edu/~x"),
        ("ftp://example.org/file/", "ftp://example.org/file"),
    ],
)
def test_normalize_url_like_tfds_c4(url, key):
    assert normalize_url(url) == key


def test_url_key_is_none_without_url():
    assert url_key(Document("a", "t", "cc", {"url": "https://www.x.org/"})) == "x.org"
    assert url_key(Document("a", "t", "cc", {})) is None
    assert url_key(Document("a", "t", "cc", {"url": ""})) is None


def test_content_and_file_keys():
    a = Document("a", "line one\nline two\n", "github")
    b = Document("b", "line one\r\nline two\r\n", "github")
    assert content_key(a) != content_key(b)
    assert file_content_key(a) == file_content_key(b)
    assert content_key(a) == hashlib.sha1(b"line one\nline two\n").hexdigest()
