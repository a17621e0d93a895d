"""``pasture tokenizer train``: weighted seeded sample, model + vocab + manifest, clear errors."""

from __future__ import annotations

import gzip
import json

from filters.document import Document
from mixtures.provenance import sha256_file
from mixtures.spec import load_mixture
from pipeline.cli import main
from stages.sinks import gzip_bytes
from tests.tokenizer.fixtures import read_docs, tiny_run  # noqa: F401  (fixture)
from tokenizer.manifest import list_run_sources
from tokenizer.sample import draw_sample, sample_key

SAMPLE_CHARS = 300_000


def _train(run, out, *extra):
    return main(["tokenizer", "train", "--input", str(run), "--output", str(out), "--vocab-size", "3000",
                 "--sample-chars", str(SAMPLE_CHARS), "--seed", "7", *extra])


def test_train_writes_model_vocab_and_manifest(tiny_run, tmp_path):  # noqa: F811
    assert _train(tiny_run, tmp_path / "tok") == 0
    manifest = json.loads((tmp_path / "tok.manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(tmp_path / "tok.model")
    assert manifest["vocab_size"] == 3000 and manifest["seed"] == 7 and manifest["mixture"] == "llama1"
    assert len((tmp_path / "tok.vocab").read_text(encoding="utf-8").splitlines()) == 3000
    options = manifest["trainer_options"]
    assert options["model_type"] == "bpe" and options["split_digits"] and options["byte_fallback"]
    assert options["normalization_rule_name"] == "identity" and options["remove_extra_whitespaces"] is False
    # Every source contributes in proportion to its LLaMA weight (all have enough text here).
    sample = manifest["sample"]
    assert set(sample) == {"cc", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"}
    mixture = load_mixture("llama1")
    for name, info in sample.items():
        budget = int(SAMPLE_CHARS * mixture.source(name).weight / 100)
        assert info["budget_chars"] == budget
        assert info["sampled_chars"] <= budget
        assert info["sampled_chars"] >= budget * 0.9, name  # only the last document is cut, at a line break
    assert manifest["sample_chars"] == sum(i["sampled_chars"] for i in sample.values())
    # The Hugging Face folder beside the model states the default BOS/EOS policy (EOS only).
    hf = tmp_path / "tok-hf"
    assert (hf / "tokenizer.model").read_bytes() == (tmp_path / "tok.model").read_bytes()
    config = json.loads((hf / "tokenizer_config.json").read_text())
    assert (config["add_bos_token"], config["add_eos_token"]) == (False, True)
    assert json.loads((hf / "tokenizer.json").read_text())["model"]["type"] == "BPE"


def test_same_seed_same_model_whatever_the_file_layout(tiny_run, tmp_path):  # noqa: F811
    # Re-shard every source into two files with the documents in reverse order.
    shuffled = tmp_path / "run2"
    for src in list_run_sources(tiny_run):
        docs = read_docs(tiny_run, src.name)[::-1]
        folder = shuffled / src.name / "docs"
        folder.mkdir(parents=True)
        half = len(docs) // 2
        for i, part in enumerate((docs[:half], docs[half:])):
            payload = "".join(d.to_json() + "\n" for d in part).encode("utf-8")
            (folder / f"part-{i:05d}-of-00002.jsonl.gz").write_bytes(gzip_bytes(payload))
        (shuffled / src.name / "stats.json").write_text(json.dumps({"kind": src.kind}))
    assert _train(tiny_run, tmp_path / "a") == 0
    assert _train(shuffled, tmp_path / "b") == 0
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    ma = json.loads((tmp_path / "a.manifest.json").read_text())
    mb = json.loads((tmp_path / "b.manifest.json").read_text())
    assert ma["sample"] == mb["sample"]
    assert _train(tiny_run, tmp_path / "c", "--seed", "8") == 0
    assert json.loads((tmp_path / "c.manifest.json").read_text())["sample"] != ma["sample"]


def test_sample_takes_documents_in_seeded_id_order(tmp_path):
    run = tmp_path / "run"
    (run / "books" / "docs").mkdir(parents=True)
    docs = [Document(f"books/{i:03d}", f"line {i}\n" * 10, "books") for i in range(50)]
    (run / "books" / "docs" / "part-00000-of-00001.jsonl.gz").write_bytes(
        gzip_bytes("".join(d.to_json() + "\n" for d in docs).encode()))
    sample = draw_sample(list_run_sources(run), load_mixture("llama1"), 333, seed=3)
    # books is the only kind present, so it gets the whole budget. Documents come in
    # sample_key order; the one that overflows is cut at its last line break that fits.
    ordered = sorted(docs, key=lambda d: sample_key(3, d.id))
    expected, left = [], 333
    for d in ordered:
        if left <= 0:
            break
        text = d.text if len(d.text) <= left else d.text[: d.text.rfind("\n", 0, left)]
        expected.append(text)
        left -= len(d.text)
    assert sample.texts == expected
    info = sample.sources["books"]
    assert info.weight == 100.0 and info.budget_chars == 333
    assert info.sampled_chars == sum(map(len, expected)) <= 333 and info.documents == len(expected)
    assert expected[-1] != ordered[len(expected) - 1].text  # the last one really was cut
    again = draw_sample(list_run_sources(run), load_mixture("llama1"), 333, seed=3)
    assert again.texts == sample.texts


def test_vocab_too_large_is_a_clear_error(tiny_run, tmp_path, capsys):  # noqa: F811
    rc = main(["tokenizer", "train", "--input", str(tiny_run / "stackexchange" / "docs"), "--output",
               str(tmp_path / "big"), "--vocab-size", "60000", "--sample-chars", "20000"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "vocab size 60000 is too large for the training sample" in err and "--vocab-size" in err
    assert not (tmp_path / "big.model").exists()


def test_docs_folder_input_uses_folder_name_as_source(tiny_run, tmp_path):  # noqa: F811
    rc = main(["tokenizer", "train", "--input", str(tiny_run / "wikipedia" / "docs"), str(tiny_run / "books"),
               "--output", str(tmp_path / "wb"), "--vocab-size", "1500", "--sample-chars", "100000"])
    assert rc == 0
    sample = json.loads((tmp_path / "wb.manifest.json").read_text())["sample"]
    assert set(sample) == {"wikipedia", "books"}
    assert sample["wikipedia"]["weight"] == sample["books"]["weight"] == 50.0
    with gzip.open(next((tiny_run / "books" / "docs").iterdir()), "rt") as fh:
        assert fh.readline()


def test_beam_draws_the_same_sample_and_redraws_when_short(tiny_run, tmp_path):  # noqa: F811
    from stages.encode import RunSourceURI
    from stages.tokenizer_sample import draw_sample_beam

    sources = list_run_sources(tiny_run)
    ours = draw_sample(sources, load_mixture("llama1"), SAMPLE_CHARS, 7)
    uris = [RunSourceURI(s.name, s.kind, str(s.path)) for s in sources]
    # oversample 0.3 keeps too few candidates on the first attempt: the second one is wider.
    beam = draw_sample_beam(uris, load_mixture("llama1"), SAMPLE_CHARS, 7, str(tmp_path / "work"), oversample=0.3)
    assert beam.texts == ours.texts and len(ours.texts) > 20
    assert {n: i.to_dict() for n, i in beam.sources.items()} == {n: i.to_dict() for n, i in ours.sources.items()}
