"""CommonCrawl (LLaMA 67%): WARC/WET reading and HTML main-text extraction.

The C4 kind reads the same crawl through the same code (``filters.sources.c4`` imports it).
CC's filters (line dedup, LID, perplexity, quality) are shared and live in ``filters/``.
"""

from filters.sources import SourceKind
from filters.sources.cc.config import CcConfig

WEB_ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc.gz")

KIND = SourceKind("cc", settings=CcConfig, folder_suffixes=WEB_ARCHIVE_SUFFIXES)
