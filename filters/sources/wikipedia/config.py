"""Settings of the wikipedia source: the top-level ``wikipedia:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

# LLaMA-1 section 2: "Wikipedia dumps from the June-August 2022 period, covering 20 languages,
# which use either the Latin or Cyrillic scripts".
LLAMA_WIKIPEDIA_LANGUAGES = (
    "bg", "ca", "cs", "da", "de", "en", "es", "fr", "hr", "hu",
    "it", "nl", "pl", "pt", "ro", "ru", "sl", "sr", "sv", "uk",
)

@dataclass(frozen=True)
class WikipediaConfig:
    languages: tuple[str, ...] = LLAMA_WIKIPEDIA_LANGUAGES
    min_chars: int = 1
