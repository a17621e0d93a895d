"""The released C4 reader: JSON lines as allenai/c4 ships them; bad lines cost one record."""

from __future__ import annotations

import gzip
import io
import json

from filters.base import InputFile, QuarantineRecord
from filters.document import Document, stable_id
from filters.sources.c4.released import ReleasedC4Reader, is_released_c4

NAME = "en/c4-train.00000-of-01024.json.gz"


def test_lines_become_documents_and_bad_lines_are_quarantined(corpus):
    text = (corpus / "books" / "16-0-peter-pan.txt").read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    pages = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200][:3]
    lines = [json.dumps({"text": pages[0], "timestamp": "2019-04-25T12:57:54Z", "url": "https://a.example/1"}),
             "{not json",
             json.dumps({"url": "https://a.example/no-text"}),
             json.dumps({"text": "x" * 5000, "url": "https://a.example/long"}),
             json.dumps({"text": pages[1], "timestamp": "2019-04-26T00:00:00Z", "url": "https://a.example/2"})]
    data = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    items = list(ReleasedC4Reader("c4", max_line_bytes=4096).read_input(InputFile("/x/" + NAME, NAME),
                                                                        io.BytesIO(data)))
    docs = [i for i in items if isinstance(i, Document)]
    assert [d.text for d in docs] == pages[:2]
    assert [d.id for d in docs] == [stable_id("c4", NAME, 1), stable_id("c4", NAME, 5)]
    assert docs[0].meta == {"file": NAME, "record": "c4-train.00000-of-01024.json.gz:1", "c4": "released",
                            "url": "https://a.example/1", "timestamp": "2019-04-25T12:57:54Z"}
    assert [(q.record, q.error.split(":")[0]) for q in items if isinstance(q, QuarantineRecord)] == [
        ("line 2", "JSONDecodeError"), ("line 3", "ValueError"), ("line 4", "line longer than 4096 bytes")]


def test_released_files_are_told_by_name():
    assert is_released_c4("c4/en/c4-train.00000-of-01024.json.gz") and is_released_c4("c4-validation.json")
    assert not is_released_c4("CC-MAIN-2019-18/segments/x/wet/CC-MAIN-x.warc.wet.gz")
