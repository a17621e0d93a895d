"""Settings of the c4 source: the top-level ``c4:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check


@dataclass(frozen=True)
class C4Config:
    """TFDS c4_utils rules; defaults follow the TFDS code that generated C4."""

    min_words_per_line: int = 5  # TFDS code; the T5 paper text says 3
    min_sentences: int = 3
    max_word_length: int = 1000
    max_page_chars: int = 190_000  # TFDS is_valid_length: 1.9e5
    badwords: bool = True
    span_dedup: bool = True  # C4's three-sentence span dedup across the corpus
    # C4 is English: TFDS keeps langdetect "en" >= 0.99; we use the shared fastText
    # LanguageFilter (lang_id.threshold, lang_id.model) with these languages.
    languages: tuple[str, ...] = ("en",)

    def __post_init__(self) -> None:
        check(self.min_words_per_line >= 0, "c4.min_words_per_line must be >= 0")
        check(self.min_sentences >= 0, "c4.min_sentences must be >= 0")
        check(self.max_word_length >= 1, "c4.max_word_length must be >= 1")
        check(self.max_page_chars >= 1, "c4.max_page_chars must be >= 1")
        check(len(self.languages) > 0, "c4.languages must not be empty")
