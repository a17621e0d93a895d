"""``tokenizer encode`` as one Beam pipeline over a run folder on any Beam filesystem.

Per source: ``RUN/<source>/docs/*.jsonl.gz`` → (reshuffled file paths) → each file streamed
line by line through ``FileSystems`` (gzip, ``gs://`` included) → ``Document`` →
``TokenizeToShards`` into ``RUN/<source>/tokens/``. Reading, parsing and encoding fuse into
one step per file, so no document crosses a stage boundary (on the local runner that would
pass through the launcher's memory). The launcher only lists files and reads each source's
small ``stats.json`` (its kind).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from filters.document import Document
from stages import fsio
from stages.tokenize import TokenizeToShards
from tokenizer.manifest import DOCS_DIR, MANIFEST, TOKENS_DIR


@dataclass(frozen=True)
class RunSourceURI:
    """One ``RUN/<source>`` folder of a run on any filesystem."""

    name: str
    kind: str
    path: str

    @property
    def docs_pattern(self) -> str:
        return fsio.join(self.path, DOCS_DIR, "*.jsonl.gz")

    @property
    def tokens_dir(self) -> str:
        return fsio.join(self.path, TOKENS_DIR)

    @property
    def tokens_manifest(self) -> str:
        return fsio.join(self.path, TOKENS_DIR, MANIFEST)


def run_sources(run_dir: str) -> list[RunSourceURI]:
    """Sources of a run that have documents, sorted by name; the kind from ``stats.json``."""
    files = fsio.match(fsio.join(run_dir, "*", DOCS_DIR, "*.jsonl.gz"))
    names = sorted({p.rstrip("/").rsplit("/", 3)[-3] for p in files})
    out = []
    for name in names:
        path = fsio.join(run_dir, name)
        stats = fsio.join(path, "stats.json")
        kind = (fsio.read_json(stats).get("kind") if fsio.exists(stats) else None) or name
        out.append(RunSourceURI(name, str(kind), path))
    return out


def read_documents(path: str) -> Iterator[Document]:
    """Documents of one ``.jsonl.gz`` shard on any Beam filesystem, streamed."""
    # Python's gzip over the raw stream: Beam's CompressedFile.readline keeps growing its
    # internal buffer over a file (peak memory grew with the shard size, measured).
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw, \
            gzip.GzipFile(fileobj=raw, mode="rb") as fh:
        for line in fh:
            if line.strip():
                yield Document.from_json(line.decode("utf-8"))


def read_source(p: beam.Pipeline, src: RunSourceURI) -> beam.PCollection:
    """The documents of one source: its file list (listed now) → reshuffled → streamed per file."""
    files = fsio.match(src.docs_pattern)
    return (
        p
        | f"{src.name}/Files" >> beam.Create(files)
        | f"{src.name}/Spread files" >> beam.Reshuffle()
        | f"{src.name}/Read docs" >> beam.FlatMap(read_documents)
    )


def encode_sources(p: beam.Pipeline, sources: list[RunSourceURI], model: str, shard_tokens: int,
                   spill_tokens: int | None = None, add_bos: bool = False, add_eos: bool = True) -> None:
    """Adds, per source, read → encode → shards + manifest to ``p`` (BOS/EOS as the policy says)."""
    extra: dict = {"add_bos": add_bos, "add_eos": add_eos}
    if spill_tokens is not None:
        extra["spill_tokens"] = spill_tokens
    for src in sources:
        _ = read_source(p, src) | TokenizeToShards(model, src.tokens_dir, src.name, shard_tokens, kind=src.kind,
                                                   **extra)
