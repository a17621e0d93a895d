"""Bad-input battery, size: a 50 MB web page and a 50 MB JSONL line (cases 5 and 24).

The only big inputs of the battery. Both must be set aside with a reason while the records
around them are read, and reading them must not hold them whole: the peak of the Python heap
during the run (tracemalloc: every buffer the readers, zlib and Beam allocate through
Python) grows by far less than the input size over the same run without the big record.

Not resident memory: glibc keeps freed pages in per-thread heaps as its mmap threshold moves
with the sizes freed before, so the same run measured 0 to 80 MiB of RSS "growth" depending
on what the test process had done earlier, none of it held by anything.
"""

from __future__ import annotations

import gc
import gzip
import io
import json
import re
from pathlib import Path

from filters.base import Dropped
from filters.document import Document
from filters.sources.cc.warc import read_warc
from filters.sources.github.reader import max_line_bytes
from tests.battery.harness import BatchRun, assert_sound, run_batch, the_quarantine
from tests.battery.warcs import Member, join, members, offsets, plain_headers

BIG = 50_000_000
MB = 1 << 20


def _control(tmp_path: Path, kind: str, name: str, corpus: Path, **overrides) -> BatchRun:
    """The same kind of run over the small real records alone, for a memory baseline."""
    root = tmp_path / "control"
    (root / "in").mkdir(parents=True)
    if kind == "cc":
        data = join(members((corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes())[:13])
    else:
        data = b"\n".join(gzip.decompress((corpus / "github" / "github_sample.jsonl.gz").read_bytes())
                          .split(b"\n")[:5]) + b"\n"
    (root / "in" / name).write_bytes(data)
    run = run_batch(root, kind, [str(root / "in")], measure_heap=True, **overrides)
    assert run.quarantine == []
    return run


def test_50mb_web_page_is_quarantined_without_holding_it(tmp_path, corpus):  # case 5
    inputs = tmp_path / "in"
    inputs.mkdir()
    base = members((corpus / "cc" / "dolma-sample-0000.warc.gz").read_bytes())[:13]
    responses = [i for i, m in enumerate(base) if m.warc_type == "response"]
    donor = next(base[i] for i in responses if b"-encoding:" not in base[i].http_parts()[0].lower())
    headers, page = donor.http_parts()
    payload = (page * (BIG // len(page) + 1))[:BIG]  # a real page, repeated to 50 MB
    block = plain_headers(headers) + b"\r\n\r\n" + payload
    new_id = b"\r\nWARC-Record-ID: <urn:uuid:50000000-0000-0000-0000-000000000000>"
    head = re.sub(rb"\r\nWARC-Record-ID: *[^\r]*", new_id, donor.head)
    head = re.sub(rb"\r\nContent-Length: *\d+", b"\r\nContent-Length: %d" % len(block), head)
    head = re.sub(rb"\r\nWARC-(?:Block|Payload)-Digest: *[^\r]*", b"", head)
    big = Member(b"", gzip.compress(head + b"\r\n\r\n" + block + b"\r\n\r\n", compresslevel=1, mtime=0))
    parts = base[:5] + [big] + base[5:]
    (inputs / "huge-page.warc.gz").write_bytes(join(parts))
    big_offset = offsets(parts)[5]
    expected = {(i.doc if isinstance(i, Dropped) else i).meta["warc_record_id"]
                for i in read_warc("base", io.BytesIO(join(base))) if isinstance(i, (Document, Dropped))}
    del payload, block, big, parts
    gc.collect()

    control = _control(tmp_path, "cc", "base.warc.gz", corpus)
    run = run_batch(tmp_path, "cc", [str(inputs)], watch=[corpus / "cc"], measure_heap=True)
    assert_sound(run)
    record = the_quarantine(run, "huge-page.warc.gz")
    assert record["record"] == str(big_offset)
    assert record["error"] == "payload larger than extract.max_html_bytes=5000000"
    assert run.read_records("huge-page.warc.gz", "warc_record_id") == expected
    # At most max_html_bytes (5 MB) of the page is ever held, not 50 MB. Both runs peak at about
    # 21 MiB (Beam's 7.6 MB bz2 buffers and friends), under which the reader's few MiB hide:
    # holding the page would lift the peak past 50 MiB.
    grew = run.heap_peak - control.heap_peak
    assert grew < 20 * MB, f"the heap peaked {grew / MB:.0f} MiB higher than without the page"


def test_50mb_jsonl_line_is_set_aside_without_holding_it(tmp_path, corpus):  # case 24
    inputs = tmp_path / "in"
    inputs.mkdir()
    lines = gzip.decompress((corpus / "github" / "github_sample.jsonl.gz").read_bytes()).split(b"\n")
    records = [json.loads(line) for line in lines[:5]]
    largest = max((json.loads(line) for line in lines if line), key=lambda r: len(r["content"]))
    huge = dict(largest, path="huge/" + largest["path"])
    huge["content"] = (largest["content"] * (BIG // len(largest["content"]) + 1))[:BIG]
    large = dict(largest, path="large/" + largest["path"])
    large["content"] = (largest["content"] * 8)[:6_000_000]
    rows = [records[0], huge, records[1], large, records[2]]
    (inputs / "huge-line.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    del huge, large, rows
    gc.collect()

    max_file_bytes = 5_000_000
    control = _control(tmp_path, "github", "base.jsonl", corpus, github={"max_file_bytes": max_file_bytes})
    run = run_batch(tmp_path, "github", [str(inputs)], watch=[corpus / "github"], measure_heap=True,
                    github={"max_file_bytes": max_file_bytes})
    assert_sound(run)
    record = the_quarantine(run, "huge-line.jsonl")
    assert record["record"] == "line 2"
    limit = max_line_bytes(max_file_bytes)
    assert record["error"] == f"line longer than {limit} bytes (6 x github.max_file_bytes + 1 MiB): not parsed"
    # The 6 MB file is parsed and dropped by size; the lines around both are read.
    too_large = [d for d in run.dropped if d["annotations"]["dropped"]["reason"] == "too_large"]
    assert [(d["meta"]["record"], d["meta"]["size"]) for d in too_large] == [("huge-line.jsonl:4", 6_000_000)]
    assert {r.rsplit(":", 1)[1] for r in run.read_records("huge-line.jsonl")} == {"1", "3", "4", "5"}
    # The 50 MB line is skipped in 1 MiB pieces after the first ``limit`` bytes: never held
    # whole, nor parsed.
    grew = run.heap_peak - control.heap_peak
    assert grew < limit + 32 * MB, f"the heap peaked {grew / MB:.0f} MiB higher than without the big lines"
