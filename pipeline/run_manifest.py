"""What a source's outputs were made from, and whether ``--resume`` may keep them.

Before a source runs, ``RUN_DIR/<source>/_manifest.json`` records its fingerprint: every input
file (path, size, modification time), every model file its steps load, the source's resolved
config (the shared sections, its own spec and its kind's settings; not the output folder or
the verbs that run after curation), the shard layout and the code version (package version
and git revision). The manifest is written before any shard, so every shard in the folder was
written under it; ``stats.json`` repeats the fingerprint when the source finishes.

The runner asks :func:`decide` per source:

* ``reuse``: ``stats.json`` and the manifest carry the current fingerprint and the shards are
  the ones stats lists: the source is skipped.
* ``continue``: a killed run with the current fingerprint: its finished shards are kept (same
  inputs + config + code give the same bytes), everything else is removed.
* ``fresh``: anything else (no ``--resume``, another config, other inputs or code, another
  ``num_shards``): every output the runner writes is removed before the run, so no shard of
  another layout or config is left beside the new ones.

Downstream verbs call :func:`require_complete_run`, which refuses a run folder whose source
has shards but no ``stats.json`` or whose shards are not the ones its stats describe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from filters.document import shard_name
from mixtures.config import MAX_NUM_SHARDS, ConfigError, PipelineConfig, resolved
from mixtures.provenance import git_revision, json_text, package_versions
from pipeline.inputs import printable

log = logging.getLogger("pasture")

MANIFEST = "_manifest.json"
STATS = "stats.json"
# Every file the runner writes into RUN_DIR/<source>/ (besides the shard folders).
RUN_FILES = (STATS, "_counts.json", "timing.json", MANIFEST)
SHARD_FOLDERS = ("docs", "dropped", "quarantine")
# Made from docs/ by later verbs: stale once docs/ is rebuilt.
DERIVED_FOLDERS = ("tokens",)
# Config sections that do not shape a source's curated outputs (read by later verbs).
NOT_CURATION = ("output", "mixture", "sources", "tokenizer", "models", "export", "train", "progress")


class IncompleteRunError(ConfigError):
    """A run folder a verb was pointed at is incomplete or does not match its stats.json."""


def _join(base: str, *parts: str) -> str:
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


def _match(pattern: str) -> list[Any]:
    try:
        return [m for r in FileSystems.match([pattern]) for m in r.metadata_list]
    except (BeamIOError, ValueError):  # ValueError: a scheme whose filesystem is not installed
        return []


def _read_json(path: str) -> Any:
    try:
        with FileSystems.open(path) as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (OSError, BeamIOError, ValueError):  # missing, unreadable or not JSON
        return None


def code_version() -> dict[str, str]:
    """The package version and the git revision this code runs from (``unknown`` outside a checkout)."""
    return {"pasture": package_versions().get("pasture", "unknown"), "git_revision": git_revision()}


def file_fingerprints(paths: list[str]) -> list[dict[str, Any]]:
    """``{path, size, mtime}`` of every file in ``paths`` (a local folder: every file inside it).

    Remote objects carry the store's size and update time, which change when an object is rewritten.
    """
    entries = []
    for path in sorted(set(paths)):
        if not path:
            continue
        if "://" not in path and os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                for name in sorted(names):
                    entries.append(_local_entry(os.path.join(root, name)))
        elif "://" not in path:
            entries.append(_local_entry(path) if os.path.exists(path) else {"path": path, "missing": True})
        else:
            found = _match(path) or _match(path.rstrip("/") + "/*")
            entries += [{"path": m.path, "size": m.size_in_bytes, "mtime": m.last_updated_in_seconds} for m in found]
    return sorted(entries, key=lambda e: e["path"])


def _local_entry(path: str) -> dict[str, Any]:
    st = os.stat(path)
    # printable: a non-UTF-8 file name is recorded with its bytes escaped (JSON needs valid text).
    return {"path": printable(os.path.abspath(path)), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def source_config(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    """The parts of the resolved config that shape ``name``'s outputs."""
    spec = cfg.source(name)
    data = resolved(cfg)
    own = {key: value for key, value in data.items() if key not in NOT_CURATION}
    # Other kinds' settings do not touch this source.
    for kind in cfg.kind_settings:
        if kind != spec.kind:
            own.pop(kind, None)
    own["source"] = {"name": spec.name, "kind": spec.kind, "inputs": list(spec.inputs)}
    return own


