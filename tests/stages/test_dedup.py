"""Near-duplicate and exact dedup as Beam transforms, on real text; cross-source wiring."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from filters.document import Document
from filters.exact_dedup import REASON_DUPLICATE_FILE, REASON_DUPLICATE_URL, REASON_EXACT_DUPLICATE
from filters.minhash import MinHasher, band_keys, estimated_jaccard, jaccard, shingles
from mixtures.config import MinHashConfig, config_from_dict
from pipeline import runner
from stages.dedup import (
    REASON_NEAR_DUPLICATE,
    DedupExact,
    DedupNearDuplicates,
    exact_content_dedup,
    file_dedup,
    url_dedup,
)

# Few rounds keep the Beam graphs small; every graph here converges in far fewer.
CFG = MinHashConfig(max_rounds=8)


@pytest.fixture(scope="module")
def paragraphs(corpus) -> list[str]:
    """Real paragraphs of 120+ words from Frankenstein (body only)."""
    text = (corpus / "books" / "84-0-frankenstein-body-only.txt").read_text(encoding="utf-8")
    paras = [" ".join(p.split()) for p in text.split("\n\n")]
    return [p for p in paras if len(p.split()) >= 120][:40]


def _edit(text: str, edits: int, seed: int) -> str:
    words = text.split()
    rng = random.Random(seed)
    for _ in range(edits):
        words[rng.randrange(len(words))] = f"edited{rng.randrange(10**6)}"
    return " ".join(words)


def _dropped_view(doc: Document) -> tuple:
    return doc.id, doc.annotations["dropped"]["reason"], doc.annotations["minhash"]["kept_id"], \
        doc.annotations["minhash"]["cluster_size"]


def test_near_dedup_keeps_smallest_id_of_each_cluster(paragraphs):
    p0, p1, p2 = paragraphs[0], paragraphs[1], paragraphs[2]
    docs = [
        Document("b-orig", p0, "books"),
        Document("a-copy", _edit(p0, 2, 1), "books"),          # smallest id of cluster {a, b, c}
        Document("c-copy", _edit(_edit(p0, 2, 1), 2, 2), "books"),
        Document("d-single", p1, "books"),
        Document("e-orig", p2, "books"),
        Document("f-copy", _edit(p2, 1, 3), "books"),
        Document("g-empty", "", "books"),                        # no words: never a duplicate
        Document("h-empty", "  ", "books"),
    ]
    assert jaccard(shingles(p0), shingles(docs[2].text)) > 0.8
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs, reshuffle=False) | DedupNearDuplicates(CFG)
        assert_that(out["docs"] | "kept ids" >> beam.Map(lambda d: d.id),
                    equal_to(["a-copy", "d-single", "e-orig", "g-empty", "h-empty"]), label="kept")
        assert_that(out["dropped"] | "view" >> beam.Map(_dropped_view), equal_to([
            ("b-orig", REASON_NEAR_DUPLICATE, "a-copy", 3),
            ("c-copy", REASON_NEAR_DUPLICATE, "a-copy", 3),
            ("f-copy", REASON_NEAR_DUPLICATE, "e-orig", 2),
        ]), label="dropped")
        # Every string signs: nothing here is bad data (a text that is no string fails the
        # run instead, see test_undeclared_errors_fail_the_run_naming_step_and_record).
        assert_that(out["quarantine"], equal_to([]), label="quarantine")
        assert_that(out["docs"] | "keeper annotation" >> beam.Filter(lambda d: "minhash" in d.annotations)
                    | beam.Map(lambda d: (d.id, d.annotations["minhash"])),
                    equal_to([("a-copy", {"kept_id": "a-copy", "cluster_size": 3}),
                              ("e-orig", {"kept_id": "e-orig", "cluster_size": 2})]), label="keepers")
    counters = {c.key.metric.name: c.committed for c in p.result.metrics().query(
        MetricsFilter().with_namespace("minhash"))["counters"]}
    assert counters["dropped.near_duplicate"] == 3
    assert counters["kept"] == 5
    assert counters["no_shingles"] == 2
    assert counters.get("quarantined", 0) == 0


def test_near_dedup_finds_the_two_frankenstein_editions(corpus):
    books = corpus / "books"
    docs = [
        Document("books/frankenstein-pg", (books / "84-0-frankenstein-cp1252.txt").read_text(encoding="cp1252"),
                 "books"),
        Document("books/frankenstein-body", (books / "84-0-frankenstein-body-only.txt").read_text(encoding="utf-8"),
                 "books"),
        Document("books/peter-pan", (books / "16-0-peter-pan.txt").read_text(encoding="utf-8-sig"), "books"),
    ]
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs, reshuffle=False) | DedupNearDuplicates(CFG)
        assert_that(out["docs"] | beam.Map(lambda d: d.id),
                    equal_to(["books/frankenstein-body", "books/peter-pan"]), label="kept")
        assert_that(out["dropped"] | beam.Map(_dropped_view),
                    equal_to([("books/frankenstein-pg", REASON_NEAR_DUPLICATE, "books/frankenstein-body", 2)]),
                    label="dropped")


def _candidate_pair(paragraphs, cfg):
    """Two real paragraphs at J ≈ 0.5 that share a band under ``cfg`` (found, not assumed)."""
    hasher = MinHasher(cfg)
    for seed in range(200):
        a = paragraphs[5]
        b = _edit(a, 12, seed)
        sa, sb = hasher.signature(a).hashvalues, hasher.signature(b).hashvalues
        if set(band_keys(sa, cfg.bands, cfg.rows)) & set(band_keys(sb, cfg.bands, cfg.rows)):
            return a, b, estimated_jaccard(sa, sb)
    raise AssertionError("no candidate pair found")


def test_verify_threshold_removes_low_similarity_candidates(paragraphs):
    # 36 bands of 4 rows make J ≈ 0.5 pairs candidates most of the time.
    loose = dataclasses.replace(CFG, bands=36, rows=4)
    a, b, est = _candidate_pair(paragraphs, loose)
    assert est < 0.8
    docs = [Document("x1", a, "t"), Document("x2", b, "t")]
    with beam.Pipeline(runner="FnApiRunner") as p:
        unverified = p | "unverified" >> beam.Create(docs, reshuffle=False) | "u" >> DedupNearDuplicates(loose)
        verified = p | "verified" >> beam.Create(docs, reshuffle=False) | "v" >> DedupNearDuplicates(
            dataclasses.replace(loose, verify_threshold=0.8))
        assert_that(unverified["docs"] | "u ids" >> beam.Map(lambda d: d.id), equal_to(["x1"]), label="u kept")
        assert_that(verified["docs"] | "v ids" >> beam.Map(lambda d: d.id), equal_to(["x1", "x2"]), label="v kept")
    counters = {c.key.metric.name: c.committed for c in p.result.metrics().query(
        MetricsFilter().with_namespace("minhash"))["counters"]}
    assert counters["rejected_edges"] == 1


# ---------------------------------------------------------------------------------------
# Exact dedup.


def _explode(doc: Document) -> str:
    if doc.id == "boom":
        raise ValueError("no key for you")
    return doc.text


def test_exact_content_dedup_keeps_smallest_id():
    docs = [Document("c", "same text", "cc"), Document("a", "same text", "cc"), Document("b", "same text", "cc"),
            Document("d", "other text", "cc")]
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs, reshuffle=False) | exact_content_dedup()
        assert_that(out["docs"] | beam.Map(lambda d: (d.id, d.annotations.get("exact_dedup"))),
                    equal_to([("a", {"kept_id": "a", "cluster_size": 3}), ("d", None)]), label="kept")
        assert_that(out["dropped"] | beam.Map(lambda d: (d.id, d.annotations["dropped"]["reason"],
                                                         d.annotations["exact_dedup"]["kept_id"])),
                    equal_to([("b", REASON_EXACT_DUPLICATE, "a"), ("c", REASON_EXACT_DUPLICATE, "a")]),
                    label="dropped")


def test_url_dedup_normalises_like_c4_and_keeps_pages_without_url():
    docs = [
        Document("cc/2", "page v2", "cc", {"url": "https://www.example.org/news/?utm_source=feed"}),
        Document("cc/1", "page v1", "cc", {"url": "http://example.org/news"}),
        Document("cc/3", "other", "cc", {"url": "https://example.org/news?id=2"}),
        Document("cc/4", "no url", "cc", {}),
    ]
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(docs, reshuffle=False) | url_dedup()
        assert_that(out["docs"] | beam.Map(lambda d: d.id), equal_to(["cc/1", "cc/3", "cc/4"]), label="kept")
        assert_that(out["dropped"] | beam.Map(lambda d: (d.id, d.annotations["dropped"]["reason"])),
                    equal_to([("cc/2", REASON_DUPLICATE_URL)]), label="dropped")


def test_file_dedup_ignores_line_endings_and_quarantines_key_errors():
    docs = [Document("gh/b", "x = 1\r\ny = 2\r\n", "github"), Document("gh/a", "x = 1\ny = 2\n", "github")]
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | "files" >> beam.Create(docs, reshuffle=False) | "file dedup" >> file_dedup()
        assert_that(out["docs"] | "f kept" >> beam.Map(lambda d: d.id), equal_to(["gh/a"]), label="files kept")
        assert_that(out["dropped"] | "f dropped" >> beam.Map(lambda d: (d.id, d.annotations["dropped"]["reason"])),
                    equal_to([("gh/b", REASON_DUPLICATE_FILE)]), label="files dropped")
        bad = p | "bad" >> beam.Create([Document("boom", "t", "x", {"file": "f.gz", "record": 3}),
                                        Document("ok", "t", "x")], reshuffle=False)
        out2 = bad | "custom" >> DedupExact(_explode, "custom_duplicate", "custom", data_errors=(ValueError,))
        assert_that(out2["docs"] | "c kept" >> beam.Map(lambda d: d.id), equal_to(["ok"]), label="custom kept")
        assert_that(out2["quarantine"] | "c q" >> beam.Map(lambda r: (r["file"], r["record"], r["error"])),
                    equal_to([("f.gz", "3", "ValueError: no key for you")]), label="custom quarantine")


def test_undeclared_errors_fail_the_run_naming_step_and_record():
    # A key function's exception it does not declare is a bug: the run stops, it is not quarantined.
    with pytest.raises(Exception, match=r"step custom failed on document boom \(f.gz record 3\).*ValueError"):
        with beam.Pipeline(runner="FnApiRunner") as p:
            _ = (p | beam.Create([Document("boom", "t", "x", {"file": "f.gz", "record": 3})])
                 | DedupExact(_explode, "custom_duplicate", "custom"))
    # No reader yields a text that is not a string: MinHash's TypeError is a bug too.
    with pytest.raises(Exception, match=r"step minhash failed on document n-bad .*TypeError"):
        with beam.Pipeline(runner="FnApiRunner") as p:
            _ = p | beam.Create([Document("n-bad", None, "books")]) | DedupNearDuplicates(CFG)


# ---------------------------------------------------------------------------------------
# Cross-source wiring through the real runner (stats must reconcile per source).


def _write_sources(tmp_path, paragraphs):
    web_a = tmp_path / "web_a"
    web_b = tmp_path / "web_b"
    web_a.mkdir()
    web_b.mkdir()
    # web_a: 4 paragraphs + a near copy of paragraph 1 (a within-source duplicate)
    (web_a / "part.txt").write_text("\n".join(paragraphs[:4] + [_edit(paragraphs[1], 2, 9)]) + "\n")
    # web_b: a near copy of paragraph 3 (a cross-source duplicate) + 2 new paragraphs
    (web_b / "part.txt").write_text("\n".join([_edit(paragraphs[3], 2, 8)] + paragraphs[10:12]) + "\n")


def _run_web(tmp_path, scope):
    cfg = config_from_dict({
        "output": str(tmp_path / f"out-{scope}"),
        "minhash": {"scope": scope, "max_rounds": 8},
        "shards": {"num_shards": 1},
        "sources": {"web_a": {"kind": "lines", "inputs": [str(tmp_path / "web_a" / "*.txt")]},
                    "web_b": {"kind": "lines", "inputs": [str(tmp_path / "web_b" / "*.txt")]}},
    })
    results = {r.name: r.stats for r in runner.run_sources(cfg, ["web_a", "web_b"])}
    dropped = {}
    for name in ("web_a", "web_b"):
        lines = []
        for shard in sorted((Path(cfg.output) / name / "dropped").glob("*.jsonl.gz")):
            lines += gzip.decompress(shard.read_bytes()).decode().splitlines()
        dropped[name] = sorted((json.loads(x)["annotations"]["minhash"]["kept_id"].split("/")[0]) for x in lines)
    return results, dropped


def test_global_scope_dedups_across_sources(tmp_path, paragraphs, toy_source):
    _write_sources(tmp_path, paragraphs)
    stats, dropped = _run_web(tmp_path, "global")
    assert stats["web_a"]["documents_in"] == 5 and stats["web_b"]["documents_in"] == 3
    # the within-source pair and the cross-source pair each lose one document; the keeper
    # of the cross-source pair is the smaller id, "web_a/..." < "web_b/..."
    assert stats["web_a"]["dropped"] == {"near_duplicate": 1}
    assert stats["web_b"]["dropped"] == {"near_duplicate": 1}
    assert dropped == {"web_a": ["web_a"], "web_b": ["web_a"]}
    assert stats["web_a"]["reconciled"] and stats["web_b"]["reconciled"]


def test_source_scope_dedups_each_source_alone(tmp_path, paragraphs, toy_source):
    _write_sources(tmp_path, paragraphs)
    stats, _ = _run_web(tmp_path, "source")
    assert stats["web_a"]["dropped"] == {"near_duplicate": 1}
    assert stats["web_b"]["dropped"] == {}
    assert stats["web_b"]["documents_out"] == 3


# ---------------------------------------------------------------------------------------
# Determinism: same kept set across runs and worker counts.


def _kept_ids(docs, out_dir: Path, extra_args: list[str]) -> list[str]:
    options = PipelineOptions(["--runner=FnApiRunner", *extra_args])
    with beam.Pipeline(options=options) as p:
        out = p | beam.Create(docs) | DedupNearDuplicates(CFG)
        (out["docs"] | "kept ids" >> beam.Map(lambda d: d.id)
         | beam.io.WriteToText(str(out_dir / "kept"), num_shards=1, shard_name_template=""))
    return sorted((out_dir / "kept").read_text().split())


def test_kept_set_is_the_same_across_runs_and_worker_counts(tmp_path, paragraphs):
    docs = []
    for i, text in enumerate(paragraphs[:12]):
        docs.append(Document(f"d/{i:02d}", text, "t"))
        for k in range(i % 3):  # 0, 1 or 2 near copies, ids interleaved with the originals
            docs.append(Document(f"d/{(i * 7 + k * 13) % 97:02d}x", _edit(text, 2, i * 10 + k), "t"))
    runs = []
    for n, extra in enumerate([[], [], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]]):
        out_dir = tmp_path / f"run{n}"
        out_dir.mkdir()
        runs.append(_kept_ids(docs, out_dir, extra))
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0]) == 12


def test_only_recipes_with_near_dedup_share_a_pipeline_and_only_under_global_scope():
    names = ["cc", "c4", "wiki", "gh"]
    sources = {"cc": {"kind": "cc"}, "c4": {"kind": "c4"}, "wiki": {"kind": "wikipedia"}, "gh": {"kind": "github"}}
    glob = config_from_dict({"minhash": {"scope": "global"}, "perplexity": {"enabled": False}, "sources": sources})
    assert runner.plan_pipelines(glob, names) == [["cc", "c4"], ["wiki"], ["gh"]]
    per_source = dataclasses.replace(glob, minhash=MinHashConfig(scope="source"))
    assert runner.plan_pipelines(per_source, names) == [["cc"], ["c4"], ["wiki"], ["gh"]]
    disabled = dataclasses.replace(glob, minhash=MinHashConfig(enabled=False))
    assert runner.plan_pipelines(disabled, names) == [["cc"], ["c4"], ["wiki"], ["gh"]]
