"""Fixed-length training sequences → a Megatron ``.bin/.idx`` pair and/or a Parquet file.

One writer for the single-file blend (``tokenizer/export.py``) and for each shard of the
sharded export (``tokenizer/blend_shards.py``), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mixtures.provenance import replace_atomically, sha256_file
from tokenizer.indexed import IndexedDatasetWriter, bin_path, idx_path

PARQUET_ROWS_PER_GROUP = 1024
PARQUET_SCHEMA = pa.schema([("input_ids", pa.list_(pa.int32())), ("source", pa.string())])


def write_sequences(prefix: Path, sequences: Iterable[tuple[str, np.ndarray]], formats: Sequence[str],
                    dtype: np.dtype) -> dict[str, str]:
    """Writes ``(source name, sequence)`` pairs in order to ``PREFIX.bin/.idx`` ("megatron") and
    ``PREFIX.parquet`` ("parquet"); nothing is left under a final name if writing fails.

    Returns:
        ``{file name: sha256}`` of what was written, hashed here by the writer.
    """
    writer = IndexedDatasetWriter(prefix, dtype) if "megatron" in formats else None
    parquet_path = prefix.with_name(f"{prefix.name}.parquet")
    parquet_tmp = prefix.with_name(f"{prefix.name}.parquet.tmp")
    pq_writer = pq.ParquetWriter(parquet_tmp, PARQUET_SCHEMA, compression="zstd") if "parquet" in formats else None
    rows: list[np.ndarray] = []
    row_sources: list[str] = []

    def flush() -> None:
        if pq_writer is not None and rows:
            flat = np.concatenate(rows).astype(np.int32)
            offsets = np.arange(0, len(flat) + 1, len(rows[0]), dtype=np.int32)
            ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))
            pq_writer.write_table(pa.table({"input_ids": ids, "source": pa.array(row_sources)},
                                           schema=PARQUET_SCHEMA))
        rows.clear()
        row_sources.clear()

    try:
        for source, seq in sequences:
            if writer is not None:
                writer.add_document(seq)
            if pq_writer is not None:
                rows.append(seq)
                row_sources.append(source)
                if len(rows) == PARQUET_ROWS_PER_GROUP:
                    flush()
        flush()
    except BaseException:
        if writer is not None:
            writer.abort()
        if pq_writer is not None:
            pq_writer.close()
            parquet_tmp.unlink(missing_ok=True)
        raise
    files: dict[str, str] = {}
    if writer is not None:
        writer.finalize()
        files[bin_path(prefix).name] = sha256_file(bin_path(prefix))
        files[idx_path(prefix).name] = sha256_file(idx_path(prefix))
    if pq_writer is not None:
        pq_writer.close()
        replace_atomically(parquet_tmp, parquet_path)
        files[parquet_path.name] = sha256_file(parquet_path)
    return files
