"""Wikipedia (LLaMA 4.5%): ``pages-articles`` dumps of 20 languages, wikitext to plain text."""

from filters.sources import SourceKind
from filters.sources.wikipedia.config import WikipediaConfig

KIND = SourceKind("wikipedia", settings=WikipediaConfig, folder_suffixes=(".xml", ".xml.bz2"))
