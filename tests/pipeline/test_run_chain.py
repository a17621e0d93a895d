"""``pasture run --config FILE``: raw lines → curated docs → tokenizer → tokens → plan → export shards,
each later step skipped under ``--resume`` while its outputs are complete, rerun when its inputs change."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pipeline.cli import main
from tests.tokenizer.corpus_texts import corpus_documents
from tokenizer.indexed import IndexedDataset


def _config(tmp_path: Path, corpus: Path, **export) -> Path:
    lines = [line.strip() for _, text in corpus_documents(corpus)["wikipedia"][:40]
             for line in text.split("\n") if len(line.strip()) > 40]
    if not (tmp_path / "in").exists():  # written once: its mtime is part of curation's fingerprint
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "wiki.txt").write_text("\n".join(lines[:600]) + "\n", encoding="utf-8")
    (tmp_path / "lines.yaml").write_text(yaml.safe_dump(
        {"name": "lines-only", "reference": "test", "total_tokens": 1e6,
         "sources": {"lines": {"label": "Lines", "weight": 100.0, "epochs": 1.0, "disk": "1 KB"}}}))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "output": str(tmp_path / "run"), "mixture": str(tmp_path / "lines.yaml"),
        "minhash": {"enabled": False}, "lines": {"min_chars": 40},
        "sources": {"wiki": {"kind": "lines", "inputs": [str(tmp_path / "in" / "wiki.txt")]}},
        "tokenizer": {"model": str(tmp_path / "tok" / "t.model"), "vocab_size": 900, "sample_chars": 60_000,
                      "shard_tokens": 20_000},
        "export": {"output": str(tmp_path / "export"), "format": "megatron", "tokens": 6400, "seq_len": 32,
                   "shard_sequences": 80, **export},
    }))
    return config


def _ran(capsys) -> str:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("after curation")][-1]


def test_run_goes_to_export_shards_and_resume_skips_complete_steps(tmp_path, corpus, toy_source, capsys):
    config = _config(tmp_path, corpus)
    assert main(["run", "--config", str(config)]) == 0
    assert _ran(capsys) == "after curation: ran tokenizer, encode, plan, export"
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["shards"]] == ["blend-00000-of-00003", "blend-00001-of-00003",
                                                       "blend-00002-of-00003"]
    assert manifest["sequences"] == 200 and manifest["sources"]["wiki"]["sequences"] == 200
    ds = IndexedDataset(tmp_path / "export" / "blend-00000-of-00003")
    assert len(ds) == 80 and set(ds.sizes.tolist()) == {33}
    tokens = json.loads((tmp_path / "run" / "wiki" / "tokens" / "manifest.json").read_text())
    assert tokens["tokenizer"]["sha256"] == manifest["tokenizer"]["sha256"]
    before = {p.name: p.read_bytes() for p in (tmp_path / "export").iterdir()}

    assert main(["run", "--config", str(config), "--resume"]) == 0
    assert _ran(capsys) == "after curation: ran nothing; complete already, skipped: tokenizer, encode, plan, export"

    # Another sequence length: only the export runs again, and it differs.
    changed = _config(tmp_path, corpus, seq_len=16)
    assert main(["run", "--config", str(changed), "--resume"]) == 0
    assert _ran(capsys) == "after curation: ran export; complete already, skipped: tokenizer, encode, plan"
    after = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert after["config"]["seq_len"] == 16 and before["manifest.json"] != (tmp_path / "export" /
                                                                             "manifest.json").read_bytes()
    # A damaged manifest makes its step incomplete: encode runs again (and so does what follows it,
    # whose input fingerprint is unchanged because encode writes the same bytes).
    tokens_manifest = tmp_path / "run" / "wiki" / "tokens" / "manifest.json"
    good = tokens_manifest.read_bytes()
    tokens_manifest.write_text("{}")
    assert main(["run", "--config", str(changed), "--resume"]) == 0
    assert _ran(capsys) == "after curation: ran encode; complete already, skipped: tokenizer, plan, export"
    assert tokens_manifest.read_bytes() == good
    assert len(IndexedDataset(tmp_path / "export" / "blend-00004-of-00005")) == 400 - 4 * 80


def test_a_given_model_is_used_as_is(tmp_path, corpus, toy_source, capsys):
    from tokenizer.spm import train_sentencepiece

    config = _config(tmp_path, corpus)
    text = (tmp_path / "in" / "wiki.txt").read_text(encoding="utf-8").splitlines()
    train_sentencepiece(text, tmp_path / "tok" / "t", 1000, num_threads=1)
    given = (tmp_path / "tok" / "t.model").read_bytes()
    assert main(["run", "--config", str(config), "--until", "encode"]) == 0
    assert _ran(capsys) == "after curation: ran encode"
    assert (tmp_path / "tok" / "t.model").read_bytes() == given
    assert not (tmp_path / "export").exists()
