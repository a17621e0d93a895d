"""``--config FILE`` of the verbs after a run: the pipeline config supplies their settings, flags win.

One config drives ``tokenizer train`` → ``tokenizer encode`` → ``mixture plan`` → ``export``
on a two-source run cut from the Gutenberg samples in ``samples/books``; each verb is then
run again with flags that override every value the config gave.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml

from mixtures.provenance import sha256_file
from pipeline.cli import main
from tests.tokenizer.fixtures import write_run_dir

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "books"
CHARS_PER_SOURCE = 40_000


def _mixture(path: Path, name: str, books: float) -> str:
    path.write_text(yaml.safe_dump({"name": name, "total_tokens": 1.0e6, "sources": {
        "books": {"weight": books, "epochs": 1.0}, "wikipedia": {"weight": 100.0 - books, "epochs": 1.0}}}))
    return str(path)


def _paragraphs(name: str, prefix: str) -> list[tuple[str, str]]:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    paragraphs = [p.strip() for p in text.split("\n\n") if len(p.strip()) > 200]
    return [(f"{prefix}/{i:05d}", p) for i, p in enumerate(paragraphs)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The run, its config, a second mixture for the flags, and both tokenizers trained once."""
    root = tmp_path_factory.mktemp("config-option")
    run = write_run_dir(root / "run", {"books": _paragraphs("16-0-peter-pan.txt", "pan"),
                                       "wikipedia": _paragraphs("84-0-frankenstein-body-only.txt", "frank")},
                        CHARS_PER_SOURCE)
    config = root / "run.yaml"
    config.write_text(yaml.safe_dump({
        "output": str(run),
        "mixture": _mixture(root / "sixty.yaml", "sixty", 60.0),
        "tokenizer": {"model": str(root / "tok" / "cfg.model"), "vocab_size": 400, "sample_chars": 30_000,
                      "seed": 5, "shard_tokens": 4_000},
    }))
    thirty = _mixture(root / "thirty.yaml", "thirty", 30.0)
    assert main(["tokenizer", "train", "--config", str(config)]) == 0
    assert main(["tokenizer", "train", "--config", str(config), "--input", str(run / "books"),
                 "--output", str(root / "tok" / "flag"), "--vocab-size", "350", "--sample-chars", "20000",
                 "--seed", "6", "--mixture", thirty]) == 0
    return root, run, config, thirty


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_tokenizer_train_reads_the_config_and_flags_override(setup):
    root, _, _, _ = setup
    from_config = _json(root / "tok" / "cfg.manifest.json")  # tokenizer.model names the file
    assert (from_config["vocab_size"], from_config["seed"], from_config["mixture"]) == (400, 5, "sixty")
    assert set(from_config["sample"]) == {"books", "wikipedia"} and from_config["sample_chars"] <= 30_000
    flagged = _json(root / "tok" / "flag.manifest.json")
    assert (flagged["vocab_size"], flagged["seed"], flagged["mixture"]) == (350, 6, "thirty")
    assert set(flagged["sample"]) == {"books"} and flagged["sample_chars"] <= 20_000


def test_tokenizer_encode_reads_the_config_and_flags_override(setup, tmp_path):
    root, run, config, _ = setup
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["tokenizer", "encode", "--config", str(config)]) == 0
    books = _json(run / "books" / "tokens" / "manifest.json")
    assert books["tokenizer"]["sha256"] == sha256_file(root / "tok" / "cfg.model")
    assert len(books["shards"]) == math.ceil(books["tokens"] / 4_000) > 1  # tokenizer.shard_tokens
    assert main(["tokenizer", "encode", "--config", str(config), "--run", str(copy), "--model",
                 str(root / "tok" / "flag.model"), "--shard-tokens", "1000000000", "--sources", "books"]) == 0
    books = _json(copy / "books" / "tokens" / "manifest.json")
    assert books["tokenizer"]["sha256"] == sha256_file(root / "tok" / "flag.model")
    assert len(books["shards"]) == 1
    assert not (copy / "wikipedia" / "tokens").exists()


@pytest.fixture(scope="module")
def encoded(setup):
    root, run, config, thirty = setup
    if not (run / "wikipedia" / "tokens" / "manifest.json").is_file():
        assert main(["tokenizer", "encode", "--config", str(config)]) == 0
    return setup


