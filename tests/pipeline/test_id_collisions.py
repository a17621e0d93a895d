"""Id collisions (issue 17.2): a second document with an id already seen is quarantined,
naming both locations, and the copy kept never depends on worker count or input order.

The safety net sits in the document sink (stages.sinks): every copy of an id hashes to the
same shard, which is sorted by id before it is written.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

from filters.document import Document
from mixtures.config import config_from_dict
from pipeline.runner import run_sources
from stages.sinks import ID_COLLISION_STAGE, split_id_collisions

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"


def _records(folder: Path) -> list[dict]:
    found = []
    for shard in sorted(folder.glob("part-*")):
        found += [json.loads(line) for line in gzip.decompress(shard.read_bytes()).decode().splitlines()]
    return found


def test_the_same_dump_under_two_folders_keeps_one_copy_and_quarantines_the_other(tmp_path):
    # Two snapshots of one wiki: page ids repeat, so document ids do whatever the file names.
    root = tmp_path / "dumps"
    for folder in ("mirror-a", "mirror-b"):
        (root / folder).mkdir(parents=True)
        shutil.copy(SAMPLE, root / folder / SAMPLE.name)
    first, second = (f"{folder}/{SAMPLE.name}" for folder in ("mirror-a", "mirror-b"))  # named inside the root
    cfg = config_from_dict({
        "output": str(tmp_path / "out"), "shards": {"num_shards": 2},
        # Half the documents collide here on purpose; by default that share fails the run.
        "quarantine": {"max_step_share": 1.0},
        "sources": {"wiki": {"kind": "wikipedia", "inputs": [str(root)]}},
    })
    [result] = run_sources(cfg, ["wiki"])
    stats = result.stats
    docs = _records(tmp_path / "out" / "wiki" / "docs")
    quarantine = _records(tmp_path / "out" / "wiki" / "quarantine")
    assert stats["documents_in"] == 4 and stats["reconciled"] is True
    assert stats["documents_out"] == len(docs) == 2
    assert stats["quarantined"] == len(quarantine) == 2
    assert stats["quarantined_by_step"] == {ID_COLLISION_STAGE: 2}
    # The copy from the smaller location (mirror-a) is kept.
    assert {d["meta"]["file"] for d in docs} == {first}
    for record in quarantine:
        assert record["file"] == second and record["stage"] == ID_COLLISION_STAGE
        kept = next(d for d in docs if d["meta"]["record"] == record["record"])
        assert record["error"] == (f"duplicate document id {kept['id']}: also read from {first} record "
                                   f"{record['record']}, which is kept")


def _doc(doc_id: str, file: str, record: int, text: str = "text") -> Document:
    return Document(doc_id, text, "src", {"file": file, "record": record})


def test_split_is_independent_of_input_order():
    docs = [_doc("a", "x/1.warc", 7), _doc("b", "y/1.warc", 3), _doc("b", "x/1.warc", 3, "other text"),
            _doc("b", "x/1.warc", 9), _doc("c", "z", 1)]
    outcomes = set()
    for seed in range(6):
        shuffled = docs[:]
        random.Random(seed).shuffle(shuffled)
        kept, quarantined = split_id_collisions(sorted(shuffled, key=lambda d: d.id))
        outcomes.add((tuple(d.to_json() for d in kept), json.dumps(quarantined)))
    [(kept, quarantined)] = outcomes
    assert [json.loads(d)["meta"] for d in kept] == [
        {"file": "x/1.warc", "record": 7}, {"file": "x/1.warc", "record": 3}, {"file": "z", "record": 1}]
    assert [(q["file"], q["record"]) for q in json.loads(quarantined)] == [("x/1.warc", "9"), ("y/1.warc", "3")]
    assert all("also read from x/1.warc record 3, which is kept" in q["error"] for q in json.loads(quarantined))
