"""The one token-shard format: Megatron-LM's indexed dataset (``.bin`` + ``.idx``).

Layout (``megatron/core/datasets/indexed_dataset.py::_IndexWriter/_IndexReader``, all
little-endian):

``PREFIX.bin``
    The concatenation of every sequence's tokens in the chosen dtype, C order, no header.

``PREFIX.idx``

    ======  ======  ====================================================================
    offset  size    content
    ======  ======  ====================================================================
    0       9       magic ``b"MMIDIDX\\x00\\x00"``
    9       8       ``uint64`` version = 1
    17      1       ``uint8`` dtype code (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
                    6 float64, 7 float32, 8 uint16)
    18      8       ``uint64`` sequence count N
    26      8       ``uint64`` document count D (= documents + 1)
    34      4·N     ``int32`` sequence lengths (tokens)
    34+4N   8·N     ``int64`` sequence pointers (byte offsets into ``.bin``)
    34+12N  8·D     ``int64`` document indices (sequence boundaries: 0 … N)
    ======  ======  ====================================================================

With one sequence per document the index is ``42 + 20·N`` bytes. Token dtype follows
Megatron's ``DType.optimal_dtype``: ``uint16`` when the vocabulary has fewer than 65500
entries, else ``int32``.

Both ``stages/`` (writer) and ``trainer/`` (reader) import this module; it knows nothing of
Beam.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from mixtures.provenance import replace_atomically

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
HEADER_BYTES = len(MAGIC) + 8 + 1 + 8 + 8  # 34

# Megatron's DType enum (megatron/core/datasets/indexed_dataset.py).
DTYPE_CODES: dict[int, type[np.generic]] = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}
_CODE_OF = {np.dtype(t): code for code, t in DTYPE_CODES.items()}

# Megatron's threshold, not 65536: it keeps headroom for a few special tokens.
UINT16_VOCAB_LIMIT = 65500


class IndexFormatError(ValueError):
    """An ``.idx``/``.bin`` pair does not follow the Megatron indexed-dataset layout."""


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """Returns the token dtype Megatron picks for a vocabulary (``DType.optimal_dtype``).

    Args:
        vocab_size: Number of pieces in the tokenizer.

    Returns:
        ``uint16`` for vocab_size < 65500, else ``int32``.
    """
    return np.dtype(np.uint16) if vocab_size < UINT16_VOCAB_LIMIT else np.dtype(np.int32)


def dtype_code(dtype: np.dtype | type) -> int:
    """Returns Megatron's one-byte code for a numpy dtype (e.g. uint16 → 8)."""
    try:
        return _CODE_OF[np.dtype(dtype)]
    except KeyError as err:
        raise IndexFormatError(f"dtype {np.dtype(dtype)} has no Megatron code") from err


def bin_path(prefix: str | os.PathLike) -> Path:
    """``PREFIX.bin``."""
    return Path(f"{os.fspath(prefix)}.bin")


def idx_path(prefix: str | os.PathLike) -> Path:
    """``PREFIX.idx``."""
    return Path(f"{os.fspath(prefix)}.idx")


def encode_index(
    dtype: np.dtype | type,
    sizes: np.ndarray,
    document_indices: np.ndarray,
) -> bytes:
    """Serialises an index; pointers are derived from sizes so they cannot disagree.

    Args:
        dtype: Token dtype of the ``.bin`` file.
        sizes: Sequence lengths in tokens (N entries).
        document_indices: Sequence-index boundaries of documents (starts 0, ends N).

    Returns:
        The exact bytes of the ``.idx`` file.
    """
    dt = np.dtype(dtype)
    sizes = np.asarray(sizes, dtype=np.int64)
    doc_idx = np.asarray(document_indices, dtype=np.int64)
    n = len(sizes)
    if len(doc_idx) == 0 or doc_idx[0] != 0 or doc_idx[-1] != n:
        raise IndexFormatError(f"document indices must start at 0 and end at {n}")
    if np.any(np.diff(doc_idx) < 0):
        raise IndexFormatError("document indices must be non-decreasing")
    if np.any(sizes < 0) or np.any(sizes > np.iinfo(np.int32).max):
        raise IndexFormatError("sequence lengths must fit in int32")
    pointers = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(sizes[:-1] * dt.itemsize, out=pointers[1:])
    header = MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", dtype_code(dt))
    header += struct.pack("<Q", n) + struct.pack("<Q", len(doc_idx))
    return b"".join(
        (
            header,
            sizes.astype("<i4").tobytes(),
            pointers.astype("<i8").tobytes(),
            doc_idx.astype("<i8").tobytes(),
        )
    )


