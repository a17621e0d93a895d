"""Hugging Face checkpoints: our ``Transformer`` written as a ``LlamaForCausalLM`` folder.

The folder holds ``config.json`` and ``model.safetensors``, which is what
``LlamaForCausalLM.from_pretrained(folder)`` reads, so evaluation harnesses (lm-eval,
transformers pipelines) run on a pasture-trained model without custom code. Nothing here
imports transformers: the config is plain JSON and safetensors is a simple documented
format (an 8-byte little-endian header length, a JSON header of names, dtypes, shapes and
byte ranges, then the raw tensors), written by :func:`write_safetensors`.

Two layouts differ. Names map one to one (``wq`` → ``q_proj``, ``w1`` → ``gate_proj``,
``w3`` → ``up_proj``, ``w2`` → ``down_proj``...). Rotary embeddings do not: we rotate
adjacent pairs ``(x[2i], x[2i+1])`` as ``meta-llama/llama`` does, while transformers'
``rotate_half`` pairs ``x[i]`` with ``x[i + d/2]``. Reordering the rows of each head of
``wq`` and ``wk`` (evens first, then odds) makes the two compute the same attention scores;
this is the permutation of transformers' own ``convert_llama_weights_to_hf.py``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch

from mixtures.provenance import write_bytes_atomically, write_json_atomically
from trainer.model import ModelArgs, Transformer

_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def interleaved_to_half_split(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of a q/k projection reordered per head from pair-interleaved to half-split rotary order.

    Row ``2i`` of a head becomes row ``i`` and row ``2i+1`` becomes row ``i + head_dim/2``.
    """
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.view(n_heads, head_dim // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """The model's weights under ``LlamaForCausalLM`` names, in that layout (CPU, contiguous)."""
    args = model.args
    ours = {name: tensor.detach().to("cpu") for name, tensor in model.state_dict().items()}
    out: dict[str, torch.Tensor] = {
        "model.embed_tokens.weight": ours["tok_embeddings.weight"],
        "model.norm.weight": ours["norm.weight"],
        "lm_head.weight": ours["output.weight"],
    }
    for i in range(args.n_layers):
        ours_prefix, hf_prefix = f"layers.{i}.", f"model.layers.{i}."
        out[hf_prefix + "self_attn.q_proj.weight"] = interleaved_to_half_split(
            ours[ours_prefix + "attention.wq.weight"], args.n_heads)
        out[hf_prefix + "self_attn.k_proj.weight"] = interleaved_to_half_split(
            ours[ours_prefix + "attention.wk.weight"], args.kv_heads)
        renames = {
            "attention.wv.weight": "self_attn.v_proj.weight",
            "attention.wo.weight": "self_attn.o_proj.weight",
            "feed_forward.w1.weight": "mlp.gate_proj.weight",
            "feed_forward.w3.weight": "mlp.up_proj.weight",
            "feed_forward.w2.weight": "mlp.down_proj.weight",
            "attention_norm.weight": "input_layernorm.weight",
            "ffn_norm.weight": "post_attention_layernorm.weight",
        }
        for ours_name, hf_name in renames.items():
            out[hf_prefix + hf_name] = ours[ours_prefix + ours_name]
    return {name: tensor.contiguous() for name, tensor in out.items()}


def hf_config(args: ModelArgs, bos_token_id: int | None = None, eos_token_id: int | None = None,
              dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """``config.json`` of a ``LlamaForCausalLM`` with our shape.

    ``rope_theta`` is given both as the 4.x top-level key and as 5.x's ``rope_parameters``,
    so both major versions read the same rotary base.
    """
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": args.dim,
        "intermediate_size": args.ffn_hidden_dim,
        "num_hidden_layers": args.n_layers,
        "num_attention_heads": args.n_heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_seq_len,
        "rms_norm_eps": args.norm_eps,
        "rope_theta": args.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": args.rope_theta},
        "vocab_size": args.vocab_size,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": bos_token_id,
        "eos_token_id": eos_token_id,
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """``tensors`` in the safetensors format, names sorted so the bytes are deterministic."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt", **(metadata or {})}}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        if tensor.dtype not in _SAFETENSORS_DTYPES:
            raise TypeError(f"{name}: dtype {tensor.dtype} has no safetensors code here")
        # view(uint8) reinterprets the storage (bf16 included) without a copy through numpy.
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _SAFETENSORS_DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data section starts 8-byte aligned
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def save_hf_checkpoint(model: Transformer, out_dir: str | Path, *, bos_token_id: int | None = None,
                       eos_token_id: int | None = None, provenance: dict[str, str] | None = None) -> Path:
    """Writes ``config.json`` and ``model.safetensors`` for ``LlamaForCausalLM`` into ``out_dir``.

    Args:
        model: The trained model (any device; weights are copied to CPU in their dtype).
        out_dir: The folder to write (created).
        bos_token_id, eos_token_id: The tokenizer's ids, recorded in the config.
        provenance: Short strings (git revision, step, data checksum) stored in the
            safetensors metadata, so the weights file says where it came from.

    Returns:
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = hf_state_dict(model)
    dtype = next(iter(tensors.values())).dtype
    write_bytes_atomically(out / "model.safetensors", safetensors_bytes(tensors, provenance))
    write_json_atomically(out / "config.json", hf_config(model.args, bos_token_id, eos_token_id, dtype))
    return out
