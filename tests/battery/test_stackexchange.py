"""Bad-input battery, StackExchange: damaged copies of the real Conlang Meta ``Posts.xml``.

The site is the dump folder's name, so each damaged copy lives in its own folder (its own
"site") next to the untouched Coffee dump; one pipeline run reads them all.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from filters.sources.stackexchange.config import StackExchangeConfig
from filters.sources.stackexchange.reader import StackExchangeReader
from tests.battery.harness import BatchRun, assert_sound, billion_laughs, finishes, run_batch

CONLANG = "conlang.meta.stackexchange.com"
COFFEE = "coffee.stackexchange.com"
_ROW = re.compile(rb"  <row [^\n]*/>\r?\n")


def _attr(row: bytes, name: str) -> str | None:
    match = re.search(rb' %s="([^"]*)"' % name.encode(), row)
    return match.group(1).decode() if match else None


def _without(row: bytes, name: str) -> bytes:
    return re.sub(rb' %s="[^"]*"' % name.encode(), b"", row, count=1)


@dataclass
class Posts:
    """Questions, answers by parent and other posts of a ``Posts.xml``, from its rows."""

    questions: set[int] = field(default_factory=set)
    answers: dict[int, set[int]] = field(default_factory=dict)  # question id → answer ids
    other: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, rows: list[bytes]) -> Posts:
        posts = cls()
        for row in rows:
            post_id, kind = int(_attr(row, "Id")), _attr(row, "PostTypeId")
            if kind == "1":
                posts.questions.add(post_id)
            elif kind == "2":
                posts.answers.setdefault(int(_attr(row, "ParentId")), set()).add(post_id)
            else:
                posts.other.add(post_id)
        return posts

    def orphans(self, questions: set[int]) -> set[int]:
        return {a for q, ids in self.answers.items() if q not in questions for a in ids}


@dataclass
class SeBatch:
    run: BatchRun
    conlang: Posts
    damaged_questions: set[int]
    damaged_answer: int
    damaged_lines: dict[str, int]
    cut_questions: set[int]


def site(run: BatchRun, name: str) -> dict[str, list[dict]]:
    """Docs, dropped and quarantine records of one site (= dump folder)."""
    return {
        "docs": [d for d in run.docs if d["meta"]["site"] == name],
        "dropped": [d for d in run.dropped if d["meta"]["site"] == name],
        "quarantine": [q for q in run.quarantine if os.path.basename(os.path.dirname(q["file"])) == name],
    }


@pytest.fixture(scope="module")
def se(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> SeBatch:
    root = tmp_path_factory.mktemp("battery-stackexchange")
    inputs = root / "in"
    original = (corpus / "stackexchange" / CONLANG / "Posts.xml").read_bytes()
    rows = _ROW.findall(original)
    head = original[: original.index(rows[0])]
    tail = original[original.index(rows[-1]) + len(rows[-1]):]
    posts = Posts.of(rows)

    def write(folder: str, data: bytes) -> None:
        (inputs / folder).mkdir(parents=True)
        (inputs / folder / "Posts.xml").write_bytes(data)

    write(COFFEE, (corpus / "stackexchange" / COFFEE / "Posts.xml").read_bytes())  # untouched (case 25)

    # 11. Rows missing Id, PostTypeId, Body: two questions with answers and one answer.
    answered = sorted(q for q in posts.questions if posts.answers.get(q))
    no_id_q, no_body_q = answered[1], answered[2]
    no_type_a = min(posts.answers[answered[3]])
    damaged = []
    lines: dict[str, int] = {}
    line = head.count(b"\n") + 1
    for row in rows:
        post_id = int(_attr(row, "Id"))
        if post_id == no_id_q:
            row = _without(row, "Id")
            lines["no_id"] = line
        elif post_id == no_body_q:
            row = _without(row, "Body")
        elif post_id == no_type_a:
            row = _without(row, "PostTypeId")
        damaged.append(row)
        line += row.count(b"\n")
    write("missing-attrs.stackexchange.com", head + b"".join(damaged) + tail)

    # 9. Entity-expansion bomb in front of the real rows.
    body = original.removeprefix(b"\xef\xbb\xbf")
    body = body[body.index(b"?>") + 2:].replace(b'Body="', b'Body="&lol9; ', 1)
    write("laughs.stackexchange.com", billion_laughs(body.lstrip(), root="posts"))

    # 6. Empty file; and a dump cut in the middle of a row.
    write("empty.stackexchange.com", b"")
    cut_at = original.index(rows[80]) + len(rows[80]) // 2
    write("cut.stackexchange.com", original[:cut_at])

    run = run_batch(root, "stackexchange", [str(inputs)], watch=[corpus / "stackexchange"])
    return SeBatch(run, posts, {no_id_q, no_body_q}, no_type_a, lines, Posts.of(rows[:80]).questions)


def _question_ids(part: dict[str, list[dict]]) -> set[int]:
    return {d["meta"]["question_id"] for d in part["docs"]}


def _dropped(part: dict[str, list[dict]], reason: str) -> set[int]:
    return {d["meta"]["post_id"] for d in part["dropped"] if d["annotations"]["dropped"]["reason"] == reason}


def test_stats_reconcile_and_nothing_written_outside_the_output(se):
    assert_sound(se.run)


def test_untouched_dump_in_a_folder_of_bad_ones_is_read_fully(se, corpus):  # case 25
    data = (corpus / "stackexchange" / COFFEE / "Posts.xml").read_bytes()
    coffee = Posts.of(_ROW.findall(data))
    part = site(se.run, COFFEE)
    assert part["quarantine"] == []
    assert _question_ids(part) == coffee.questions and len(coffee.questions) == 225
    assert _dropped(part, "tag_wiki") == coffee.other
    answers = {a for d in part["docs"] for a in d["meta"]["answer_ids"]}
    assert answers | _dropped(part, "orphan_answer") == {a for ids in coffee.answers.values() for a in ids}


def test_rows_missing_attributes_are_quarantined_by_row(se):  # case 11
    part = site(se.run, "missing-attrs.stackexchange.com")
    by_record = {q["record"].split("Posts.xml ", 1)[1]: q["error"] for q in part["quarantine"]}
    assert by_record == {
        f"row without Id at line {se.damaged_lines['no_id']}": "missing attribute(s) ['Id']",
        f"row Id={se.damaged_answer}": "attribute PostTypeId missing or not an integer: None",
        f"row Id={sorted(se.damaged_questions)[1]}": "missing attribute(s) ['Body']",
    }
    posts = se.conlang
    kept = posts.questions - se.damaged_questions
    assert _question_ids(part) == kept
    # Answers of the two lost questions are not lost silently: they drop as orphans.
    assert _dropped(part, "orphan_answer") == posts.orphans(kept)
    assert posts.orphans(kept) >= posts.answers[min(se.damaged_questions)]
    assert _dropped(part, "tag_wiki") == posts.other
    answers = {a for d in part["docs"] for a in d["meta"]["answer_ids"]}
    every_answer = {a for ids in posts.answers.values() for a in ids}
    assert answers == every_answer - posts.orphans(kept) - {se.damaged_answer}


def test_billion_laughs_posts_are_refused_unexpanded(se):  # case 9
    part = site(se.run, "laughs.stackexchange.com")
    [record] = part["quarantine"]
    assert record["record"] == "after row Id=none"
    assert record["error"] == ("BadRecord: entity declarations are not allowed in a DOCTYPE "
                               "(entity expansion is disabled)")
    assert part["docs"] == [] and part["dropped"] == []
    data = (se.run.root / "in" / "laughs.stackexchange.com" / "Posts.xml").read_bytes()
    reader = StackExchangeReader("stackexchange", StackExchangeConfig())
    assert finishes(lambda: list(reader("laughs/Posts.xml", io.BytesIO(data))))


def test_empty_posts_file_is_quarantined(se):  # case 6
    part = site(se.run, "empty.stackexchange.com")
    [record] = part["quarantine"]
    assert record["error"] == "ExpatError: no element found: line 1, column 0"
    assert part["docs"] == [] and part["dropped"] == []


def test_dump_cut_mid_row_keeps_the_rows_before(se):
    part = site(se.run, "cut.stackexchange.com")
    [record] = part["quarantine"]
    # The cut row alone, by its Id and line (the row is parsed on its own).
    assert record["error"] == "malformed XML (unclosed token)"
    assert " row Id=" in record["record"] and " at line " in record["record"]
    assert _question_ids(part) == se.cut_questions and len(se.cut_questions) >= 20

