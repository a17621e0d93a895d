"""Resolve input specs to the files a source reads, each with its name, before any work starts.

An input spec is a file, a folder or a glob on any Beam filesystem, an ``http(s)://`` URL,
or a Common Crawl listing (``*.paths.gz``, local or a URL) whose entries resolve against a
base URL. Resolution happens before the pipeline is built, so a missing input, an empty
listing or an output folder inside an input folder fails with a clear message naming it.

Every resolved file gets a ``name``, what readers build ids from: its path relative to the
input root the user gave (a folder, or the fixed part of a glob), its basename for a file
named on its own (local or URL), the entry itself for a listing entry
(``crawl-data/CC-MAIN-…/….warc.gz``). Names do not depend on where the data lies (a local
copy, a mirror, the public host), and two inputs with one name are refused.

Nothing under a folder is skipped silently: a file a source does not read is listed with its
reason (:class:`SkippedInput`), which stats.json records under ``skipped_inputs``.
"""

from __future__ import annotations

import functools
import glob
import gzip
import io
import os
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from filters.base import InputFile
from mixtures.config import ConfigError, HttpSettings

DEFAULT_BASE_URL = "https://data.commoncrawl.org/"
LISTING_SUFFIXES = (".paths.gz", ".paths")
DOC_FILES = ("LICENSE", "LICENSE.txt", "README", "README.txt")


@dataclass(frozen=True)
class ListingOptions:
    """How a ``*.paths.gz`` listing becomes inputs: the base its entries resolve against, and
    a deterministic subset (every ``stride``-th entry, then the first ``limit`` of those)."""

    base_url: str = DEFAULT_BASE_URL
    limit: int | None = None
    stride: int = 1


@dataclass(frozen=True)
class SkippedInput:
    """A file under a folder input that the source does not read, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass
class ResolvedInputs:
    """The files of one source (sorted by path), the folder files it skips, and how to name a path."""

    files: list[InputFile]
    skipped: list[SkippedInput] = field(default_factory=list)
    roots: tuple[str, ...] = ()  # the folders given, for naming files a recipe derives from them
    from_folders: frozenset[str] = frozenset()  # paths found by walking a folder
    _names: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.files]

    def name_for(self, path: str) -> str:
        """The name of ``path``: as resolved, else relative to the folder given that holds it, else its basename."""
        if self._names is None:
            self._names = {f.path: f.name for f in self.files}
        if path in self._names:
            return self._names[path]
        for root in self.roots:
            if _is_under(path, root):
                return printable(_relative(path, root))
        return printable(_basename(path))

    def input_files(self, items: Iterable[str | InputFile]) -> list[InputFile]:
        """What ReadSource reads for a recipe's ``Read.files``: strings named by :meth:`name_for`,
        InputFiles kept (named if they have no name)."""
        out = []
        for item in items:
            if isinstance(item, InputFile):
                out.append(item if item.name else InputFile(item.path, self.name_for(item.path), item.start, item.end))
            else:
                out.append(InputFile(item, self.name_for(item)))
        return out


def printable(path: str) -> str:
    """``path`` as valid UTF-8 text: the bytes of a non-UTF-8 file name become ``\\xNN``."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_url(spec: str) -> bool:
    return spec[:8].lower().startswith(("http://", "https://"))


def _is_remote(spec: str) -> bool:
    return "://" in spec and not spec.startswith("file://")


def is_listing(spec: str) -> bool:
    """A Common Crawl listing (``warc.paths.gz``, ``wet.paths.gz``...), by its name."""
    return spec.lower().split("?", 1)[0].endswith(LISTING_SUFFIXES)


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if _is_remote(path) else os.path.basename(path)


def _relative(path: str, root: str) -> str:
    if _is_remote(path):
        return path[len(root.rstrip("/")) + 1:]
    return os.path.relpath(path, root).replace(os.sep, "/")


def _is_under(path: str, root: str) -> bool:
    if _is_remote(path) or _is_remote(root):
        return path.startswith(root.rstrip("/") + "/")
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)


def _skip_reason(name: str, folder_suffixes: tuple[str, ...] | None, source: str) -> str | None:
    """Why a file found in a folder is not read (None: it is read)."""
    if name.startswith("."):
        return "hidden file"
    if name.endswith((".md", ".MD")) or name in DOC_FILES:
        return "documentation file"
    if folder_suffixes is not None and not name.lower().endswith(folder_suffixes):
        return f"not a {source} input file: the name ends in none of {', '.join(folder_suffixes)}"
    return None


def _walk(folder: str) -> list[str]:
    """Every file under a local folder (names as the OS gives them: a non-UTF-8 name keeps its bytes)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in names)
    return found


def _glob_root(spec: str) -> str:
    """The fixed folder in front of a glob's first wildcard."""
    parts = spec.replace(os.sep, "/").split("/")
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "."


