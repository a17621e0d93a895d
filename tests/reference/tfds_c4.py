"""A TEST REFERENCE: C4 as TensorFlow Datasets builds it, written from TFDS's published code.

Written step by step from ``tensorflow_datasets/text/c4.py`` (``_get_page_content``, the
``en`` config) and ``c4_utils.py`` (the 2021 code: ``is_valid_length``, ``normalize_url``,
``dedupe_urls``, ``clean_page``, ``remove_duplicate_text``, ``detect_english``,
``get_badwords_filter_fn``), in plain Python over a list of pages, with TFDS's names, so
that a reader can hold it against TFDS line by line. The pipeline's own implementation
(``filters/sources/c4``, ``stages/c4_dedup.py``) is separate code; tests compare the two
page by page.

Two stand-ins, both stated: nltk's punkt (which needs a model download) is replaced by the
project's sentence splitter, and ``dedupe_urls``'s tie between pages with identical text
(TFDS keeps whichever Beam hands it first) is broken by the smaller page id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

MIN_WORDS_PER_LINE = 5
MIN_NUM_SENTENCES = 3
MAX_WORD_LENGTH = 1000
END_MARKS = (".", "?", "!", '"')
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies"]
CITATION_REGEX = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")


def hash_text(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def is_valid_length(text: str, max_length: float = 1.9e5) -> bool:
    return not len(text) > max_length


def normalize_url(url: str) -> str:
    url = re.sub(r"https?:\/\/(www\.)?", "", url)
    url = re.sub(r"\?(utm_|ref|feed).*", "", url)
    return url.rstrip("/")


def dedupe_urls(pages: list[dict]) -> dict:
    """The page kept for one normalised URL: the largest md5(text) (ties: smaller id)."""
    page, page_hash = None, None
    for p in sorted(pages, key=lambda p: p["id"]):
        p_hash = hash_text(p["text"])
        if not page_hash or p_hash > page_hash:
            page, page_hash = p, p_hash
    return page


def clean_page(text: str, get_sentences: Callable[[str], list[str]]) -> str | None:
    lines = text.splitlines()
    valid_lines = []
    num_sentences = 0
    for line in lines:
        line = line.strip()
        if any(len(word) > MAX_WORD_LENGTH for word in line.split()):
            continue
        line = CITATION_REGEX.sub("", line)
        if not line.endswith(END_MARKS) or line.endswith(ELLIPSIS):
            continue
        if len(line.split()) < MIN_WORDS_PER_LINE:
            continue
        line_lower = line.lower()
        if "lorem ipsum" in line_lower:
            return None
        if "javascript" in line_lower:
            continue
        if "{" in line:
            return None
        if any(p in line_lower for p in POLICY_SUBSTRINGS):
            continue
        num_sentences += len(get_sentences(line))
        valid_lines.append(line)
    if num_sentences < MIN_NUM_SENTENCES:
        return None
    return "\n".join(valid_lines).strip()


def remove_duplicate_text(pages: dict[str, str], get_sentences: Callable[[str], list[str]]) -> dict[str, str]:
    """``{url: text}`` → ``{url: text}`` after line dedup (``_emit_url_to_lines``, ``Top.PerKey(1,
    key=_hash_text, reverse=True)``, ``_remove_lines_from_text``)."""
    selected: dict[str, str] = {}
    for url, text in pages.items():
        for line in text.split("\n"):
            key = hash_text(line.strip().lower())
            if key not in selected or hash_text(url) < hash_text(selected[key]):
                selected[key] = url
    lines_to_keep: dict[str, set[str]] = {}
    for key, url in selected.items():
        lines_to_keep.setdefault(url, set()).add(key)
    out = {}
    for url, text in pages.items():
        keep = lines_to_keep.get(url, set())
        new_lines, hashed_lines = [], set()
        for line in text.split("\n"):
            hashed_line = hash_text(line.strip().lower())
            if hashed_line not in keep or hashed_line in hashed_lines:
                continue
            new_lines.append(line)
            hashed_lines.add(hashed_line)
        new_text = "\n".join(new_lines)
        if not new_text:
            continue
        if len(get_sentences(new_text)) < MIN_NUM_SENTENCES:
            continue
        out[url] = new_text
    return out


def detect_english(text: str, min_probability: float = 0.99) -> bool:
    import langdetect

    langdetect.DetectorFactory.seed = 0
    try:
        predictions = langdetect.detect_langs(text)
    except langdetect.lang_detect_exception.LangDetectException:
        return False
    if not predictions:
        return False
    best = predictions[0]
    return best.prob >= min_probability and best.lang == "en"


def badwords_filter(text: str, badwords: Sequence[str]) -> bool:
    regex = re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(badwords)))
    return regex.search(text.lower()) is None


def build_c4(pages: Sequence[dict], badwords: Sequence[str], get_sentences: Callable[[str], list[str]]
             ) -> dict[str, str]:
    """``[{"id", "url", "text"}]`` → ``{id: text}`` of the pages C4 keeps, in TFDS's order."""
    valid = [p for p in pages if is_valid_length(p["text"])]
    by_url: dict[str, list[dict]] = {}
    for page in valid:
        by_url.setdefault(normalize_url(page["url"]), []).append(page)
    deduped = {url: dedupe_urls(group) for url, group in by_url.items()}
    cleaned = {}
    for url, page in deduped.items():
        text = clean_page(page["text"], get_sentences)
        if text is not None:
            cleaned[url] = text
    lines_deduped = remove_duplicate_text(cleaned, get_sentences)
    english = {url: text for url, text in lines_deduped.items() if detect_english(text)}
    final = {url: text for url, text in english.items() if badwords_filter(text, badwords)}
    return {deduped[url]["id"]: text for url, text in final.items()}
