"""A toy kind: plain text files, one document per line."""

from filters.sources import SourceKind
from filters.sources.lines.config import LinesConfig

KIND = SourceKind("lines", settings=LinesConfig, folder_suffixes=(".txt",))
