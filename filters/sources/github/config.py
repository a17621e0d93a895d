"""Settings of the github source: the top-level ``github:`` key of a config file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GithubConfig:
    licenses: tuple[str, ...] = ("mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause", "bsd-4-clause", "0bsd", "bsd")
    max_file_bytes: int = 10_000_000  # a larger file is dropped (too_large) without reading it whole
    max_line_length: int = 1000
    max_mean_line_length: float = 100.0
    min_alnum_fraction: float = 0.25
    min_alpha_per_token: float = 1.5
