"""Settings of the wikipedia source: the top-level ``wikipedia:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

# LLaMA-1 section 2: "Wikipedia dumps from the June-August 2022 period, covering 20 languages,
# which use either the Latin or Cyrillic scripts".
LLAMA_WIKIPEDIA_LANGUAGES = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)

# The largest <page> element read. MediaWiki caps an article's wikitext at 2 MiB
# ($wgMaxArticleSize); XML escaping and the page's metadata make it larger, so the
# default leaves 8x room while keeping one hostile page from filling memory.
MAX_PAGE_BYTES = 16 << 20
# Compressed bytes per unit of work when a multistream dump is split by its index: enwiki's
# 22 GB multistream file becomes about 330 units (each about 4 minutes on one core).
MULTISTREAM_SPLIT_BYTES = 64 << 20


@dataclass(frozen=True)
class WikipediaConfig:
    languages: tuple[str, ...] = LLAMA_WIKIPEDIA_LANGUAGES
    min_chars: int = 1
    max_page_bytes: int = MAX_PAGE_BYTES
    multistream_split_bytes: int = MULTISTREAM_SPLIT_BYTES

    def __post_init__(self) -> None:
        # max_page_bytes is checked with every max_* limit (mixtures.config.validate_limits).
        if self.multistream_split_bytes <= 0:
            raise ValueError(f"wikipedia.multistream_split_bytes must be > 0, got {self.multistream_split_bytes}")
