"""GitHub (LLaMA 4.5%): permissively licensed source files, RedPajama's heuristics, no boilerplate."""

from filters.sources import SourceKind
from filters.sources.github.config import GithubConfig

KIND = SourceKind("github", settings=GithubConfig)
