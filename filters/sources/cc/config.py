"""Settings of the cc source: the top-level ``cc:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check

# Where the entries of a Common Crawl listing (``warc.paths.gz``, ``wet.paths.gz``) live.
COMMON_CRAWL_BASE_URL = "https://data.commoncrawl.org/"


@dataclass(frozen=True)
class CcConfig:
    """Common Crawl inputs: how a ``*.paths.gz`` listing given as an input becomes files.

    Each entry (``crawl-data/CC-MAIN-…/….warc.gz``) resolves against ``base_url`` (a URL, a
    ``gs://`` mirror or a local folder; ``pasture rebuild --base-url`` overrides it). A
    deterministic subset: every ``listing_stride``-th entry, then the first
    ``listing_limit`` of those (None: all).
    """

    base_url: str = COMMON_CRAWL_BASE_URL
    listing_limit: int | None = None
    listing_stride: int = 1

    def __post_init__(self) -> None:
        check(bool(self.base_url), "cc.base_url must not be empty")
        check(self.listing_limit is None or self.listing_limit >= 1, "cc.listing_limit must be >= 1")
        check(self.listing_stride >= 1, "cc.listing_stride must be >= 1")
