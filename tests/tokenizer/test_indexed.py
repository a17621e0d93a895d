"""Megatron indexed dataset: exact byte layout, round trips, atomic writes, bad files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tokenizer.indexed import (
    IndexedDataset,
    IndexedDatasetWriter,
    IndexFormatError,
    dtype_code,
    dtype_for_vocab,
    encode_index,
    write_indexed_dataset,
)

DOCS = [[1, 17, 2], [5], [65499, 0, 3, 2], [9, 9]]


def test_header_layout_one_sequence_per_document(tmp_path):
    bin_file, idx_file = write_indexed_dataset(tmp_path / "x", DOCS, np.uint16)
    raw = idx_file.read_bytes()
    n = len(DOCS)
    assert len(raw) == 42 + 20 * n
    assert raw[:9] == b"MMIDIDX\x00\x00"
    assert struct.unpack_from("<Q", raw, 9) == (1,)
    assert raw[17] == 8  # uint16
    assert struct.unpack_from("<QQ", raw, 18) == (n, n + 1)
    assert list(struct.unpack_from(f"<{n}i", raw, 34)) == [3, 1, 4, 2]
    assert list(struct.unpack_from(f"<{n}q", raw, 34 + 4 * n)) == [0, 6, 8, 16]
    assert list(struct.unpack_from(f"<{n + 1}q", raw, 34 + 12 * n)) == [0, 1, 2, 3, 4]
    assert bin_file.read_bytes() == np.asarray(sum(DOCS, []), dtype="<u2").tobytes()


def test_round_trip_is_byte_exact(tmp_path):
    write_indexed_dataset(tmp_path / "a", DOCS, np.uint16)
    ds = IndexedDataset(tmp_path / "a")
    assert len(ds) == 4 and ds.num_documents == 4 and ds.num_tokens == 10
    assert ds.dtype == np.uint16
    assert [ds[i].tolist() for i in range(len(ds))] == DOCS
    assert ds[-1].tolist() == [9, 9]
    assert ds.get(2, 1, 2).tolist() == [0, 3]
    assert ds.get(2, 3).tolist() == [2]
    assert ds.sizes.tolist() == [3, 1, 4, 2]
    assert ds.pointers.tolist() == [0, 6, 8, 16]
    assert ds.document_indices.tolist() == [0, 1, 2, 3, 4]
    # Writing what we read gives the same bytes.
    write_indexed_dataset(tmp_path / "b", (ds[i] for i in range(len(ds))), ds.dtype)
    for ext in ("bin", "idx"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def test_int32_for_large_vocab_and_dtype_codes(tmp_path):
    assert dtype_for_vocab(32000) == np.uint16
    assert dtype_for_vocab(65499) == np.uint16
    assert dtype_for_vocab(65500) == np.int32
    assert dtype_code(np.int32) == 4 and dtype_code(np.uint16) == 8
    write_indexed_dataset(tmp_path / "big", [[70000, 1], [128255]], dtype_for_vocab(128256))
    raw = (tmp_path / "big.idx").read_bytes()
    assert raw[17] == 4
    ds = IndexedDataset(tmp_path / "big")
    assert ds[0].tolist() == [70000, 1] and ds.pointers.tolist() == [0, 8]


def test_documents_with_several_sequences(tmp_path):
    with IndexedDatasetWriter(tmp_path / "s", np.uint16) as w:
        w.add_document([1, 2, 3, 4, 5], lengths=[2, 3])
        w.add_document([6], lengths=[1])
    ds = IndexedDataset(tmp_path / "s")
    assert len(ds) == 3 and ds.num_documents == 2
    assert ds.document_indices.tolist() == [0, 2, 3]
    assert [d.tolist() for d in ds.documents()] == [[1, 2, 3, 4, 5], [6]]


def test_files_appear_only_on_finalize_and_abort_leaves_nothing(tmp_path):
    w = IndexedDatasetWriter(tmp_path / "t", np.uint16)
    w.add_document([1, 2])
    assert not (tmp_path / "t.bin").exists() and not (tmp_path / "t.idx").exists()
    w.finalize()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin", "t.idx"]
    with pytest.raises(RuntimeError):
        with IndexedDatasetWriter(tmp_path / "u", np.uint16) as w2:
            w2.add_document([1])
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin", "t.idx"]


def test_empty_dataset(tmp_path):
    write_indexed_dataset(tmp_path / "e", [], np.uint16)
    assert (tmp_path / "e.idx").stat().st_size == 42
    ds = IndexedDataset(tmp_path / "e")
    assert len(ds) == 0 and ds.num_tokens == 0 and ds.document_indices.tolist() == [0]


def test_token_outside_dtype_is_rejected(tmp_path):
    with IndexedDatasetWriter(tmp_path / "o", np.uint16) as w:
        with pytest.raises(ValueError, match="do not fit uint16"):
            w.add_document([70000])
        with pytest.raises(ValueError, match="lengths sum"):
            w.add_document([1, 2], lengths=[1])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda idx, b: (b"XXIDIDX\x00\x00" + idx[9:], b), "bad magic"),
        (lambda idx, b: (idx[:9] + struct.pack("<Q", 2) + idx[17:], b), "version 2"),
        (lambda idx, b: (idx[:17] + bytes([9]) + idx[18:], b), "unknown dtype code 9"),
        (lambda idx, b: (idx[:-8], b), "header promises"),
        (lambda idx, b: (idx, b[:-2]), "index describes"),
    ],
)
def test_damaged_files_are_rejected(tmp_path, damage, message):
    write_indexed_dataset(tmp_path / "d", DOCS, np.uint16)
    idx, b = damage((tmp_path / "d.idx").read_bytes(), (tmp_path / "d.bin").read_bytes())
    (tmp_path / "d.idx").write_bytes(idx)
    (tmp_path / "d.bin").write_bytes(b)
    with pytest.raises(IndexFormatError, match=message):
        IndexedDataset(tmp_path / "d")


def test_encode_index_rejects_inconsistent_document_indices():
    with pytest.raises(IndexFormatError):
        encode_index(np.uint16, np.array([1, 2]), np.array([0, 1]))
