"""The LLaMA model against reference formulas written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.model import (
    PRESETS,
    Attention,
    ModelArgs,
    RMSNorm,
    Transformer,
    apply_rotary,
    preset,
    rope_cache,
)


def test_rmsnorm_matches_the_formula():
    torch.manual_seed(0)
    norm = RMSNorm(8, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    x = torch.randn(3, 5, 8)
    out = norm(x)
    for b in range(3):
        for t in range(5):
            row = [float(v) for v in x[b, t]]
            rms = math.sqrt(sum(v * v for v in row) / len(row) + 1e-5)
            expected = [v / rms * float(g) for v, g in zip(row, norm.weight)]
            assert out[b, t].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_rmsnorm_keeps_the_input_dtype_but_normalises_in_float32():
    norm = RMSNorm(16).to(torch.bfloat16)
    x = (torch.randn(2, 16) * 300).to(torch.bfloat16)
    out = norm(x)
    assert out.dtype == torch.bfloat16
    ref = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5)
    assert torch.allclose(out.float(), ref.to(torch.bfloat16).float())


def _reference_rope(x: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """meta-llama/llama ``precompute_freqs_cis`` + ``apply_rotary_emb``: complex multiplication."""
    _, seq, _, d = x.shape
    freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64)[: d // 2] / d))
    angles = torch.outer(torch.arange(seq, dtype=torch.float64), freqs)
    freqs_cis = torch.polar(torch.ones_like(angles), angles)  # e^{i·m·θ_j}
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))
    rotated = xc * freqs_cis[None, :, None, :]
    return torch.view_as_real(rotated).flatten(3)


def test_rope_matches_complex_multiplication():
    torch.manual_seed(0)
    x = torch.randn(2, 7, 3, 16)
    cos, sin = rope_cache(16, 32)
    out = apply_rotary(x, cos[:7], sin[:7])
    assert torch.allclose(out.double(), _reference_rope(x), atol=1e-5)


def test_rope_position_zero_is_identity_and_norms_are_kept():
    x = torch.randn(1, 5, 2, 8)
    cos, sin = rope_cache(8, 5)
    out = apply_rotary(x, cos, sin)
    assert torch.equal(out[:, 0], x[:, 0])
    assert torch.allclose(out.norm(dim=-1), x.norm(dim=-1), atol=1e-5)


def test_rope_attention_scores_depend_only_on_relative_position():
    torch.manual_seed(1)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    cos, sin = rope_cache(8, 20)

    def score(m: int, n: int) -> float:
        qm = apply_rotary(q, cos[m : m + 1], sin[m : m + 1])
        kn = apply_rotary(k, cos[n : n + 1], sin[n : n + 1])
        return float((qm * kn).sum())

    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-5)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


@pytest.mark.parametrize("n_kv_heads", [None, 2, 1])
def test_attention_matches_manual_causal_softmax(n_kv_heads):
    torch.manual_seed(0)
    args = ModelArgs(dim=32, n_layers=1, n_heads=4, n_kv_heads=n_kv_heads, vocab_size=16, max_seq_len=16)
    attn = Attention(args)
    x = torch.randn(2, 6, 32)
    cos, sin = rope_cache(args.head_dim, 6)
    out = attn(x, cos, sin)

    hd, kv = args.head_dim, args.kv_heads
    q = apply_rotary(attn.wq(x).view(2, 6, 4, hd), cos, sin)
    k = apply_rotary(attn.wk(x).view(2, 6, kv, hd), cos, sin)
    v = attn.wv(x).view(2, 6, kv, hd)
    heads = []
    for h in range(4):
        g = h // (4 // kv)  # query head h reads key/value head g
        scores = q[:, :, h] @ k[:, :, g].transpose(1, 2) / math.sqrt(hd)
        mask = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
        weights = scores.masked_fill(mask, float("-inf")).softmax(-1)
        heads.append(weights @ v[:, :, g])
    expected = attn.wo(torch.cat(heads, dim=-1))
    assert torch.allclose(out, expected, atol=1e-5)


def test_grouped_query_attention_shrinks_key_value_projections():
    full = Transformer(ModelArgs(dim=64, n_layers=1, n_heads=8, vocab_size=32, max_seq_len=8))
    gqa = Transformer(ModelArgs(dim=64, n_layers=1, n_heads=8, n_kv_heads=2, vocab_size=32, max_seq_len=8))
    assert gqa.layers[0].attention.wk.weight.shape == (16, 64)
    assert full.num_params() - gqa.num_params() == 2 * (64 * 64 - 16 * 64)


def test_model_is_causal_and_shapes_are_right():
    torch.manual_seed(0)
    model = Transformer(preset("tiny", vocab_size=50, max_seq_len=16))
    model.init_weights()
    tokens = torch.randint(0, 50, (2, 10))
    logits = model(tokens)
    assert logits.shape == (2, 10, 50)
    changed = tokens.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 50
    other = model(changed)
    assert torch.allclose(logits[:, :7], other[:, :7], atol=1e-6)
    assert not torch.allclose(logits[:, 7:], other[:, 7:])
    with pytest.raises(ValueError, match="exceeds max_seq_len"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_no_biases_and_untied_head():
    model = Transformer(preset("tiny"))
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.endswith("bias") for n in names)
    assert model.output.weight.data_ptr() != model.tok_embeddings.weight.data_ptr()


@pytest.mark.parametrize(("dim", "hidden"), [(4096, 11008), (5120, 13824), (8192, 22016), (768, 2048), (1024, 2816)])
def test_swiglu_hidden_size_rule(dim, hidden):
    # LLaMA's released sizes: 7B 11008, 13B 13824, 65B 22016 (2/3·4d rounded up to 256).
    assert ModelArgs(dim=dim, n_heads=dim // 128).ffn_hidden_dim == hidden


def test_llama_7b_parameter_count_on_meta_device():
    with torch.device("meta"):
        model = Transformer(PRESETS["llama-7b"])
    assert model.tok_embeddings.weight.is_meta
    # 2·32000·4096 (embedding + head) + 32·(4·4096² + 3·4096·11008 + 2·4096) + 4096.
    assert model.num_params() == 6_738_415_616
    assert model.num_params() / 1e9 == pytest.approx(6.74, abs=0.005)
    assert model.layers[0].feed_forward.w1.weight.shape == (11008, 4096)


def test_flops_per_token_is_6n_plus_attention_term():
    with torch.device("meta"):
        model = Transformer(PRESETS["llama-7b"])
    n = 6_738_415_616 - 32000 * 4096
    assert model.flops_per_token(2048) == 6 * n + 12 * 32 * 4096 * 2048
    # At 2048 tokens the attention term is 7.5% of the total for 7B.
    assert 0.07 < (12 * 32 * 4096 * 2048) / model.flops_per_token(2048) < 0.08


def test_meta_build_then_init_is_deterministic_and_fixes_rope_tables():
    args = preset("tiny", vocab_size=40, max_seq_len=32)

    def build() -> Transformer:
        with torch.device("meta"):
            m = Transformer(args)
        m.to_empty(device="cpu")
        torch.manual_seed(7)
        m.init_weights()
        return m

    a, b = build(), build()
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    cos, sin = rope_cache(args.head_dim, 32)
    assert torch.equal(a.rope_cos, cos) and torch.equal(a.rope_sin, sin)
    assert "rope_cos" not in a.state_dict()
    assert torch.equal(a.layers[0].attention_norm.weight, torch.ones(64))
    # Residual projections are scaled down by sqrt(2·n_layers).
    assert a.layers[0].attention.wo.weight.std() < a.layers[0].attention.wq.weight.std()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dim": 63, "n_heads": 4}, "not divisible"),
    ({"dim": 64, "n_heads": 4, "n_kv_heads": 3}, "not a multiple"),
    ({"dim": 60, "n_heads": 4}, "must be even"),
])
def test_model_args_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelArgs(**kwargs)