def check_output_outside(output: str | None, folders: Sequence[str], source: str) -> None:
    """Refuse an output folder inside an input folder: the next run would read its outputs back."""
    if not output:
        return
    for folder in folders:
        if _is_remote(output) != _is_remote(folder):
            continue
        inside = (output.rstrip("/") + "/").startswith(folder.rstrip("/") + "/") if _is_remote(output) else (
            _is_under(os.path.realpath(output), os.path.realpath(folder)))
        if inside:
            raise ConfigError(f"{source}: the output folder {output} is inside the input folder {folder}: the "
                              f"next run would read its outputs back as inputs. Choose an output folder "
                              f"outside the inputs.")


def read_listing(spec: str, options: ListingOptions, http: HttpSettings | None = None) -> tuple[tuple[str, str], ...]:
    """``(path or URL, name)`` for the entries of a ``*.paths.gz`` listing, subset as ``options`` say.

    Cached: a run resolves its inputs several times (checks, manifest, graph, stats) and a
    listing over HTTP is fetched once (a local listing again when it changes on disk).
    """
    stamp = None
    if not _is_remote(spec):
        try:
            st = os.stat(spec)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError as exc:
            raise ConfigError(f"cannot read the listing {spec}: {type(exc).__name__}: {exc}") from exc
    return _read_listing(spec, stamp, options, http)


