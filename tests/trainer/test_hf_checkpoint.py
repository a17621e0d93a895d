"""Validation loss on a held-out slice, and checkpoints that transformers' LlamaForCausalLM loads."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch

from tests.trainer.conftest import SEQ_LEN, VOCAB
from tests.trainer.test_train import tiny_config
from trainer.config import DataConfig
from trainer.data import ShardDataset, ShardError, split_validation
from trainer.hf import hf_state_dict, safetensors_bytes, save_hf_checkpoint
from trainer.model import Transformer, preset
from trainer.train import train


def test_validation_slice_is_the_export_tail_and_never_trained_on(book_shards):
    dataset = ShardDataset(book_shards)
    train_part, val_part = split_validation(dataset, 64)
    assert len(train_part) + len(val_part) == len(dataset) and len(val_part) == 64
    np.testing.assert_array_equal(val_part[0], dataset[len(dataset) - 64])
    np.testing.assert_array_equal(train_part[len(train_part) - 1], dataset[len(dataset) - 65])
    with pytest.raises(IndexError):
        train_part[len(train_part)]
    with pytest.raises(ShardError, match="cannot hold out"):
        split_validation(dataset, len(dataset))


def test_training_reports_a_falling_validation_loss(book_shards, tmp_path):
    cfg = tiny_config(book_shards, tmp_path, steps=30, eval_every=15,
                      data=DataConfig(path=str(book_shards), micro_batch_size=8, val_samples=64))
    result = train(cfg)
    assert [step for step, _ in result.val_losses] == [15, 30]
    first, last = result.val_losses[0][1], result.val_losses[1][1]
    assert last < first < math.log(VOCAB)
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["val_loss"] for row in logged if "val_loss" in row] == [first, last]
    # The loader walks the 2048 - 64 training samples only.
    assert json.loads(json.dumps(result.losses)) and result.step == 30


def _hf_model(path):
    transformers = pytest.importorskip("transformers", reason="the dev extra installs transformers")
    return transformers.LlamaForCausalLM.from_pretrained(path).eval()


@pytest.mark.parametrize("kv_heads", [None, 2])
def test_hf_checkpoint_gives_our_logits(tmp_path, kv_heads):
    args = preset("tiny", vocab_size=VOCAB, max_seq_len=SEQ_LEN, n_kv_heads=kv_heads)
    torch.manual_seed(7)
    model = Transformer(args)
    model.init_weights()
    model.eval()
    save_hf_checkpoint(model, tmp_path, bos_token_id=1, eos_token_id=2)
    hf = _hf_model(tmp_path)
    tokens = torch.randint(0, VOCAB, (2, SEQ_LEN))
    with torch.no_grad():
        ours, theirs = model(tokens), hf(tokens).logits
    assert torch.allclose(ours, theirs, atol=1e-4), (ours - theirs).abs().max()
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["num_key_value_heads"], config["intermediate_size"]) == (args.kv_heads, args.ffn_hidden_dim)


def test_trained_model_written_at_the_end_of_a_run_loads_in_transformers(book_shards, tmp_path):
    result = train(tiny_config(book_shards, tmp_path, steps=5, hf_checkpoint=True))
    assert result.hf_checkpoint == tmp_path / "hf"
    hf = _hf_model(result.hf_checkpoint)
    model = Transformer(preset("tiny", vocab_size=VOCAB, max_seq_len=SEQ_LEN))
    state = torch.load(result.checkpoint, map_location="cpu", weights_only=True)["model"]
    model.load_state_dict(state)
    model.eval()
    sample = torch.from_numpy(ShardDataset(book_shards)[0][:SEQ_LEN]).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(model(sample), hf(sample).logits, atol=1e-4)
    assert hf.config.eos_token_id == 2 and hf.config.bos_token_id == 1


def test_safetensors_bytes_are_deterministic_and_self_describing():
    model = Transformer(preset("tiny", vocab_size=64, max_seq_len=16))
    torch.manual_seed(0)
    model.init_weights()
    payload = safetensors_bytes(hf_state_dict(model), {"step": "3"})
    assert payload == safetensors_bytes(hf_state_dict(model), {"step": "3"})
    (length,) = struct.unpack("<Q", payload[:8])
    header = json.loads(payload[8:8 + length])
    assert (8 + length) % 8 == 0 and header["__metadata__"] == {"format": "pt", "step": "3"}
    end = max(entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__")
    assert len(payload) == 8 + length + end
    assert header["model.embed_tokens.weight"]["shape"] == [64, 64]
