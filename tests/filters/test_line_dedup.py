"""CCNet line dedup, the pure part, against cc_net 1.0.0's own dedup code (``tests/reference``)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from filters.line_dedup import (
    DROP_ALL,
    EMPTY_AFTER_DEDUP,
    TOO_SHORT,
    drop_reason,
    duplicated_keys,
    file_groups,
    group_of,
    line_key,
    line_keys,
    remove_lines,
    snapshot_of,
    too_short,
)
from tests.reference.ccnet import load_cc_net
from tests.reference.ccnet_dedup import cc_net_mine_dedup


@pytest.fixture(scope="module")
def cc_net():
    return load_cc_net()


def _cc_net_key(line: str) -> int:
    """cc_net/dedup.py compute_hashes: sha1 digest[:8] reinterpreted as np.uint64 (little-endian)."""
    from filters.normalize import normalize_for_dedup

    digest = hashlib.sha1(bytes(normalize_for_dedup(line), encoding="utf-8")).digest()[:8]
    return int(np.frombuffer(digest, dtype="<u8")[0])


def ours(texts: list[str], min_len: int = 0, repeats_in_doc: str = "keep_first") -> list[tuple | None]:
    """Our semantics over one dedup group: (text, line_ids, original_nlines) or None when dropped."""
    mined = [t for t in texts if not too_short(t, min_len)]
    duplicated = duplicated_keys((line_keys(t) for t in mined), repeats_in_doc)
    out = []
    for text in texts:
        if too_short(text, min_len):
            out.append(None)
            continue
        result = remove_lines(text, line_keys(text), duplicated)
        out.append(None if drop_reason(result, 0) else (result.text, list(result.line_ids), result.original_nlines))
    return out


def theirs(texts: list[str], tmp_path, min_len: int = 0) -> list[tuple | None]:
    return [None if d is None else (d["raw_content"], list(d["line_ids"]), d["original_nlines"])
            for d in cc_net_mine_dedup(texts, tmp_path, min_len)]


@pytest.mark.parametrize("line", ["Hello, World 2024!", "  Impressum  ", "Straße – 12 km", "「日本語」のテキスト", "",
                                  "…"])
def test_key_is_cc_net_hash(cc_net, line):
    from cc_net.dedup import compute_hashes

    assert line_key(line) == _cc_net_key(line) == int(compute_hashes(f"first line\n{line}")[1])


@pytest.mark.parametrize("a, b, same", [
    ("Hello World 12", "  hello world 99 ", True),       # case, digits, outer spaces
    ("Hello… World", "Hello World", True),               # Unicode punctuation is removed
    ("Hello, World", "Hello World", False),              # ASCII punctuation is kept
    ("Kontakt", "Kontakte", False),
    ("", "…", True),                                     # blank lines are one key, as in cc_net
])
def test_normalisation_decides_what_is_a_duplicate(a, b, same):
    assert (line_key(a) == line_key(b)) is same


# cc_net's tests/test_dedup.py::test_dedup_fast inputs (two parts, one hash file), plus the
# cases its tests leave out: repeats inside one document, blank lines, a page under min_len.
CC_NET_CASES = {
    "test_dedup_fast": [
        "Hello\n_World\nI'm so original",
        "Good morning\n_World\nI'm originaler",
    ],
    "test_simple_dedup": [
        "_Hello\n_World\nI'm so original",
        "_world\nI'm originaler\n_Hello",
    ],
    "repeat_inside_one_doc": [
        "Menu\nA first real sentence.\nMenu\nMENU 2\nMenu 7\nA last real sentence.",
        "Something else entirely.",
    ],
    "repeat_inside_and_across": [
        "Menu\nFirst text.\nMenu",
        "Menu\nSecond text.",
    ],
    "blank_lines": [
        "One paragraph.\n\nAnother one.\n\n",
        "Only text here.",
    ],
    "blank_lines_in_two_docs": [
        "One paragraph.\n\nAnother one.",
        "Other text.\n\nMore.",
    ],
    "only_duplicates": ["Footer", "Footer\nReal content of page two."],
}


@pytest.mark.parametrize("case", sorted(CC_NET_CASES))
def test_identical_to_cc_net_on_its_cases(cc_net, tmp_path, case):
    texts = CC_NET_CASES[case]
    assert ours(texts) == theirs(texts, tmp_path)


def test_cc_net_keeps_the_first_copy_of_a_line_repeated_inside_one_document(cc_net, tmp_path):
    texts = CC_NET_CASES["repeat_inside_one_doc"]
    # "Menu", "MENU 2" and "Menu 7" normalise alike ("menu", "menu 0"): two keys, first copies kept.
    expected = ("Menu\nA first real sentence.\nMENU 2\nA last real sentence.", [0, 1, 3, 5], 6)
    assert ours(texts)[0] == theirs(texts, tmp_path)[0] == expected
    # Our earlier semantics stay available by name: every copy goes.
    assert ours(texts, repeats_in_doc=DROP_ALL)[0] == ("A first real sentence.\nA last real sentence.", [1, 5], 6)


def test_min_len_applies_to_the_raw_page_before_dedup(cc_net, tmp_path):
    boiler = "Subscribe to our newsletter for weekly updates"
    long_page = "\n".join([boiler, "x" * 280])
    short_page = "\n".join([boiler, "A short page."])  # < 300 chars: never mined, contributes no key
    texts = [long_page, short_page]
    assert ours(texts, min_len=300) == theirs(texts, tmp_path, min_len=300)
    assert ours(texts, min_len=300)[0] == (long_page, [0, 1], 2)  # the boilerplate line survives
    assert ours(texts, min_len=300)[1] is None


@pytest.mark.shared_corpus("cc/whirlwind.warc.wet.gz")
def test_identical_to_cc_net_on_shared_wet_and_warc_text(cc_net, corpus, tmp_path):
    from filters.sources.cc.extract import HtmlExtractor
    from filters.sources.cc.warc import read_warc

    extractor = HtmlExtractor()
    texts = []
    for path in [*sorted((corpus / "cc-pages").glob("*.warc.gz")), *sorted((corpus / "cc").glob("*.warc*.gz"))]:
        with open(path, "rb") as fh:
            for item in read_warc(str(path), fh):
                if getattr(item, "text", None):
                    doc = extractor(item) if item.meta.get("format") == "html" else item
                    if getattr(doc, "text", None):
                        texts.append(doc.text)
    assert len(texts) > 250
    expected = theirs(texts, tmp_path, min_len=300)
    assert ours(texts, min_len=300) == expected
    kept = [e for e in expected if e is not None]
    assert 100 < len(kept) < len(texts)
    assert any(len(e[1]) < e[2] for e in kept)  # lines were removed


def test_remove_lines_keeps_cc_net_bookkeeping():
    text = "Menu\nReal sentence one.\n\nCookie banner\nReal sentence two."
    keys = line_keys(text)
    result = remove_lines(text, keys, {line_key("Menu"), line_key("Cookie banner"), line_key("")})
    assert result.text == "Real sentence one.\nReal sentence two."
    assert result.line_ids == (1, 4)
    assert (result.original_nlines, result.original_length) == (5, len(text))
    assert result.annotations() == {
        "original_nlines": 5, "original_length": len(text), "nlines": 2, "length": len(result.text), "line_ids": [1, 4],
    }


def test_remove_lines_rejects_mismatched_keys():
    with pytest.raises(ValueError):
        remove_lines("a\nb", [line_key("a")], set())


def test_drop_reasons():
    assert drop_reason(remove_lines("x", line_keys("x"), {line_key("x")}), 0) == EMPTY_AFTER_DEDUP
    assert drop_reason(remove_lines("short", line_keys("short"), set()), 300) == TOO_SHORT
    long_text = "word " * 70
    assert drop_reason(remove_lines(long_text, line_keys(long_text), set()), 300) is None


def test_files_are_grouped_by_snapshot_and_by_cc_net_style_file_groups():
    paths = [
        "gs://b/crawl-data/CC-MAIN-2023-06/segments/1674764494936.89/wet/CC-MAIN-20230126210844-20230127000844-00001.warc.wet.gz",
        "gs://b/crawl-data/CC-MAIN-2023-06/segments/1674764494936.89/wet/CC-MAIN-20230126210844-20230127000844-00000.warc.wet.gz",
        "gs://b/crawl-data/CC-MAIN-2023-06/segments/1674764494936.89/wet/CC-MAIN-20230126210844-20230127000844-00002.warc.wet.gz",
        "/data/crawl-data/CC-MAIN-2019-30/segments/1/wet/CC-MAIN-20190715175205-20190715200159-00000.warc.wet.gz",
        "/data/resiliparse-CC-MAIN-2020-34-sample.warc.gz",
        "/data/whirlwind.warc.gz",
    ]
    assert snapshot_of(paths[0]) == "2023-06"
    groups = file_groups(paths, "snapshot")
    assert groups == {
        "CC-MAIN-20230126210844-20230127000844-00000.warc.wet.gz": "2023-06",
        "CC-MAIN-20230126210844-20230127000844-00001.warc.wet.gz": "2023-06",
        "CC-MAIN-20230126210844-20230127000844-00002.warc.wet.gz": "2023-06",
        "CC-MAIN-20190715175205-20190715200159-00000.warc.wet.gz": "2019-30",
        "resiliparse-CC-MAIN-2020-34-sample.warc.gz": "2020-34",
        "whirlwind.warc.gz": "unknown",
    }
    pairs = file_groups(paths, "snapshot", group_files=2)
    assert [pairs[f"CC-MAIN-20230126210844-20230127000844-0000{i}.warc.wet.gz"] for i in range(3)] == [
        "2023-06/0", "2023-06/0", "2023-06/1"]
    assert set(file_groups(paths, "global").values()) == {""}
    assert group_of("whirlwind.warc.gz", groups, "global") == ""
    assert group_of("not-listed-CC-MAIN-2021-04.warc.gz", groups, "snapshot") == "2021-04"
    with pytest.raises(ValueError, match="two dedup groups"):
        file_groups(["/a/CC-MAIN-2023-06/x.warc.gz", "/b/CC-MAIN-2019-30/x.warc.gz"], "snapshot")


def test_empty_text_has_no_lines_and_is_dropped_like_cc_net(cc_net, tmp_path):
    assert line_keys("") == []
    assert drop_reason(remove_lines("", [], set()), 0) == EMPTY_AFTER_DEDUP
    texts = ["", "\n", "Some text."]
    assert ours(texts) == theirs(texts, tmp_path) == [None, ("", [0], 2), ("Some text.", [0], 1)]
