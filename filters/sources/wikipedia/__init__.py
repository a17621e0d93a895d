"""Wikipedia (LLaMA 4.5%): ``pages-articles`` dumps of 20 languages, wikitext to plain text."""

from filters.sources import SourceKind
from filters.sources.wikipedia.config import WikipediaConfig

# In a folder: dumps as Wikimedia and mirrors name them, whole (``.xml``, ``.xml.bz2``…) or
# split (``…-pages-articles1.xml-p1p41242.bz2``), and multistream indexes (``…-index.txt.bz2``),
# which the recipe uses to split their dump and never reads as one.
KIND = SourceKind("wikipedia", settings=WikipediaConfig, folder_suffixes=(".xml", ".bz2", ".gz", ".xz"))
