"""The two real near-duplicate pairs of cc-pages (cc-pages/README.md), through DedupNearDuplicates.

adac.de (two captures of one URL) is a near-copy with our extractor (J ≈ 0.91) and the default
config catches it. beltz.de (two articles of one site) only ever shared the site's template: with
a whole-page extractor J was ≈ 0.40 and the loose config (48 × 3 bands, verified at estimated
J ≥ 0.35; see bench/dedup_quality.py) dropped one of two different articles. The main-content
extractor leaves the template out, so J ≈ 0 and no config drops either: the right outcome.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import apache_beam as beam
import pytest

from filters.document import Document
from filters.minhash import jaccard, shingles
from mixtures.config import MinHashConfig
from stages.dedup import DedupNearDuplicates

ADAC = ("adac.de.kindersitztest", "adac.de.kindersitze")
BELTZ = ("beltz.de.12wege", "beltz.de.didakta")


def _bench_module():
    """bench/dedup_quality.py: its cc-pages loader and loose config are what this test checks."""
    path = Path(__file__).resolve().parents[2] / "bench" / "dedup_quality.py"
    spec = importlib.util.spec_from_file_location("dedup_quality_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _bench_module()
LOOSE: MinHashConfig = BENCH.LOOSE


@pytest.fixture(scope="module")
def pages(corpus) -> list[Document]:
    return BENCH.cc_pages(corpus)


def _pair(doc: Document) -> str:
    return json.dumps([doc.id, doc.annotations["minhash"]["kept_id"]])


def _dropped_pairs(pages: list[Document], cfg: MinHashConfig, tmp: Path) -> list[tuple[str, str]]:
    """(dropped id, kept id) of every near-duplicate one real Beam run drops."""
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(pages) | DedupNearDuplicates(cfg)
        (out["dropped"] | beam.Map(_pair)
         | beam.io.WriteToText(str(tmp / "pairs"), num_shards=1, shard_name_template=""))
    return [tuple(json.loads(line)) for line in (tmp / "pairs").read_text().split("\n") if line]


def _id(name: str) -> str:
    package = "trafilatura" if name == "adac.de.kindersitze" else "htmldate"
    return f"cc-pages/{package}/{name}"


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_the_pairs_have_the_similarity_the_docstring_states(pages):
    text = {d.id: d.text for d in pages}
    for (a, b), low, high in ((ADAC, 0.8, 1.0), (BELTZ, 0.0, 0.1)):
        j = jaccard(shingles(text[_id(a)], 5), shingles(text[_id(b)], 5))
        assert low <= j <= high, (a, b, j)


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_default_config_catches_the_adac_capture_pair_only(pages, tmp_path):
    pairs = _dropped_pairs(pages, MinHashConfig(), tmp_path)
    flat = {x for pair in pairs for x in pair}
    assert {_id(ADAC[0]), _id(ADAC[1])} <= flat
    assert not {_id(BELTZ[0]), _id(BELTZ[1])} & flat


@pytest.mark.shared_corpus("cc-pages/cc-pages-00001.warc.gz")
def test_loose_config_catches_the_capture_pair_and_keeps_the_two_articles(pages, tmp_path):
    pairs = _dropped_pairs(pages, LOOSE, tmp_path)
    keeper, dropped = sorted((_id(ADAC[0]), _id(ADAC[1])))
    assert (dropped, keeper) in pairs
    assert not {_id(BELTZ[0]), _id(BELTZ[1])} & {x for pair in pairs for x in pair}