def test_mixture_plan_reads_the_config_and_flags_override(encoded, tmp_path):
    root, run, config, thirty = encoded
    assert main(["mixture", "plan", "--config", str(config), "--tokens", "10000"]) == 0
    assert _json(run / "mixture_plan.json")["mixture"] == "sixty"
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["mixture", "plan", "--config", str(config), "--run", str(copy), "--mixture", thirty,
                 "--tokens", "10000"]) == 0
    assert _json(copy / "mixture_plan.json")["mixture"] == "thirty"


def test_export_reads_the_config_and_flags_override(encoded, tmp_path):
    root, run, config, thirty = encoded
    common = ["--format", "megatron", "--tokens", "20000", "--seq-len", "16"]
    assert main(["export", "--config", str(config), *common, "--output", str(tmp_path / "a")]) == 0
    manifest = _json(tmp_path / "a" / "manifest.json")
    assert manifest["mixture"]["name"] == "sixty" and set(manifest["sources"]) == {"books", "wikipedia"}
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "wikipedia" / "tokens")
    assert main(["export", "--config", str(config), "--run", str(copy), "--mixture", thirty, *common,
                 "--output", str(tmp_path / "b")]) == 0
    # The flagged run has books tokens only (weights are renormalised over the tokenized sources).
    manifest = _json(tmp_path / "b" / "manifest.json")
    assert manifest["mixture"]["name"] == "thirty" and set(manifest["sources"]) == {"books"}


@pytest.mark.parametrize("argv, flag", [
    (["tokenizer", "train"], "--input"),
    (["tokenizer", "encode"], "--run"),
    (["mixture", "plan"], "--run"),
    (["export", "--format", "megatron", "--tokens", "100", "--output", "x"], "--run"),
])
def test_without_config_the_run_must_be_given(argv, flag, capsys):
    assert main(argv) == 2
    assert f"give {flag} or --config FILE (its output)" in capsys.readouterr().err


def test_a_bad_config_value_names_its_key(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"output": str(tmp_path), "tokenizer": {"model": "tok.bin"}}))
    assert main(["tokenizer", "encode", "--config", str(config)]) == 2
    assert "tokenizer.model must end in .model" in capsys.readouterr().err


def test_export_takes_its_section_from_the_config_and_flags_override(encoded, tmp_path):
    root, run, config, thirty = encoded
    with_export = tmp_path / "with-export.yaml"
    data = yaml.safe_load(config.read_text())
    data["export"] = {"output": str(tmp_path / "from-config"), "format": "parquet", "tokens": 20000, "seq_len": 16,
                      "seed": 7}
    with_export.write_text(yaml.safe_dump(data))
    assert main(["export", "--config", str(with_export)]) == 0
    manifest = _json(tmp_path / "from-config" / "manifest.json")
    assert (manifest["config"]["seq_len"], manifest["config"]["seed"]) == (16, 7)
    assert sorted(manifest["files"]) == ["blend-00000-of-00001.parquet"]
    assert main(["export", "--config", str(with_export), "--output", str(tmp_path / "flags"), "--format", "megatron",
                 "--seq-len", "8", "--seed", "9"]) == 0
    manifest = _json(tmp_path / "flags" / "manifest.json")
    assert (manifest["config"]["seq_len"], manifest["config"]["seed"]) == (8, 9)
    assert sorted(manifest["files"]) == ["blend-00000-of-00001.bin", "blend-00000-of-00001.idx"]


def test_export_without_tokens_says_where_to_give_them(encoded, capsys):
    _, _, config, _ = encoded
    assert main(["export", "--config", str(config), "--output", "x"]) == 2
    assert "give --tokens or --config FILE with export.tokens" in capsys.readouterr().err


def test_train_run_config_supplies_the_trainer_config_and_the_data(tmp_path):
    import argparse

    from pipeline.commands.train import with_run_config

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"export": {"output": str(tmp_path / "export")}, "train": {"config": "125m"}}))
    args = argparse.Namespace(run_config=str(config), config=None, data=None)
    assert (with_run_config(args).config, args.data) == ("125m", str(tmp_path / "export"))
    flags = argparse.Namespace(run_config=str(config), config="tiny", data="elsewhere")
    assert (with_run_config(flags).config, flags.data) == ("tiny", "elsewhere")


def test_train_needs_a_trainer_config_from_a_flag_or_the_run_config(capsys):
    assert main(["train"]) == 2
    assert "give --config (a train YAML or preset) or --run-config FILE" in capsys.readouterr().err