class IndexedDatasetWriter:
    """Streams documents into ``PREFIX.bin`` and writes ``PREFIX.idx`` on ``finalize()``.

    Each ``add_document`` call is one document made of one sequence (the pretraining case,
    as ``preprocess_data.py`` writes it) or of several sequences (``lengths``). Tokens go
    to ``PREFIX.bin.tmp`` as they arrive; ``finalize()`` writes the index to a temporary
    file and renames both into place, so a reader never sees a half-written pair.

    Example:
        >>> with IndexedDatasetWriter("out/shard-00000", np.uint16) as w:
        ...     w.add_document([5, 6, 2])
    """

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype | type = np.uint16) -> None:
        """Opens the temporary ``.bin`` file.

        Args:
            prefix: Output path without extension.
            dtype: Token dtype (any Megatron dtype; use ``dtype_for_vocab``).
        """
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        dtype_code(self.dtype)  # validate early
        self._bin_final = bin_path(prefix)
        self._idx_final = idx_path(prefix)
        self._bin_tmp = Path(f"{self._bin_final}.tmp")
        self._idx_tmp = Path(f"{self._idx_final}.tmp")
        self._bin_final.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self._bin_tmp, "wb")
        self._sizes: list[int] = []
        self._doc_idx: list[int] = [0]
        self._finalized = False
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            self._lo, self._hi = int(info.min), int(info.max)
        else:
            self._lo = self._hi = None

    @property
    def num_tokens(self) -> int:
        """Tokens written so far."""
        return sum(self._sizes)

    @property
    def num_documents(self) -> int:
        """Documents written so far."""
        return len(self._doc_idx) - 1

    def add_document(self, tokens: Sequence[int] | np.ndarray, lengths: Sequence[int] | None = None) -> None:
        """Appends one document.

        Args:
            tokens: The document's tokens (e.g. ids with a trailing eos).
            lengths: Optional split of ``tokens`` into several sequences; default one
                sequence holding all tokens.

        Raises:
            ValueError: A token does not fit the dtype, or ``lengths`` does not sum up.
        """
        if self._finalized:
            raise ValueError("writer already finalized")
        arr = np.asarray(tokens)
        if arr.ndim != 1:
            raise ValueError(f"tokens must be 1-D, got shape {arr.shape}")
        if arr.size and self._lo is not None:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < self._lo or hi > self._hi:
                raise ValueError(f"token ids [{lo}, {hi}] do not fit {self.dtype}")
        seq_lengths = [len(arr)] if lengths is None else [int(x) for x in lengths]
        if sum(seq_lengths) != len(arr):
            raise ValueError(f"lengths sum to {sum(seq_lengths)}, document has {len(arr)} tokens")
        self._fh.write(arr.astype(self.dtype.newbyteorder("<"), copy=False).tobytes(order="C"))
        self._sizes.extend(seq_lengths)
        self._doc_idx.append(len(self._sizes))

    def add_documents(self, documents: Iterable[Sequence[int] | np.ndarray]) -> None:
        """Appends many one-sequence documents."""
        for doc in documents:
            self.add_document(doc)

    def finalize(self) -> None:
        """Writes the index and atomically moves both files into place."""
        if self._finalized:
            return
        self._fh.close()
        index = encode_index(self.dtype, np.asarray(self._sizes, dtype=np.int64), np.asarray(self._doc_idx))
        with open(self._idx_tmp, "wb") as fh:
            fh.write(index)
        # .bin first: a reader opening PREFIX looks for .idx, so the pair is visible only once complete.
        replace_atomically(self._bin_tmp, self._bin_final)
        replace_atomically(self._idx_tmp, self._idx_final)
        self._finalized = True

    def abort(self) -> None:
        """Drops the temporary files (used on error)."""
        self._fh.close()
        for path in (self._bin_tmp, self._idx_tmp):
            path.unlink(missing_ok=True)
        self._finalized = True

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


def write_indexed_dataset(
    prefix: str | os.PathLike,
    documents: Iterable[Sequence[int] | np.ndarray],
    dtype: np.dtype | type = np.uint16,
) -> tuple[Path, Path]:
    """Writes one-sequence documents to ``PREFIX.bin/.idx`` and returns both paths."""
    with IndexedDatasetWriter(prefix, dtype) as writer:
        writer.add_documents(documents)
    return bin_path(prefix), idx_path(prefix)