@functools.lru_cache(maxsize=16)
def _read_listing(spec: str, stamp: tuple[int, int] | None, options: ListingOptions,
                  http: HttpSettings | None) -> tuple[tuple[str, str], ...]:
    try:
        if is_url(spec):
            from stages.http_input import fetch

            data = fetch(spec, http)
        elif _is_remote(spec):
            from apache_beam.io.filesystem import CompressionTypes
            from apache_beam.io.filesystems import FileSystems

            with FileSystems.open(spec, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
                data = fh.read()
        else:
            with open(spec, "rb") as fh:
                data = fh.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        lines = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the listing {spec}: {type(exc).__name__}: {exc}") from exc
    entries = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    chosen = entries[::options.stride]
    if options.limit is not None:
        chosen = chosen[:options.limit]
    # An entry that is a full URL is named by its path, so a mirror's listing names files as the public one does.
    return tuple((join_base(options.base_url, entry), _entry_name(entry)) for entry in chosen)


def _entry_name(entry: str) -> str:
    if "://" not in entry:
        return entry.lstrip("/")
    return entry.split("://", 1)[1].split("/", 1)[-1].split("?", 1)[0]


def join_base(base: str, entry: str) -> str:
    """A listing entry under ``base`` (a URL, a Beam filesystem prefix or a local folder)."""
    if "://" in entry:
        return entry
    if "://" in base:
        return base.rstrip("/") + "/" + entry.lstrip("/")
    return os.path.abspath(os.path.join(base, entry.lstrip("/")))


def resolve(specs: Sequence[str], source: str, folder_suffixes: tuple[str, ...] | None = None,
            listing: ListingOptions | None = None, http: HttpSettings | None = None,
            output: str | None = None, unique_names: bool = True) -> ResolvedInputs:
    """Every file ``specs`` name, each with its name, plus what folders hold that is not read.

    ``listing`` (None: listings are plain files) resolves ``*.paths.gz`` specs; ``output``,
    when given, must not lie inside an input folder; ``unique_names`` refuses two inputs
    with one name (their ids would collide). Raises ConfigError for an input that
    does not exist, matches nothing, or shares its name with another input.
    """
    found: dict[str, str] = {}  # path → name
    skipped: list[SkippedInput] = []
    roots: list[str] = []
    from_folders: set[str] = set()
    for spec in specs:
        matched: list[tuple[str, str]] = []
        if listing is not None and is_listing(spec):
            matched = list(read_listing(spec if _is_remote(spec) else os.path.abspath(spec), listing, http))
            if not matched:
                raise ConfigError(f"{source}: the listing {spec} gives no files (with listing_stride="
                                  f"{listing.stride}, listing_limit={listing.limit})")
        elif is_url(spec):
            matched = [(spec, _basename(spec.split("?", 1)[0]))]
        elif _is_remote(spec):
            from apache_beam.io.filesystems import FileSystems

            folder = spec.endswith("/")
            pattern = spec.rstrip("/") + "/**" if folder else spec
            root = spec.rstrip("/") if folder else (_glob_root(spec) if glob.has_magic(spec) else None)
            if root is not None:
                roots.append(root)
            for result in FileSystems.match([pattern]):
                for meta in result.metadata_list:
                    name = _relative(meta.path, root) if root else _basename(meta.path)
                    reason = _skip_reason(_basename(meta.path), folder_suffixes, source) if folder else None
                    if reason:
                        skipped.append(SkippedInput(meta.path, reason))
                    else:
                        matched.append((meta.path, name))
                        if folder:
                            from_folders.add(meta.path)
            if folder:
                check_output_outside(output, [spec], source)
        elif os.path.isdir(spec):
            root = os.path.abspath(spec)
            roots.append(root)
            check_output_outside(output, [root], source)
            for path in _walk(root):
                reason = _skip_reason(os.path.basename(path), folder_suffixes, source)
                if reason:
                    skipped.append(SkippedInput(printable(path), reason))
                else:
                    matched.append((path, printable(_relative(path, root))))
                    from_folders.add(path)
            if not matched:
                raise ConfigError(f"{source}: the folder {spec} holds no file this source reads"
                                  + (f" (names ending in {', '.join(folder_suffixes)})" if folder_suffixes else "")
                                  + (f"; skipped: {len(skipped)}" if skipped else ""))
        elif glob.has_magic(spec):
            root = os.path.abspath(_glob_root(spec))
            roots.append(root)
            if "**" in spec:  # a recursive glob reaches into every folder below its root
                check_output_outside(output, [root], source)
            matched = [(os.path.abspath(p), printable(_relative(os.path.abspath(p), root)))
                       for p in sorted(glob.glob(spec, recursive=True)) if os.path.isfile(p)]
        elif os.path.isfile(spec):
            matched = [(os.path.abspath(spec), printable(os.path.basename(spec)))]
        else:
            raise ConfigError(f"{source}: input not found: {spec}")
        if not matched:
            raise ConfigError(f"{source}: input matched no files: {spec}")
        for path, name in matched:
            found.setdefault(path, name)
    if not found:
        raise ConfigError(f"{source}: no inputs given")
    if unique_names:
        _refuse_shared_names(found, source)
    skipped = sorted({s.path: s for s in skipped if s.path not in found}.values(), key=lambda s: s.path)
    files = [InputFile(path, name) for path, name in sorted(found.items())]
    return ResolvedInputs(files, skipped, tuple(roots), frozenset(from_folders))


def _refuse_shared_names(found: dict[str, str], source: str) -> None:
    by_name: dict[str, str] = {}
    for path, name in sorted(found.items()):
        if name in by_name:
            raise ConfigError(f"{source}: two inputs have the name {name!r} ({printable(by_name[name])} and "
                              f"{printable(path)}), so their document ids would collide. Give the folder that "
                              f"holds both, so that each is named by its path inside it.")
        by_name[name] = path


def resolve_inputs(specs: list[str] | tuple[str, ...], source: str,
                   folder_suffixes: tuple[str, ...] | None = None) -> list[str]:
    """Every file the specs name, sorted and de-duplicated; raises ConfigError if none.

    Inside a folder only files ending in one of ``folder_suffixes`` are taken (a folder of
    WARC files often holds a manifest or README too); files named explicitly or by a glob
    are always taken. See :func:`resolve` for names and skipped files.
    """
    return resolve(specs, source, folder_suffixes, unique_names=False).paths


def listing_options(settings: Any, base_url: str | None = None) -> ListingOptions | None:
    """The listing options of a kind's settings (those with ``base_url``), else None (no listings)."""
    if settings is None or not hasattr(settings, "base_url"):
        return None
    return ListingOptions(base_url=base_url or settings.base_url,
                          limit=getattr(settings, "listing_limit", None),
                          stride=getattr(settings, "listing_stride", 1))


def resolve_source(cfg: Any, name: str) -> ResolvedInputs:
    """The inputs of source ``name`` under ``cfg`` (listings per its kind's settings, ``cfg.http``)."""
    from pipeline.recipes import folder_suffixes

    spec = cfg.source(name)
    return resolve(spec.inputs, name, folder_suffixes(spec.kind), listing=listing_options(cfg.settings(spec.kind)),
                   http=cfg.http, output=cfg.output)


def skipped_inputs(cfg: Any, name: str, resolved: ResolvedInputs | None = None) -> list[dict[str, str]]:
    """What stats.json lists under ``skipped_inputs``: folder files not read, with their reasons.

    Besides the files a folder holds that the kind does not take, a file the recipe leaves
    out (StackExchange reads only ``Posts.xml``) is listed, unless the recipe derives its
    own files from the inputs (GitHub expands license maps), where none is left out.
    """
    from pipeline.recipes import recipe_steps

    resolved = resolved or resolve_source(cfg, name)
    skipped = list(resolved.skipped)
    spec = cfg.source(name)
    read = recipe_steps(cfg, spec, resolved.paths)[0]
    read_paths = {f.path if isinstance(f, InputFile) else f for f in read.files}
    if read_paths <= set(resolved.paths):
        skipped += [SkippedInput(printable(path), f"not read as documents by the {spec.kind} recipe")
                    for path in sorted(resolved.from_folders - read_paths)]
    return [s.to_dict() for s in sorted(skipped, key=lambda s: s.path)]
