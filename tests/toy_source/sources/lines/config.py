"""Settings of the toy ``lines`` kind: the ``lines:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass

from mixtures.config import check


@dataclass(frozen=True)
class LinesConfig:
    min_chars: int = 1  # shorter lines drop as ``short_line``

    def __post_init__(self) -> None:
        check(self.min_chars >= 0, "lines.min_chars must be >= 0")
