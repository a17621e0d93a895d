"""``pasture models quality`` end to end on the real samples."""

from __future__ import annotations

import hashlib
import json

from pipeline import cli

UKWA = "ukwa-gov.uk-BL-20140325121225068-00000.warc.gz"


def _train(corpus, output, *extra):
    return cli.main([
        "models", "quality",
        "--positives", str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"),
        "--negatives", str(corpus / "cc-pages" / "*.warc.gz"), str(corpus / "cc"),
        "--output", str(output), "--epoch", "30", "--lr", "0.5", "--heldout", "0.2", "--seed", "1", *extra,
    ])


def test_models_quality_writes_model_metrics_and_summary(tmp_path, corpus, capsys):
    """One run checked in full, a second one into another folder gives the same bytes."""
    model = tmp_path / "models" / "quality.bin"
    assert _train(corpus, model) == 0
    out = capsys.readouterr().out
    assert "ROC-AUC" in out and "Wikipedia text" in out and str(model) in out

    metrics = json.loads((tmp_path / "models" / "quality.bin.metrics.json").read_text())
    assert metrics["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    counts = metrics["counts"]
    # The enwiki sample cites 82 URLs; none of them is among the sample's crawled pages.
    assert counts["reference_urls"] == 82
    assert counts["positives"]["reference_pages"] == 0
    assert counts["positives"]["wikipedia_text"] == counts["negatives"] > 50
    assert counts["train"]["positives"] + counts["heldout"]["positives"] == counts["negatives"]
    held = metrics["heldout"]
    assert held["roc_auc"] > 0.9
    assert 0.0 <= held["precision"] <= 1.0 and 0.0 <= held["recall"] <= 1.0
    assert metrics["config"]["seed"] == 1 and metrics["config"]["thread"] == 1
    assert set(metrics["inputs"]) == {"positives", "negatives", "wikipedia"}
    assert all(len(sha) == 64 for role in metrics["inputs"].values() for sha in role.values())

    assert _train(corpus, tmp_path / "again" / "quality.bin") == 0
    again = json.loads((tmp_path / "again" / "quality.bin.metrics.json").read_text())
    for key in ("model_sha256", "training_set_sha256", "heldout", "counts"):
        assert again[key] == metrics[key], key


def _dump_citing(path, urls):
    """A one-article MediaWiki export whose references cite ``urls`` (our fixture)."""
    refs = "".join(
        f"Fact {i}.&lt;ref&gt;{{{{cite web |url={url} |title=Page {i}}}}}&lt;/ref&gt; " for i, url in enumerate(urls))
    path.write_text(
        '<mediawiki xml:lang="en"><siteinfo><dbname>enwiki</dbname><namespaces>'
        '<namespace key="0" /><namespace key="6">File</namespace><namespace key="14">Category</namespace>'
        '</namespaces></siteinfo>'
        "<page><title>Open data in the United Kingdom</title><ns>0</ns><id>7</id>"
        "<revision><id>70</id><timestamp>2014-04-01T00:00:00Z</timestamp>"
        f'<text xml:space="preserve">{refs}</text></revision></page></mediawiki>',
        encoding="utf-8",
    )


def test_cited_pages_become_reference_positives(tmp_path, corpus, capsys):
    # Real data.gov.uk pages of the 2014 crawl, cited with the spelling variants URL
    # normalisation must absorb (www., https, trailing slash, utm_ query).
    dump = tmp_path / "enwiki-cites.xml"
    _dump_citing(dump, ["https://www.data.gov.uk/about/", "http://data.gov.uk/privacy?utm_source=wiki",
                        "http://www.data.gov.uk/faq", "http://data.gov.uk/not-crawled"])
    model = tmp_path / "quality.bin"
    code = cli.main([
        "models", "quality", "--positives", str(dump), "--negatives", str(corpus / "cc" / UKWA),
        "--output", str(model), "--epoch", "5", "--min-chars", "300", "--heldout", "0.3",
    ])
    assert code == 0
    metrics = json.loads((tmp_path / "quality.bin.metrics.json").read_text())
    counts = metrics["counts"]
    assert counts["reference_urls"] == 4
    assert counts["positives"] == {"reference_pages": 3, "wikipedia_text": 0}
    # The article text itself is too short for a chunk; classes are balanced to 3 + 3.
    assert counts["negatives"] == 3
    assert metrics["counts"]["train"]["positives"] + metrics["counts"]["heldout"]["positives"] == 3
    capsys.readouterr()
