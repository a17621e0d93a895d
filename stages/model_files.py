"""Model files on any Beam filesystem (``gs://``, ``s3://``, local), made local on the worker.

fastText, KenLM and SentencePiece open models by local path only, and ``filters/`` may not
import Beam. So a step whose config names a remote model is wrapped in ``LocalModels``:
on the worker, ``load()`` copies the remote file or folder once into a local cache
(through Beam's ``FileSystems``, so every filesystem Beam knows works), rebuilds the step
from a config that points at the local copy, and loads it. Local paths pass through
untouched, so the wrapper costs nothing on a laptop.

Usage in a recipe::

    streams.then(LocalModels(PerplexityFilter, cfg.perplexity, "model_dir"))
    streams.then(LocalModels(QualityFilter, cfg.quality, "model"))
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

CACHE_ENV = "PASTURE_MODEL_CACHE"
_CHUNK = 8 << 20
_process_lock = threading.Lock()  # DoFn instances of one process share the cache


def is_remote(uri: str) -> bool:
    """True for ``scheme://`` paths other than ``file://``."""
    return "://" in uri and not uri.startswith("file://")


def default_cache_dir() -> Path:
    """``$PASTURE_MODEL_CACHE``, else ``<tmp>/pasture-models`` (worker-local disk)."""
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "pasture-models")


def _remote_files(uri: str) -> list[tuple[str, str]]:
    """``(remote path, relative name)`` of the file ``uri``, or of the files directly in folder ``uri``."""
    stripped = uri.rstrip("/")
    # Folders first: object stores have no folder objects, but a local-backed filesystem
    # matches the folder itself too.
    children = sorted(m.path for m in _match(stripped + "/*"))
    inside = [(path, path[len(stripped) + 1:]) for path in children if path.startswith(stripped + "/")]
    if inside:
        return inside
    exact = [m.path for m in _match(stripped)]
    return [(stripped, "")] if exact == [stripped] else []


def _match(pattern: str) -> list[Any]:
    from apache_beam.io.filesystem import BeamIOError

    try:
        return list(FileSystems.match([pattern])[0].metadata_list)
    except BeamIOError:
        return []


def _copy(remote: str, local: Path) -> None:
    from apache_beam.io.filesystem import CompressionTypes

    local.parent.mkdir(parents=True, exist_ok=True)
    # Model files are opened as stored: no decompression by file extension.
    with FileSystems.open(remote, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def localize(uri: str, cache_dir: str | Path | None = None) -> str:
    """A local path holding the model file or folder ``uri``.

    Remote files are copied once per machine into ``cache_dir`` (a folder named after a hash
    of the URI) and reused afterwards; concurrent callers in other processes wait on a file
    lock, so a model is downloaded once even with one SDK process per core.

    Args:
        uri: A local path (returned as is) or any Beam filesystem URI of a file or a folder.
        cache_dir: Where copies go (default ``default_cache_dir()``).

    Raises:
        FileNotFoundError: ``uri`` matches neither a file nor a non-empty folder.
    """
    if not is_remote(uri):
        return uri[len("file://"):] if uri.startswith("file://") else uri
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    slot = root / hashlib.sha1(uri.encode("utf-8")).hexdigest()[:16]
    target = slot / (uri.rstrip("/").rsplit("/", 1)[-1] or "model")
    if target.exists():
        return str(target)
    slot.mkdir(parents=True, exist_ok=True)
    with _process_lock, open(slot / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another process finished while we waited
            return str(target)
        files = _remote_files(uri)
        if not files:
            raise FileNotFoundError(f"model {uri}: no such file or non-empty folder")
        tmp = slot / f".{target.name}.tmp-{os.getpid()}"
        if tmp.is_dir():  # left by a killed process that had the same pid
            shutil.rmtree(tmp)
        if files == [(uri.rstrip("/"), "")]:
            _copy(files[0][0], tmp)
        else:
            for remote, name in files:
                _copy(remote, tmp / name)
        os.replace(tmp, target)  # the finished copy appears at once, never half-written
    return str(target)


class LocalModels:
    """A filter or cleaner whose model paths are localized on the worker before ``load()``.

    Args:
        factory: The step class (or any callable ``cfg -> step``); it must only store the
            config in ``__init__`` (house style), so building it twice is cheap.
        cfg: The step's frozen dataclass sub-config.
        fields: Config fields holding model paths or folders (empty strings are left alone).
        cache_dir: Local cache for the copies (default ``default_cache_dir()``).
    """

    def __init__(self, factory: Callable[[Any], Any], cfg: Any, *fields: str,
                 cache_dir: str | None = None) -> None:
        missing = [f for f in fields if not hasattr(cfg, f)]
        if missing:
            raise ValueError(f"{type(cfg).__name__} has no field(s) {missing}")
        self._factory = factory
        self._cfg = cfg
        self._fields = fields
        self._cache_dir = cache_dir
        self._step = factory(cfg)
        self.name = self._step.name
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        local = {f: localize(getattr(self._cfg, f), self._cache_dir) for f in self._fields
                 if getattr(self._cfg, f)}
        if any(local[f] != getattr(self._cfg, f) for f in local):
            self._step = self._factory(dataclasses.replace(self._cfg, **local))
        self._step.load()
        self._loaded = True

    def __call__(self, doc: Any) -> Any:
        return self._step(doc)

    # The wrapped step's declarations (Step contract), so the wrapper runs exactly like it.
    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(getattr(self._step, "reasons", ()))

    @property
    def data_errors(self) -> tuple[type[BaseException], ...]:
        return tuple(getattr(self._step, "data_errors", ()))

    @property
    def versioned_name(self) -> str:
        return getattr(self._step, "versioned_name", self.name)

    @property
    def cost_stage(self) -> str | None:
        return getattr(self._step, "cost_stage", None)
