"""StackExchange (LLaMA 2%): ``Posts.xml`` of the largest sites, one document per question."""

from filters.sources import SourceKind
from filters.sources.stackexchange.config import StackExchangeConfig

KIND = SourceKind("stackexchange", settings=StackExchangeConfig)
