"""``pasture models quality`` end to end on the real samples."""

from __future__ import annotations

import hashlib
import json

import yaml

from mixtures.config import QualityConfig, QualityTrainingConfig
from pipeline import cli
from pipeline.commands.models_quality import quality_options
from pipeline.training.quality import TrainingOptions

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


def test_settings_come_from_the_config_tree_and_flags_override(tmp_path, corpus, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "quality": {"model": str(tmp_path / "q" / "quality.bin"), "threshold": 0.4},
        "models": {"quality": {"epoch": 2, "seed": 3, "lr": 0.3, "min_chars": 200, "heldout_fraction": 0.3,
                               "max_wiki_articles": 10}},
    }))
    code = cli.main([
        "models", "quality", "--positives", str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2"),
        "--negatives", str(corpus / "cc" / UKWA), "--config", str(config), "--epoch", "4", "--threshold", "0.3",
    ])
    assert code == 0
    capsys.readouterr()
    # The model goes where the config's filter loads it from; flags win over the file.
    metrics = json.loads((tmp_path / "q" / "quality.bin.metrics.json").read_text())
    assert {k: metrics["config"][k] for k in ("epoch", "seed", "lr", "dim", "min_chars", "heldout_fraction",
                                              "max_wiki_articles", "max_negatives")} == {
        "epoch": 4, "seed": 3, "lr": 0.3, "dim": 100, "min_chars": 200, "heldout_fraction": 0.3,
        "max_wiki_articles": 10, "max_negatives": 100_000}
    assert metrics["heldout"]["threshold"] == metrics["config"]["threshold"] == 0.3


def test_options_default_to_the_config_tree_and_bad_values_are_usage_errors(tmp_path, capsys):
    parser = cli.build_parser()
    base = ["models", "quality", "--positives", "p.xml", "--negatives", "n.warc.gz"]
    options, output = quality_options(parser.parse_args([*base, "--output", "m.bin"]))
    assert options == TrainingOptions() and output == "m.bin"
    assert TrainingOptions() == TrainingOptions.from_config(QualityTrainingConfig(), QualityConfig())
    options, _ = quality_options(parser.parse_args([*base, "--output", "m.bin", "--seed", "9", "--dim", "50",
                                                    "--max-negatives", "10", "--heldout", "0.5", "--lr", "1.0"]))
    assert (options.seed, options.dim, options.max_negatives, options.heldout_fraction, options.lr) == \
        (9, 50, 10, 0.5, 1.0)
    assert cli.main([*base, "--output", str(tmp_path / "m.bin"), "--heldout", "1.5"]) == 2
    assert "models.quality.heldout_fraction must be in (0, 1)" in capsys.readouterr().err
    assert cli.main(base) == 2
    assert "give --output or --config FILE (its quality.model)" in capsys.readouterr().err


def test_web_examples_go_through_the_ccnet_line_steps_the_filter_scores_after(corpus):
    """A line two pages share (a site's footer) leaves both, as line dedup removes it at run time."""
    from pipeline.training.quality import ccnet_line_steps, iter_web_pages

    pages = [p.text for p in iter_web_pages([str(corpus / "cc" / UKWA)]) if len(p.text) >= 300][:3]
    footer = next(line for line in pages[2].split("\n") if len(line.strip()) > 20)
    a, b = f"{pages[0]}\n{footer}", f"{pages[1]}\n{footer}"
    processed = ccnet_line_steps([a, b, "too short"])
    assert processed[2] is None  # cc_net's 300-character rule on the raw page
    for after in processed[:2]:
        assert after is not None and footer not in after.split("\n")
    once = "A line repeated in one page only keeps its first copy."
    [kept] = ccnet_line_steps([f"{once}\nmiddle line of the page\n{once}\n" + "x" * 300])
    assert kept.count(once) == 1