def model_paths(steps: list[Any]) -> list[str]:
    """Model files and folders the recipe's steps load (``stages.model_files.LocalModels``)."""
    paths = []
    for step in steps:
        step_cfg = getattr(step, "_cfg", None)
        for field_name in getattr(step, "_fields", ()) if step_cfg is not None else ():
            value = getattr(step_cfg, field_name, "")
            if value:
                paths.append(str(value))
    return paths


def shard_count(cfg: PipelineConfig, input_bytes: int) -> int:
    """``shards.num_shards`` when set, else one shard per ``shards.input_bytes_per_shard`` of input
    (at least 1, at most ``MAX_NUM_SHARDS``)."""
    if cfg.shards.num_shards is not None:
        return cfg.shards.num_shards
    per_shard = cfg.shards.input_bytes_per_shard
    return max(1, min(MAX_NUM_SHARDS, -(-input_bytes // per_shard)))


def describe_source(cfg: PipelineConfig, name: str, inputs: list[str], steps: list[Any]) -> dict[str, Any]:
    """The manifest of one source, before the group fingerprint is added.

    ``layout.num_shards`` is the shard count the run uses (derived from the input size unless set).
    """
    read_files = [getattr(f, "path", f) for f in getattr(steps[0], "files", ())] if steps else []
    files = file_fingerprints([str(p) for p in [*inputs, *read_files]])
    input_bytes = sum(entry.get("size") or 0 for entry in files)
    return {
        "source": name,
        "inputs": files,
        "models": file_fingerprints(model_paths(steps)),
        "config": source_config(cfg, name),
        "layout": {"num_shards": shard_count(cfg, input_bytes), "write_dropped": cfg.shards.write_dropped,
                   "formats": list(cfg.shards.formats)},
        "code": code_version(),
    }


def fingerprint_of(parts: list[dict[str, Any]]) -> str:
    """sha256 over the manifests of a pipeline's sources (a joint step makes each depend on all)."""
    return hashlib.sha256(json_text(sorted(parts, key=lambda p: p["source"])).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Decision:
    source: str
    action: str  # "reuse", "continue" or "fresh"
    why: str


def _changed(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    if not old:
        return "no manifest of an earlier run"
    what = [key for key in ("inputs", "models", "config", "layout", "code") if old.get(key) != new.get(key)]
    if not what and old.get("group") != new.get("group"):
        what = ["sources run together"]
    return "changed since the earlier run: " + ", ".join(what or ["fingerprint"])


def shard_files(directory: str) -> list[str]:
    """Every ``part-*`` file under ``directory``/{docs,dropped,quarantine}, as ``sub/name``, temporaries included."""
    found = []
    for sub in SHARD_FOLDERS:
        for m in _match(_join(directory, sub, "part-*")):
            found.append(f"{sub}/{m.path.rsplit('/', 1)[-1]}")
    return sorted(found)


def expected_shards(layout: dict[str, Any]) -> set[str]:
    """The final shard names of a layout (quarantine always has one shard)."""
    n = layout["num_shards"]
    names = {f"docs/{shard_name(i, n, '.jsonl.gz')}" for i in range(n)}
    if "parquet" in layout.get("formats", ()):
        names |= {f"docs/{shard_name(i, n, '.parquet')}" for i in range(n)}
    if layout["write_dropped"]:
        names |= {f"dropped/{shard_name(i, n, '.jsonl.gz')}" for i in range(n)}
    return names | {f"quarantine/{shard_name(0, 1, '.jsonl.gz')}"}


def decide(directory: str, manifest: dict[str, Any], resume: bool) -> Decision:
    """What to do with the outputs already in ``directory`` (see the module docstring)."""
    name = manifest["source"]
    if not resume:
        return Decision(name, "fresh", "not resuming")
    old = _read_json(_join(directory, MANIFEST))
    if not old or old.get("fingerprint") != manifest["fingerprint"]:
        return Decision(name, "fresh", _changed(old, manifest))
    stats = _read_json(_join(directory, STATS))
    if stats and stats.get("fingerprint") == manifest["fingerprint"]:
        listed = set(stats.get("outputs") or {})
        present = {f for f in shard_files(directory) if ".tmp-" not in f}
        if listed == present:
            return Decision(name, "reuse", "inputs, config and code unchanged")
        return Decision(name, "fresh", "stats.json does not list the shards on disk")
    return Decision(name, "continue", "a killed run with the same inputs, config and code")


def _delete(paths: list[str]) -> None:
    if paths:
        FileSystems.delete(paths)


def prepare(directory: str, manifest: dict[str, Any], decision: Decision) -> tuple[list[str], int]:
    """Remove what ``decision`` does not keep and write the manifest; returns (kept shards, files removed)."""
    if "://" not in directory:
        os.makedirs(directory, exist_ok=True)
    present = shard_files(directory)
    keep = set()
    if decision.action == "continue":
        keep = {f for f in present if ".tmp-" not in f} & expected_shards(manifest["layout"])
    doomed = [_join(directory, f) for f in present if f not in keep]
    doomed += [_join(directory, f) for f in RUN_FILES if _match(_join(directory, f))]
    for sub in DERIVED_FOLDERS:
        doomed += [m.path for m in _match(_join(directory, sub, "*"))]
    _delete(doomed)
    from stages.sinks import write_atomically  # the sinks' atomic write, on any filesystem

    write_atomically(_join(directory, MANIFEST), json_text(manifest).encode("utf-8"))
    return sorted(keep), len(doomed)


def announce(decision: Decision, kept: list[str] = (), removed: int = 0) -> str:
    """One line saying what resume reuses, keeps or rebuilds, and why."""
    if decision.action == "reuse":
        return f"{decision.source}: reusing finished outputs (--resume): {decision.why}"
    if decision.action == "continue":
        return (f"{decision.source}: continuing a killed run (--resume): keeping {len(kept)} finished shard(s) "
                f"written under the same fingerprint; the rest is rebuilt")
    if decision.why == "not resuming":
        removed_note = f"; {removed} earlier output file(s) removed" if removed else ""
        return f"{decision.source}: running from scratch{removed_note}"
    return f"{decision.source}: not reusing earlier outputs ({decision.why}); {removed} file(s) removed, rebuilding"


def require_complete_run(run_dir: str, sources: list[str] | None = None) -> None:
    """Refuse a run folder with an incomplete or mismatched source, in one line.

    A source folder (one with ``docs/`` or a run manifest) must have ``stats.json``; when the
    runner wrote a manifest, stats must carry its fingerprint; when stats lists its outputs,
    ``docs/`` must hold exactly the listed document shards. ``sources`` limits the check.
    """
    if "://" not in run_dir and not os.path.isdir(run_dir):
        return  # the verb reports a missing folder itself
    names = sorted(os.listdir(run_dir)) if "://" not in run_dir else sorted(
        {m.path[len(run_dir.rstrip("/")) + 1:].split("/", 1)[0] for m in _match(_join(run_dir, "*", STATS))}
        | {m.path[len(run_dir.rstrip("/")) + 1:].split("/", 1)[0] for m in _match(_join(run_dir, "*", MANIFEST))})
    for name in names:
        if sources is not None and name not in sources:
            continue
        directory = _join(run_dir, name)
        docs = [f for f in shard_files(directory) if f.startswith("docs/") and ".tmp-" not in f]
        manifest = _read_json(_join(directory, MANIFEST))
        if not docs and manifest is None:
            continue
        stats = _read_json(_join(directory, STATS))
        if stats is None:
            raise IncompleteRunError(
                f"{directory}: incomplete run ({len(docs)} document shard(s), no stats.json): "
                "finish it with `pasture run --resume` first")
        if manifest is not None and stats.get("fingerprint") != manifest.get("fingerprint"):
            raise IncompleteRunError(
                f"{directory}: stats.json does not match the run manifest (another config or inputs): "
                "rerun `pasture run --resume` first")
        listed = sorted(k for k in (stats.get("outputs") or {}) if k.startswith("docs/"))
        if stats.get("outputs") is not None and listed != docs:
            raise IncompleteRunError(
                f"{directory}: docs/ holds {len(docs)} shard(s) but stats.json lists {len(listed)}: "
                "rerun `pasture run --resume` first")


def require_complete_inputs(inputs: list[str]) -> None:
    """:func:`require_complete_run` for inputs that are run folders or ``<source>/docs`` folders."""
    for path in inputs:
        stripped = path.rstrip("/")
        if stripped.replace("\\", "/").endswith("/docs"):
            source_dir = os.path.dirname(stripped)
            require_complete_run(os.path.dirname(source_dir), [os.path.basename(source_dir)])
        else:
            require_complete_run(stripped)
