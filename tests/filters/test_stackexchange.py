"""StackExchange reader (streaming, entity-safe) and Q/A assembly on the real dumps."""

from __future__ import annotations

import dataclasses
import io
import re
from collections import Counter, defaultdict

import pytest

from filters.base import BadRecord, Dropped, QuarantineRecord
from filters.document import Document
from filters.sources.stackexchange.assemble import ANSWER, QUESTION, assemble, html_to_text
from filters.sources.stackexchange.config import StackExchangeConfig
from filters.sources.stackexchange.reader import SITE, TAG_WIKI, StackExchangeReader, iter_rows

CFG = StackExchangeConfig()


def _read(path, cfg=CFG):
    with open(path, "rb") as fh:
        return list(StackExchangeReader("stackexchange", cfg)(str(path), fh))


@pytest.fixture(scope="module")
def coffee(corpus):
    return _read(corpus / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml")


def _assembled(items, question_id):
    posts = [d for d in items if isinstance(d, Document)]
    by_parent = defaultdict(list)
    for d in posts:
        if d.meta["post_type"] == ANSWER:
            by_parent[d.meta["parent_id"]].append(d)
    [question] = [d for d in posts if d.meta["post_type"] == QUESTION and d.meta["post_id"] == question_id]
    return assemble(question, by_parent[question_id], "stackexchange")


def test_reader_counts_on_coffee(coffee):
    kinds = Counter(d.meta["post_type"] if isinstance(d, Document) else type(d).__name__ for d in coffee)
    assert kinds == {QUESTION: 225, ANSWER: 327, "Dropped": 40}
    assert {d.reason for d in coffee if isinstance(d, Dropped)} == {TAG_WIKI}
    q1 = next(d for d in coffee if isinstance(d, Document) and d.meta["post_id"] == 1)
    assert q1.meta["site"] == "coffee.stackexchange.com" and q1.meta["score"] == 20


def test_answers_sorted_numerically_10_before_7(coffee):
    # Question 14 has answers scored 7 (id 35) and 10 (id 46); as strings "7" > "10".
    doc = _assembled(coffee, 14)
    assert doc.meta["answer_scores"] == [10, 7] and doc.meta["answer_ids"] == [46, 35]
    assert doc.meta["url"] == "https://coffee.stackexchange.com/questions/14"
    assert doc.meta["question_score"] == 14 and doc.meta["site"] == "coffee.stackexchange.com"
    assert doc.text.startswith("Q: What is the process to reduce bitterness in coffee?\n")
    assert doc.text.count("\nA: ") == 2
    doc66 = _assembled(coffee, 66)
    assert doc66.meta["answer_scores"] == [16, 10, 7, 5]


def test_negative_scores_sort_below_zero(corpus):
    items = _read(corpus / "stackexchange" / "conlang.meta.stackexchange.com" / "Posts.xml")
    doc = _assembled(items, 6)
    assert doc.meta["answer_scores"] == [19, 7, 4, 2, 2, 0, -1, -1, -2, -3, -3, -4, -8]


def test_html_is_removed_and_lists_become_bullets():
    html = ("<p>Try this:</p>\n\n<ul>\n<li>grind <em>fine</em></li>\n<li>use &lt;95&deg;C water</li>\n</ul>\n"
            "<pre><code>for x in beans:\n    brew(x)\n</code></pre>\n<p>Line<br>break &amp; done</p>")
    assert html_to_text(html) == (
        "Try this:\n\n* grind fine\n\n* use <95°C water\n\nfor x in beans:\n    brew(x)\n\nLine\nbreak & done"
    )


def test_assembled_text_has_no_tags(coffee):
    doc = _assembled(coffee, 1)
    assert "<p>" not in doc.text and "&lt;" not in doc.text
    assert doc.text.startswith("Q: How should I store whole bean coffee?\nI just got a pound of microroasted")


def test_restrict_to_sites_drops_small_sites(corpus):
    cfg = dataclasses.replace(CFG, restrict_to_sites=True)
    items = _read(corpus / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml", cfg)
    assert Counter(d.reason for d in items if isinstance(d, Dropped)) == {SITE: 225 + 40}
    assert not any(isinstance(d, Document) for d in items)  # answers of an excluded site: not documents


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE posts [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<posts><row Id="1" PostTypeId="1" Score="1" Title="t" Body="&lol3;" /></posts>
"""


def test_billion_laughs_is_rejected_without_expansion(tmp_path):
    path = tmp_path / "evil.stackexchange.com" / "Posts.xml"
    path.parent.mkdir()
    path.write_bytes(BILLION_LAUGHS)
    [record] = _read(path)
    assert isinstance(record, QuarantineRecord) and "DOCTYPE" in record.error


def test_rows_missing_attributes_are_quarantined_with_row_id(tmp_path):
    path = tmp_path / "x.stackexchange.com" / "Posts.xml"
    path.parent.mkdir()
    path.write_bytes(
        b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        b'<row Id="1" PostTypeId="1" Score="3" Title="ok" Body="&lt;p&gt;q&lt;/p&gt;" />\n'
        b'<row Id="2" PostTypeId="2" Score="1" Body="no parent" />\n'
        b'<row Id="3" PostTypeId="1" Score="x" Title="bad score" Body="b" />\n'
        b'<row Id="4" PostTypeId="2" ParentId="1" Score="-2" Body="fine" />\n'
        b'<row Id="5" PostTypeId="1" Score="1" Title="truncated'
    )
    items = _read(path)
    assert [type(i).__name__ for i in items] == ["Document", "QuarantineRecord", "QuarantineRecord",
                                                 "Document", "QuarantineRecord"]
    assert items[1].record.endswith("row Id=2") and "ParentId" in items[1].error
    assert items[2].record.endswith("row Id=3") and "Score" in items[2].error
    # The cut row is named by its own Id and line (it used to be "after row Id=4").
    assert items[4].record == "x.stackexchange.com/Posts.xml row Id=5 at line 7"
    assert items[4].error == "malformed XML (unclosed token)"


def test_iter_rows_streams_in_chunks():
    rows = b"".join(b'<row Id="%d" PostTypeId="2" />' % i for i in range(5000))
    assert sum(1 for _ in iter_rows(io.BytesIO(b"<posts>" + rows + b"</posts>"))) == 5000


def test_body_the_html_parser_gives_up_on_is_bad_data():
    # html.parser asserts on an unknown marked section; that is the record's fault, not ours.
    with pytest.raises(BadRecord, match="unparseable post HTML: unknown status keyword 'foo'"):
        html_to_text("<p>see <![foo[ here</p>")
    assert html_to_text("<p>a <![CDATA[b]]> c</p>") == "a  c"


# ---------------------------------------------------------------------------------------
# Dumps as published, and bad rows that cost exactly themselves


def _coffee_rows(corpus) -> tuple[bytes, list[bytes]]:
    raw = (corpus / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml").read_bytes()
    first = raw.index(b"  <row ")
    return raw[:first], raw[first:].splitlines(keepends=True)


def _read_bytes(tmp_path, data: bytes, cfg=CFG):
    path = tmp_path / "coffee.stackexchange.com" / "Posts.xml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return _read(path, cfg)


def _ids(items) -> list[int]:
    return [(i.doc if isinstance(i, Dropped) else i).meta["post_id"] for i in items
            if isinstance(i, (Document, Dropped))]


def test_doctype_with_a_system_id_is_read(corpus, coffee, tmp_path):
    header, rows = _coffee_rows(corpus)
    doctype = header.replace(b"<posts>", b'<!DOCTYPE posts SYSTEM "posts.dtd">\n<posts>', 1)
    items = _read_bytes(tmp_path, doctype + b"".join(rows))
    assert not any(isinstance(i, QuarantineRecord) for i in items)
    assert _ids(items) == _ids(coffee) and len(items) == 592


def test_entity_declarations_stay_refused_even_without_expansion(tmp_path):
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE posts [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<posts>\n'
            b'  <row Id="1" PostTypeId="1" Score="1" Title="t" Body="b" />\n</posts>\n')
    [record] = _read_bytes(tmp_path, data)
    assert record.error.startswith("BadRecord: entity declarations are not allowed in a DOCTYPE")


def test_one_bad_row_costs_that_row_only(corpus, coffee, tmp_path):
    header, rows = _coffee_rows(corpus)
    # Row 300: a raw "<" in its Body (the row ends there), row 301: an undefined entity.
    broken = list(rows)
    broken[300] = broken[300].replace(b'Body="', b'Body="a <b> ', 1)
    broken[301] = broken[301].replace(b'Body="', b'Body="&bogus; ', 1)
    bad_ids = [int(re.search(rb' Id="(\d+)"', broken[i]).group(1)) for i in (300, 301)]
    items = _read_bytes(tmp_path, header + b"".join(broken))
    records = [i for i in items if isinstance(i, QuarantineRecord)]
    header_lines = header.count(b"\n")
    assert [r.record for r in records] == [
        f"coffee.stackexchange.com/Posts.xml row Id={bad_ids[0]} at line {header_lines + 301}",
        f"coffee.stackexchange.com/Posts.xml row Id={bad_ids[1]} at line {header_lines + 302}",
    ]
    assert [r.error for r in records] == ["malformed XML (unclosed token)",
                                          "malformed XML (undefined entity)"]
    assert _ids(items) == [i for i in _ids(coffee) if i not in bad_ids]


def test_a_huge_row_is_quarantined_with_the_limit_named_and_reading_goes_on(corpus, coffee, tmp_path):
    header, rows = _coffee_rows(corpus)
    huge = rows[10].replace(b'Body="', b'Body="' + b"x" * 3_000_000, 1)
    huge_id = int(re.search(rb' Id="(\d+)"', huge).group(1))
    cfg = dataclasses.replace(CFG, max_row_bytes=1 << 20)
    items = _read_bytes(tmp_path, header + b"".join(rows[:10]) + huge + b"".join(rows[11:]), cfg)
    [record] = [i for i in items if isinstance(i, QuarantineRecord)]
    line = header.count(b"\n") + 11
    assert record.record.endswith(f"row Id={huge_id} at line {line}")
    assert record.error == "row larger than the limit max_row_bytes=1048576"
    assert _ids(items) == [i for i in _ids(coffee) if i != huge_id]


def test_llama1_preset_keeps_the_28_largest_sites_and_no_meta_site(corpus):
    from mixtures.config import config_from_dict

    cfg = config_from_dict({"mixture": "llama1", "output": "unused", "sources": {}}).settings("stackexchange")
    assert cfg.restrict_to_sites and len(set(cfg.sites)) == 28 and cfg.sites[:3] == (
        "stackoverflow.com", "math.stackexchange.com", "superuser.com")
    assert not any(".meta." in site or site.startswith("meta.") for site in cfg.sites)
    items = _read(corpus / "stackexchange" / "conlang.meta.stackexchange.com" / "Posts.xml", cfg)
    assert items and {i.reason for i in items} == {SITE}
