"""Settings of the arxiv source: the top-level ``arxiv:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check


@dataclass(frozen=True)
class ArxivConfig:
    """Source tarballs read in memory; bounds keep a hostile archive from exhausting a worker."""

    max_member_bytes: int = 20_000_000  # a larger member is skipped (noted in annotations)
    max_total_bytes: int = 100_000_000  # decompressed bytes per paper; beyond → quarantined
    max_members: int = 10_000  # archive entries per paper; beyond → quarantined
    max_macro_expansions: int = 10_000  # per paper; a self-referencing \def stops here
    max_macro_depth: int = 10  # expansion passes (macros used inside macro bodies)
    max_include_depth: int = 8  # nested \input/\include levels
    # \input fan-out: a 338-byte tarball whose files \input each other several times grows
    # exponentially with depth. Inlining stops (paper quarantined, limit named) beyond these.
    max_flattened_bytes: int = 20_000_000  # characters of the paper after every \input is inlined
    max_inputs: int = 2_000  # \input/\include commands inlined per paper
    max_bulk_members: int = 1_000_000  # entries of one bulk arXiv_src_*.tar; beyond → rest quarantined
    keep_appendix: bool = True  # False: cut at \appendix as RedPajama does

    def __post_init__(self) -> None:
        check(self.max_member_bytes > 0 and self.max_total_bytes > 0, "arxiv: byte limits must be > 0")
        check(self.max_macro_expansions >= 0 and self.max_macro_depth >= 1, "arxiv: macro limits must be >= 0/1")
        check(self.max_members > 0 and self.max_bulk_members > 0, "arxiv: member limits must be > 0")
        check(self.max_flattened_bytes > 0 and self.max_inputs >= 0, "arxiv: \\input limits must be > 0 / >= 0")
