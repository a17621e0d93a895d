"""Bad-input battery, GitHub: damaged slices of the real BigQuery-style sample, one run.

Each file is a different 60-line slice of ``github_sample.jsonl.gz`` (so exact dedup across
files stays what it is in the sample); damaged lines keep their line numbers, and records
are followed by ``meta.record`` (``file:line``).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.battery.harness import BatchRun, assert_sound, run_batch, the_quarantine

SAMPLE = "github_sample.jsonl.gz"


@dataclass
class GithubBatch:
    run: BatchRun
    expected: dict[str, set[int]]  # file → line numbers that must come out read
    binary_paths: set[str]


def _lines_of(run: BatchRun, name: str) -> set[int]:
    return {int(r.rsplit(":", 1)[1]) for r in run.read_records(name)}


@pytest.fixture(scope="module")
def gh(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> GithubBatch:
    root = tmp_path_factory.mktemp("battery-github")
    inputs = root / "in"
    inputs.mkdir()
    lines = gzip.decompress((corpus / "github" / SAMPLE).read_bytes()).split(b"\n")
    # Line n (1-based) of a slice file is lines[start + n - 1].
    expected: dict[str, set[int]] = {}

    def slice_of(start: int) -> list[bytes]:
        return lines[start: start + 60]

    def text(rows: list[bytes]) -> bytes:
        return b"\n".join(rows) + b"\n"

    pristine = text(slice_of(0))
    (inputs / "pristine.jsonl.gz").write_bytes(gzip.compress(pristine, mtime=0))
    expected["pristine.jsonl.gz"] = set(range(1, 61))

    # 17. A line that is not JSON (cut in half) and one without "content".
    rows = slice_of(60)
    rows[4] = rows[4][: len(rows[4]) // 2]
    record = json.loads(rows[5])
    del record["content"]
    rows[5] = json.dumps(record).encode()
    (inputs / "bad-lines.jsonl.gz").write_bytes(gzip.compress(text(rows), mtime=0))
    expected["bad-lines.jsonl.gz"] = set(range(1, 61)) - {5, 6}

    # 16. Binary content: NUL bytes in one record, a high share of control bytes in another.
    rows = slice_of(120)
    binary_paths = set()
    for index, damage in ((2, lambda c: c[:200] + "\x00\x00\x00" + c[200:]),
                          (3, lambda c: "".join(chr(b) for b in bytes(range(1, 32))) * 40 + c)):
        record = json.loads(rows[index])
        record["content"] = damage(record["content"])
        binary_paths.add(f"{record['repo_name']}/{record['path']}")
        rows[index] = json.dumps(record).encode()
    (inputs / "binary.jsonl").write_bytes(text(rows))
    expected["binary.jsonl"] = set(range(1, 61))

    # 6. Empty files: no bytes, and an empty gzip member.
    (inputs / "empty.jsonl.gz").write_bytes(b"")
    (inputs / "empty-member.jsonl.gz").write_bytes(gzip.compress(b"", mtime=0))
    expected["empty.jsonl.gz"] = expected["empty-member.jsonl.gz"] = set()

    # 20. Compression and name disagree.
    (inputs / "plain-named.jsonl.gz").write_bytes(text(slice_of(180)))
    (inputs / "gzip-named.jsonl").write_bytes(gzip.compress(text(slice_of(240)), mtime=0))
    expected["plain-named.jsonl.gz"] = expected["gzip-named.jsonl"] = set(range(1, 61))

    # An unpaired surrogate escape: valid JSON, but no valid Unicode (used to crash the sink).
    rows = slice_of(300)
    rows[9] = rows[9].replace(b'"content": "', b'"content": "\\ud800', 1)
    assert b"\\ud800" in rows[9]
    (inputs / "surrogate.jsonl").write_bytes(text(rows))
    expected["surrogate.jsonl"] = set(range(1, 61)) - {10}

    # A gzip stream cut short: the lines before the cut are kept.
    packed = gzip.compress(text(slice_of(360)), mtime=0)
    truncated = packed[: len(packed) * 6 // 10]
    (inputs / "truncated.jsonl.gz").write_bytes(truncated)
    expected["truncated.jsonl.gz"] = _complete_lines(truncated)

    # A gzip stream corrupt half-way (its second member has an invalid deflate block type):
    # zlib.error, a data error GithubReader declares. The first member's 30 lines are kept.
    rows = slice_of(420)
    second = bytearray(gzip.compress(text(rows[30:]), mtime=0))
    second[10] = 0b111  # BFINAL=1, BTYPE=11 (reserved): "invalid block type"
    (inputs / "corrupt.jsonl.gz").write_bytes(gzip.compress(text(rows[:30]), mtime=0) + bytes(second))

    run = run_batch(root, "github", [str(inputs)], watch=[corpus / "github"])
    return GithubBatch(run, expected, binary_paths)


def _complete_lines(truncated_gzip: bytes) -> set[int]:
    """Line numbers wholly inside what survives of a truncated gzip stream."""
    data = zlib.decompressobj(31).decompress(truncated_gzip)
    return set(range(1, data.count(b"\n") + 1))


def test_stats_reconcile_and_nothing_written_outside_the_output(gh):
    assert_sound(gh.run)


def test_untouched_file_in_a_folder_of_bad_ones_is_read_fully(gh):  # case 25
    assert _lines_of(gh.run, "pristine.jsonl.gz") == gh.expected["pristine.jsonl.gz"]
    assert gh.run.file("pristine.jsonl.gz")["quarantine"] == []


def test_line_that_is_not_json_and_line_without_content_are_quarantined(gh):  # case 17
    records = {q["record"]: q["error"] for q in gh.run.file("bad-lines.jsonl.gz")["quarantine"]}
    assert set(records) == {"line 5", "line 6"}
    assert records["line 5"].startswith("JSONDecodeError: ")
    assert records["line 6"] == "ValueError: missing or non-string field(s) ['content']"
    assert _lines_of(gh.run, "bad-lines.jsonl.gz") == gh.expected["bad-lines.jsonl.gz"]


def test_binary_content_is_dropped_binary(gh):  # case 16
    part = gh.run.file("binary.jsonl")
    binary = {f"{d['meta']['repo_name']}/{d['meta']['path']}": d for d in part["dropped"]
              if d["annotations"]["dropped"]["reason"] == "binary"}
    assert set(binary) == gh.binary_paths
    assert all(d["text"] == "" and d["annotations"]["dropped"]["stage"] == "read" for d in binary.values())
    assert part["quarantine"] == []
    assert _lines_of(gh.run, "binary.jsonl") == gh.expected["binary.jsonl"]
    assert not any("\x00" in d["text"] for d in gh.run.docs)


@pytest.mark.parametrize("name", ["empty.jsonl.gz", "empty-member.jsonl.gz"])
def test_empty_jsonl_reads_as_no_records(gh, name):  # case 6
    assert gh.run.file(name) == {"docs": [], "dropped": [], "quarantine": []}


@pytest.mark.parametrize("name", ["plain-named.jsonl.gz", "gzip-named.jsonl"])
def test_compression_is_detected_from_content_not_name(gh, name):  # case 20
    assert gh.run.file(name)["quarantine"] == []
    assert _lines_of(gh.run, name) == gh.expected[name]


def test_unpaired_surrogate_is_quarantined_not_a_crash(gh):
    record = the_quarantine(gh.run, "surrogate.jsonl")
    assert record["record"] == "line 10"
    assert record["error"] == "ValueError: field 'content' holds an unpaired UTF-16 surrogate (not valid Unicode)"
    assert _lines_of(gh.run, "surrogate.jsonl") == gh.expected["surrogate.jsonl"]


def test_truncated_gzip_keeps_the_lines_before_the_cut(gh):
    record = the_quarantine(gh.run, "truncated.jsonl.gz")
    assert record["error"].startswith("EOFError: Compressed file ended before the end-of-stream marker")
    got = _lines_of(gh.run, "truncated.jsonl.gz")
    expected = gh.expected["truncated.jsonl.gz"]
    assert len(expected) >= 20
    assert record["record"] == f"after record {len(got)}"
    assert got == expected


def test_corrupt_gzip_is_quarantined_and_the_lines_before_kept(gh):
    record = the_quarantine(gh.run, "corrupt.jsonl.gz")
    assert record["error"] == "error: Error -3 while decompressing data: invalid block type"  # zlib.error
    assert record["record"] == "after record 30"
    assert _lines_of(gh.run, "corrupt.jsonl.gz") == set(range(1, 31))
