"""C4 (LLaMA 15%): CommonCrawl read by the CC code, then TFDS's ``c4_utils`` rules."""

from filters.sources import SourceKind
from filters.sources.c4.config import C4Config
from filters.sources.cc import WEB_ARCHIVE_SUFFIXES

KIND = SourceKind("c4", settings=C4Config, folder_suffixes=WEB_ARCHIVE_SUFFIXES)
