"""Resolve input specs (a file, a folder or a glob, on any Beam filesystem) to file paths.

Resolution happens before the pipeline is built, so a missing input fails with a clear
message naming it before any work starts.
"""

from __future__ import annotations

import glob
import os

from mixtures.config import ConfigError


def _is_remote(spec: str) -> bool:
    return "://" in spec


def resolve_inputs(specs: list[str] | tuple[str, ...], source: str,
                   folder_suffixes: tuple[str, ...] | None = None) -> list[str]:
    """Every file the specs name, sorted and de-duplicated; raises ConfigError if none.

    Inside a folder only files ending in one of ``folder_suffixes`` are taken (a folder of
    WARC files often holds a manifest or README too); files named explicitly or by a glob
    are always taken.
    """
    paths: set[str] = set()
    for spec in specs:
        if _is_remote(spec):
            from apache_beam.io.filesystems import FileSystems

            pattern = spec.rstrip("/") + "/*" if spec.endswith("/") else spec
            matched = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
        elif os.path.isdir(spec):
            matched = [
                os.path.join(root, name)
                for root, _, names in os.walk(spec)
                for name in names
                if not name.startswith(".") and not name.endswith((".md", ".MD")) and name != "LICENSE"
                and (folder_suffixes is None or name.lower().endswith(folder_suffixes))
            ]
        elif glob.has_magic(spec):
            matched = [p for p in glob.glob(spec, recursive=True) if os.path.isfile(p)]
        elif os.path.isfile(spec):
            matched = [spec]
        else:
            raise ConfigError(f"{source}: input not found: {spec}")
        if not matched:
            raise ConfigError(f"{source}: input matched no files: {spec}")
        paths.update(os.path.abspath(p) if not _is_remote(p) else p for p in matched)
    if not paths:
        raise ConfigError(f"{source}: no inputs given")
    return sorted(paths)
