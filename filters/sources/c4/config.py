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
    # Corpus-wide dedup after cleaning: "lines" (TFDS remove_duplicate_text: one page keeps each
    # line), "spans" (the T5 paper's wording: three-sentence spans), or "none".
    dedup: str = "lines"
    url_dedup: bool = True  # TFDS normalize_url + dedupe_urls, before cleaning
    # Language filter: "langdetect" (TFDS: langdetect "en" with probability >=
    # langdetect_min_probability, seeded 0) or "fasttext" (the shared LanguageFilter with
    # lang_id.threshold and lang_id.model). Either keeps these languages.
    language_detector: str = "langdetect"
    langdetect_min_probability: float = 0.99
    languages: tuple[str, ...] = ("en",)
    # A Common Crawl listing (``wet.paths.gz``) given as an input: its entries resolve against
    # base_url; every listing_stride-th entry, then the first listing_limit (None: all).
    base_url: str = "https://data.commoncrawl.org/"
    listing_limit: int | None = None
    listing_stride: int = 1

    def __post_init__(self) -> None:
        check(bool(self.base_url), "c4.base_url must not be empty")
        check(self.listing_limit is None or self.listing_limit >= 1, "c4.listing_limit must be >= 1")
        check(self.listing_stride >= 1, "c4.listing_stride must be >= 1")
        check(self.min_words_per_line >= 0, "c4.min_words_per_line must be >= 0")
        check(self.min_sentences >= 0, "c4.min_sentences must be >= 0")
        check(self.max_word_length >= 1, "c4.max_word_length must be >= 1")
        check(self.max_page_chars >= 1, "c4.max_page_chars must be >= 1")
        check(len(self.languages) > 0, "c4.languages must not be empty")
        check(self.dedup in ("lines", "spans", "none"), "c4.dedup must be 'lines', 'spans' or 'none'")
        check(self.language_detector in ("langdetect", "fasttext"),
              "c4.language_detector must be 'langdetect' or 'fasttext'")
        check(0.0 <= self.langdetect_min_probability <= 1.0, "c4.langdetect_min_probability must be in [0, 1]")
