"""arXiv (LLaMA 2.5%): LaTeX source tarballs, flattened, macros expanded, preamble and bibliography cut."""

from filters.sources import SourceKind
from filters.sources.arxiv.config import ArxivConfig

KIND = SourceKind("arxiv", settings=ArxivConfig, folder_suffixes=(".tar.gz", ".tgz", ".tar", ".gz"))
