"""C4 (LLaMA 15%): CommonCrawl read by the CC code, then TFDS's ``c4_utils`` rules."""

from filters.sources import SourceKind
from filters.sources.c4.config import C4Config
from filters.sources.c4.released import RELEASED_SUFFIXES
from filters.sources.cc import WEB_ARCHIVE_SUFFIXES

# WARC/WET to rebuild C4, or the released c4-*.json.gz files (read as they are).
KIND = SourceKind("c4", settings=C4Config, folder_suffixes=WEB_ARCHIVE_SUFFIXES + RELEASED_SUFFIXES)
