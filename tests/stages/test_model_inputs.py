"""Model training text prepared on Beam (``stages.model_inputs``) against the single-process preparation.

Real data: the first 90 pages of the Ukrainian dump repackaged as Wikimedia publishes a
multistream dump (one bz2 stream per 10 pages, with its ``-index.txt.bz2``), so the dump is
split into byte ranges read by separate units; the English dump and real WARC files for the
quality classifier.
"""

from __future__ import annotations

import bz2
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from filters.sources.wikipedia.config import WikipediaConfig
from pipeline.training.lm import write_lm_text
from pipeline.training.lm_sample import SAMPLE_SEED, SPACE
from pipeline.training.wikipedia_text import iter_articles
from stages.model_inputs import localize_lm_text, prepare_lm_text, prepare_quality_inputs
from tests.pipeline.test_export_beam import _FakeBucket
from tests.pipeline.test_published_wiki_se import _PAGE, UK, _multistream
from tokenizer.sample import sample_key

DUMP = "ukwiki-20230501-pages-articles-multistream.xml.bz2"
INDEX = "ukwiki-20230501-pages-articles-multistream-index.txt.bz2"
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


@pytest.fixture(scope="module")
def multistream(corpus, tmp_path_factory) -> tuple[Path, WikipediaConfig]:
    """The dump and its index in one folder, and reader settings that split it into 4+ units."""
    raw = bz2.decompress((corpus / "wikipedia" / UK).read_bytes())
    dump, index = _multistream(raw[: raw.index(b"  <page>")], _PAGE.findall(raw)[:90], per_stream=10)
    folder = tmp_path_factory.mktemp("uk-multistream")
    (folder / DUMP).write_bytes(dump)
    (folder / INDEX).write_bytes(index)
    return folder, WikipediaConfig(multistream_split_bytes=len(dump) // 4)


def _single_process(tmp: Path, dump: Path, keep=lambda doc: True) -> tuple[bytes, bytes, object]:
    tmp.mkdir()
    docs = (d for d in iter_articles([str(dump)], languages=["uk"]) if keep(d))
    counts = write_lm_text(docs, tmp / "train.txt", tmp / "heldout.txt", 10)
    return (tmp / "train.txt").read_bytes(), (tmp / "heldout.txt").read_bytes(), counts


def _beam(tmp: Path, folder: Path, wiki: WikipediaConfig, beam_args=None, **bounds) -> tuple[bytes, bytes, dict]:
    out = tmp / "text"
    bounds.setdefault("max_bytes", 1 << 40)
    manifest = prepare_lm_text([str(folder / DUMP), str(folder / INDEX)], "uk", str(out), heldout_percent=10,
                               wikipedia=wiki, beam_args=beam_args, **bounds)
    work = tmp / "work"
    work.mkdir()
    train, held = localize_lm_text(str(out), manifest, work)
    return train.read_bytes(), held.read_bytes(), manifest


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_lm_text_prepared_on_beam_is_the_single_process_text_byte_for_byte(multistream, tmp_path):
    folder, wiki = multistream
    train, held, manifest = _beam(tmp_path / "beam", folder, wiki)
    expected_train, expected_held, counts = _single_process(tmp_path / "one", folder / DUMP)
    assert len(manifest["units"]) >= 4  # the index split the dump: every unit wrote its own part
    assert counts.documents == 83 and counts.heldout_paragraphs > 0
    assert train == expected_train and held == expected_held
    assert manifest["counts"] == {"documents": 83, "train_documents": counts.train_documents,
                                  "train_paragraphs": counts.train_paragraphs,
                                  "heldout_paragraphs": counts.heldout_paragraphs, "chars": counts.chars}
    assert manifest["sample"]["rate"] == 1.0 and manifest["sample"]["bytes"] == len(train) + len(held)
    assert manifest["quarantined"] == 0
    # Candidate files are gone; the sample files are listed with their sha256.
    import hashlib

    names = sorted(p.name for p in (tmp_path / "beam" / "text").iterdir())
    assert names == sorted([*manifest["files"], "manifest.json"])
    assert all(hashlib.sha256((tmp_path / "beam" / "text" / n).read_bytes()).hexdigest() == info["sha256"]
               for n, info in manifest["files"].items())


def test_bounded_sample_is_the_smallest_keys_and_the_same_on_two_workers(multistream, tmp_path):
    folder, wiki = multistream
    bound = 300_000  # of 1.56 MB of text
    train, held, manifest = _beam(tmp_path / "one", folder, wiki, max_bytes=bound)
    _beam(tmp_path / "two", folder, wiki, TWO_WORKERS, max_bytes=bound)
    assert _files(tmp_path / "one" / "text") == _files(tmp_path / "two" / "text")  # names, bytes, manifest
    sample = manifest["sample"]
    assert manifest["available"] == {"pages": 83, "bytes": 1_562_867} and sample["beam_runs"] == 1
    # A first key limit that keeps too few candidates: rerun from the exact totals, same sample.
    _, _, short = _beam(tmp_path / "short", folder, wiki, max_bytes=bound, oversample=0.1)
    assert short["sample"]["beam_runs"] > 1
    assert {**short, "sample": None} == {**manifest, "sample": None}
    assert {**short["sample"], "beam_runs": 1} == sample
    assert len(train) + len(held) == sample["bytes"] <= bound
    assert 0 < sample["rate"] < 1 and sample["key_below"] == int(sample["key_below"])
    # Exactly the pages of smallest sample key: the single-process text of those pages, and
    # the next page would not have fitted.
    cut = sample["key_below"]
    expected_train, expected_held, counts = _single_process(
        tmp_path / "ref", folder / DUMP, lambda d: sample_key(SAMPLE_SEED, d.id) < cut)
    assert (train, held) == (expected_train, expected_held)
    assert manifest["counts"]["documents"] == counts.documents < 83
    # max_docs bounds the number of pages the same way (the smallest keys).
    _, _, by_docs = _beam(tmp_path / "docs", folder, wiki, max_docs=7)
    assert by_docs["counts"]["documents"] == 7 and by_docs["sample"]["key_below"] < SPACE
    ranked = sorted(sample_key(SAMPLE_SEED, d.id) for d in iter_articles([str(folder / DUMP)], languages=["uk"]))
    assert by_docs["sample"]["key_below"] == ranked[7]


def test_models_lm_reads_and_writes_a_bucket_like_local_disk(multistream, tmp_path, monkeypatch, capsys,
                                                           kenlm_tools):
    from pipeline.cli import main

    folder, _ = multistream
    bucket = tmp_path / "bucket"
    monkeypatch.setattr(_FakeBucket, "root", bucket)
    shutil.copytree(folder, bucket / "wiki")
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({"wikipedia": {"multistream_split_bytes": (folder / DUMP).stat().st_size // 3}}))
    common = ["--lang", "uk", "--vocab-size", "800", "--order", "3", "--max-training-bytes", "90000",
              "--config", str(config)]
    local = tmp_path / "local"
    assert main(["models", "lm", "--wikipedia", str(folder / DUMP), str(folder / INDEX), "--output", str(local),
                 "--text-dir", str(tmp_path / "local-text"), *common]) == 0
    assert main(["models", "lm", "--wikipedia", f"fakebkt://wiki/{DUMP}", f"fakebkt://wiki/{INDEX}",
                 "--output", "fakebkt://models", "--text-dir", "fakebkt://text", *common]) == 0
    out = capsys.readouterr().out
    assert "fakebkt://models/uk.sp.model" in out
    remote = bucket / "models"
    for name in ("uk.sp.model", "uk.arpa.bin", "uk.cutoffs.json"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    ours, theirs = _files(bucket / "text"), _files(tmp_path / "local-text")
    ours_manifest, theirs_manifest = (json.loads(files.pop("manifest.json")) for files in (ours, theirs))
    assert ours == theirs and len(ours) >= 2
    assert ours_manifest["units"][0].startswith(f"fakebkt://wiki/{DUMP}[0:")  # the only difference: where
    assert {**ours_manifest, "units": []} == {**theirs_manifest, "units": []}
    manifest = json.loads((remote / "manifest.json").read_text())["languages"]["uk"]
    local_manifest = json.loads((local / "manifest.json").read_text())["languages"]["uk"]
    assert [i["path"] for i in manifest["inputs"]] == [f"fakebkt://wiki/{DUMP}", f"fakebkt://wiki/{INDEX}"]
    assert [i["sha256"] for i in manifest["inputs"]] == [i["sha256"] for i in local_manifest["inputs"]]
    assert manifest["training_text"]["sample"]["bytes"] <= 90000
    assert manifest["counts"] == local_manifest["counts"]


def test_max_training_bytes_must_be_positive(multistream, tmp_path, capsys):
    from pipeline.cli import main

    folder, _ = multistream
    assert main(["models", "lm", "--wikipedia", str(folder / DUMP), "--lang", "uk", "--output", str(tmp_path),
                 "--max-training-bytes", "0"]) == 2
    assert "models.lm.max_training_bytes must be > 0" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_quality_inputs_read_on_beam_give_the_single_process_training_set(corpus, tmp_path, monkeypatch):
    from pipeline.training.quality import TrainingOptions, assemble_training_set, collect_inputs

    dumps = [str(corpus / "wikipedia" / "enwiki-pages-articles-sample.xml.bz2")]
    web = sorted(str(p) for p in [*(corpus / "cc").glob("ukwa-*.warc.gz"), corpus / "cc" / "whirlwind.warc.wet.gz"])
    # Fewer negatives and articles than the inputs hold: per-file samples merged into one.
    options = replace(TrainingOptions(), max_negatives=15, max_wiki_articles=1, min_chars=200)
    collected, manifest = prepare_quality_inputs(web, dumps, dumps, options, str(tmp_path / "inputs"))
    expected = collect_inputs(web, dumps, dumps, options)
    assert collected.reference_urls == expected.reference_urls == 82
    assert (collected.web_pages, collected.negatives_available, collected.wiki_articles) == (
        expected.web_pages, expected.negatives_available, expected.wiki_articles)
    assert collected.negatives == expected.negatives and len(collected.negatives) == 15
    assert collected.references == expected.references
    ours, theirs = assemble_training_set(collected, options), assemble_training_set(expected, options)
    assert ours == theirs and len(ours.positives) == len(ours.negatives) > 0
    assert manifest["counts"]["negatives_available"] > 15 and manifest["units"]["web"] == web
    # Two workers write the same per-unit files.
    _, again = prepare_quality_inputs(web, dumps, dumps, options, str(tmp_path / "two"), beam_args=TWO_WORKERS)
    assert again == manifest
    # Inputs and prepared files in a bucket: the same examples (ids name files by their base name).
    bucket = tmp_path / "bucket"
    monkeypatch.setattr(_FakeBucket, "root", bucket)
    (bucket / "in").mkdir(parents=True)
    for path in [*web, *dumps]:
        shutil.copy(path, bucket / "in")
    remote = [f"fakebkt://in/{Path(p).name}" for p in web]
    remote_dumps = [f"fakebkt://in/{Path(p).name}" for p in dumps]
    from_bucket, remote_manifest = prepare_quality_inputs(remote, remote_dumps, remote_dumps, options, "fakebkt://q")
    assert from_bucket == collected
    def data(files):  # the per-unit .json counts also name their unit, by path
        return {name: info for name, info in files.items() if not name.endswith(".json")}

    assert data(remote_manifest["files"]) == data(manifest["files"]) and remote_manifest["units"]["web"] == remote