class IndexedDataset:
    """Memory-mapped reader of a Megatron ``.bin/.idx`` pair.

    ``ds[i]`` is sequence ``i`` as a numpy array (a view into the memory map, read-only);
    ``ds.get(i, offset, length)`` reads a slice of it without touching the rest.
    """

    def __init__(self, prefix: str | os.PathLike) -> None:
        """Parses and validates the index, then maps the token file.

        Args:
            prefix: Path without extension.

        Raises:
            IndexFormatError: Bad magic, version, dtype code, sizes or a ``.bin`` whose
                length disagrees with the index.
        """
        self.prefix = Path(prefix)
        idx_file, bin_file = idx_path(prefix), bin_path(prefix)
        raw = np.memmap(idx_file, dtype=np.uint8, mode="r")
        if len(raw) < HEADER_BYTES or bytes(raw[: len(MAGIC)]) != MAGIC:
            raise IndexFormatError(f"{idx_file}: not a Megatron index (bad magic)")
        header = bytes(raw[:HEADER_BYTES])
        (version,) = struct.unpack_from("<Q", header, 9)
        if version != VERSION:
            raise IndexFormatError(f"{idx_file}: version {version}, expected {VERSION}")
        (code,) = struct.unpack_from("<B", header, 17)
        if code not in DTYPE_CODES:
            raise IndexFormatError(f"{idx_file}: unknown dtype code {code}")
        self.dtype = np.dtype(DTYPE_CODES[code])
        (n,) = struct.unpack_from("<Q", header, 18)
        (d,) = struct.unpack_from("<Q", header, 26)
        expected = HEADER_BYTES + 12 * n + 8 * d
        # Multimodal indexes carry N extra int8 modes; we accept them but never use them.
        if len(raw) not in (expected, expected + n):
            raise IndexFormatError(f"{idx_file}: {len(raw)} bytes, header promises {expected}")
        del raw
        self._index = np.memmap(idx_file, dtype=np.uint8, mode="r")
        off = HEADER_BYTES
        self.sizes: np.ndarray = np.frombuffer(self._index, dtype="<i4", count=n, offset=off)
        off += 4 * n
        self.pointers: np.ndarray = np.frombuffer(self._index, dtype="<i8", count=n, offset=off)
        off += 8 * n
        self.document_indices: np.ndarray = np.frombuffer(self._index, dtype="<i8", count=d, offset=off)
        if d == 0 or self.document_indices[0] != 0 or self.document_indices[-1] != n:
            raise IndexFormatError(f"{idx_file}: document indices must run from 0 to {n}")
        bin_bytes = os.path.getsize(bin_file)
        total = int(self.sizes.sum(dtype=np.int64)) * self.dtype.itemsize
        if bin_bytes != total:
            raise IndexFormatError(f"{bin_file}: {bin_bytes} bytes, index describes {total}")
        # np.memmap cannot map an empty file; an empty shard is still a valid dataset.
        if bin_bytes:
            self._bin = np.memmap(bin_file, dtype=self.dtype.newbyteorder("<"), mode="r")
        else:
            self._bin = np.zeros(0, dtype=self.dtype)

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.sizes)

    @property
    def num_documents(self) -> int:
        """Number of documents (``len(document_indices) - 1``)."""
        return len(self.document_indices) - 1

    @property
    def num_tokens(self) -> int:
        """Total tokens in the ``.bin`` file."""
        return int(self.sizes.sum(dtype=np.int64))

    def _start(self, i: int) -> int:
        return int(self.pointers[i]) // self.dtype.itemsize

    def __getitem__(self, i: int) -> np.ndarray:
        """Sequence ``i`` (negative indices allowed)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {i} out of range for {len(self)} sequences")
        i %= len(self)
        start = self._start(i)
        return self._bin[start : start + int(self.sizes[i])]

    def get(self, i: int, offset: int = 0, length: int | None = None) -> np.ndarray:
        """``length`` tokens of sequence ``i`` from ``offset`` (to its end if ``length`` is None)."""
        seq = self[i]
        if offset < 0 or offset > len(seq):
            raise IndexError(f"offset {offset} outside sequence {i} of length {len(seq)}")
        end = len(seq) if length is None else offset + length
        if end > len(seq):
            raise IndexError(f"slice [{offset}, {end}) outside sequence {i} of length {len(seq)}")
        return seq[offset:end]

    def tokens(self) -> np.ndarray:
        """All tokens as one flat memory-mapped array (documents in order)."""
        return self._bin

    def documents(self) -> Iterable[np.ndarray]:
        """Yields each document's tokens (its sequences concatenated)."""
        for a, b in zip(self.document_indices[:-1], self.document_indices[1:]):
            if a == b:
                yield self._bin[0:0]
                continue
            start = self._start(int(a))
            end = self._start(int(b) - 1) + int(self.sizes[int(b) - 1])
            yield self._bin[start:end]

    @staticmethod
    def exists(prefix: str | os.PathLike) -> bool:
        """True when both ``PREFIX.bin`` and ``PREFIX.idx`` exist."""
        return bin_path(prefix).exists() and idx_path(prefix).exists()
