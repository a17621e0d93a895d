"""The two real near-duplicate pairs of cc-pages (cc-pages/README.md), through DedupNearDuplicates.

adac.de (two captures of one URL) is a near-copy with our extractor (J ≈ 0.91) and the default
config catches it. beltz.de (one site template) has J ≈ 0.40: below what a J ≥ 0.8 config may
catch, so the default keeps both, and the documented loose config (48 × 3 bands, verified at
estimated J ≥ 0.35; see bench/dedup_quality.py) catches both pairs.
"""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest

from filters.document import Document
from filters.extract import html_to_text
from filters.minhash import jaccard, shingles
from filters.warc import decode_html
from mixtures.config import MinHashConfig
from stages.dedup import DedupNearDuplicates

ADAC = ("adac.de.kindersitztest", "adac.de.kindersitze")
BELTZ = ("beltz.de.12wege", "beltz.de.didakta")
LOOSE = MinHashConfig(num_perm=144, bands=48, rows=3, verify_threshold=0.35)


@pytest.fixture(scope="module")
def pages(corpus) -> list[Document]:
    from warcio.archiveiterator import ArchiveIterator

    manifest = {}
    for line in (corpus / "cc-pages" / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        manifest[entry["record_id"]] = entry
    docs = []
    for warc in sorted((corpus / "cc-pages").glob("*.warc.gz")):
        with warc.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response":
                    continue
                entry = manifest[record.rec_headers.get_header("WARC-Record-ID")]
                html, _, _ = decode_html(record.content_stream().read(),
                                         record.http_headers.get_header("Content-Type") or "")
                name = Path(entry["path"]).name.removesuffix(".html")
                docs.append(Document(f"cc-pages/{name}", html_to_text(html)[0], "cc", {}))
    return docs


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
    return f"cc-pages/{name}"


def test_the_pairs_have_the_similarity_the_docstring_states(pages):
    text = {d.id: d.text for d in pages}
    for (a, b), low, high in ((ADAC, 0.8, 1.0), (BELTZ, 0.3, 0.5)):
        j = jaccard(shingles(text[_id(a)], 5), shingles(text[_id(b)], 5))
        assert low <= j <= high, (a, b, j)


def test_default_config_catches_the_adac_capture_pair_only(pages, tmp_path):
    pairs = _dropped_pairs(pages, MinHashConfig(), tmp_path)
    flat = {x for pair in pairs for x in pair}
    assert {_id(ADAC[0]), _id(ADAC[1])} <= flat
    assert not {_id(BELTZ[0]), _id(BELTZ[1])} & flat


def test_loose_config_catches_both_real_pairs(pages, tmp_path):
    pairs = _dropped_pairs(pages, LOOSE, tmp_path)
    for a, b in (ADAC, BELTZ):
        keeper, dropped = sorted((_id(a), _id(b)))
        assert (dropped, keeper) in pairs
