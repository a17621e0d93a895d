"""The LLaMA architecture (Touvron et al., 2023, arXiv:2302.13971 §2.2), for training.

Read top-down: ``ModelArgs`` and presets → RMSNorm → rotary embeddings → attention →
SwiGLU feed-forward → block → ``Transformer``. The differences from the original GPT
transformer that LLaMA lists are all here:

* pre-normalization with RMSNorm (Zhang & Sennrich, 2019) at the input of each sub-layer;
* SwiGLU feed-forward (Shazeer, 2020) with hidden size 2/3·4d, rounded up to ``multiple_of``;
* rotary position embeddings (Su et al., 2021) on queries and keys, no absolute positions.

Beyond the paper: optional grouped-query attention (``n_kv_heads``), no biases anywhere and
an untied output head, as in ``meta-llama/llama`` ``llama/model.py``. Attention runs through
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, which picks the flash
kernel on a GPU. The module does no I/O and never moves itself to a device: build it (on
the meta device if you like), move it, then call ``init_weights()``. Compilation and
data parallelism are applied by ``trainer/train.py`` to the built model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelArgs:
    """Shape of a LLaMA model. Defaults are LLaMA-7B's (``params.json`` of the release)."""

    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # None: multi-head attention; fewer: grouped-query attention
    vocab_size: int = 32000  # the LLaMA SentencePiece vocabulary
    multiple_of: int = 256  # SwiGLU hidden size is rounded up to a multiple of this (GPU-friendly)
    ffn_dim_multiplier: float | None = None  # LLaMA-2 70B's knob; None keeps LLaMA-1's 2/3·4d
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_seq_len: int = 2048  # rotary table length; LLaMA-1 trained at 2048

    def __post_init__(self) -> None:
        # ValueError (not ConfigError) keeps the model free of the config layer; the
        # loader in trainer/config.py turns it into a ConfigError naming the field.
        if self.dim <= 0 or self.n_layers <= 0 or self.n_heads <= 0:
            raise ValueError("model: dim, n_layers and n_heads must be positive")
        if self.dim % self.n_heads:
            raise ValueError(f"model: dim {self.dim} is not divisible by n_heads {self.n_heads}")
        if (self.dim // self.n_heads) % 2:
            raise ValueError("model: head dimension must be even for rotary embeddings")
        kv = self.kv_heads
        if kv <= 0 or self.n_heads % kv:
            raise ValueError(f"model: n_heads {self.n_heads} is not a multiple of n_kv_heads {kv}")
        if self.vocab_size <= 0:
            raise ValueError("model: vocab_size must be positive")
        if self.multiple_of <= 0 or self.max_seq_len <= 0:
            raise ValueError("model: multiple_of and max_seq_len must be positive")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def ffn_hidden_dim(self) -> int:
        """SwiGLU hidden size: int(2/3 · 4·dim), times the multiplier, rounded up to ``multiple_of``.

        For LLaMA-7B: int(2/3 · 16384) = 10922 → 11008 (43 · 256), the size in the release.
        """
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)


# Presets. "125m"/"350m" follow the GPT-3 paper's small shapes (Table 2.1) with LLaMA's
# blocks and vocabulary; their real counts with the untied 32k head are 134M and 374M.
PRESETS: dict[str, ModelArgs] = {
    "tiny": ModelArgs(dim=64, n_layers=2, n_heads=4, vocab_size=512, multiple_of=32, max_seq_len=256),
    "125m": ModelArgs(dim=768, n_layers=12, n_heads=12, vocab_size=32000),
    "350m": ModelArgs(dim=1024, n_layers=24, n_heads=16, vocab_size=32000),
    "llama-7b": ModelArgs(dim=4096, n_layers=32, n_heads=32, vocab_size=32000),
}


def preset(name: str, **overrides: object) -> ModelArgs:
    """A preset's ``ModelArgs`` with some fields replaced (e.g. ``vocab_size``)."""
    if name not in PRESETS:
        raise ValueError(f"model: unknown preset {name!r}; known: {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x²) + eps) · g``, computed in float32 (as ``llama/model.py`` does)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)


def rope_cache(head_dim: int, max_seq_len: int, theta: float = 10000.0, device: torch.device | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotation angles ``m · θ^(-2i/d)``, each of shape ``(max_seq_len, head_dim/2)``.

    Real tensors instead of ``llama``'s complex ``freqs_cis``: the same numbers, and they
    compile and shard without complex-dtype support.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    positions = torch.arange(max_seq_len, device=device, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotates adjacent pairs ``(x[2i], x[2i+1])`` of the last axis by position-dependent angles.

    This is ``llama``'s ``apply_rotary_emb``: viewing each pair as the complex number
    ``x[2i] + j·x[2i+1]`` and multiplying by ``e^{j·m·θ_i}``.

    Args:
        x: ``(batch, seq, heads, head_dim)``.
        cos: ``(seq, head_dim/2)`` from ``rope_cache``, already cut to ``seq``.
        sin: Same shape as ``cos``.

    Returns:
        A tensor shaped and typed like ``x``.
    """
    xf = x.float().unflatten(-1, (-1, 2))
    x_even, x_odd = xf[..., 0], xf[..., 1]
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """``(b, s, kv_heads, d)`` → ``(b, s, kv_heads·n_rep, d)``: each key/value head serves n_rep query heads."""
    if n_rep == 1:
        return x
    b, s, h, d = x.shape
    return x[:, :, :, None, :].expand(b, s, h, n_rep, d).reshape(b, s, h * n_rep, d)


class Attention(nn.Module):
    """Causal self-attention with rotary queries/keys and optional grouped-query heads."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.n_heads = args.n_heads
        self.n_kv_heads = args.kv_heads
        self.head_dim = args.head_dim
        self.wq = nn.Linear(args.dim, args.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(args.n_heads * self.head_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.wq(x).view(b, s, self.n_heads, self.head_dim)
        k = self.wk(x).view(b, s, self.n_kv_heads, self.head_dim)
        v = self.wv(x).view(b, s, self.n_kv_heads, self.head_dim)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)
        # SDPA wants (b, heads, s, d).
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(b, s, -1))


class FeedForward(nn.Module):
    """SwiGLU: ``w2(silu(w1·x) ⊙ w3·x)``."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        hidden = args.ffn_hidden_dim
        self.w1 = nn.Linear(args.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: ``h = x + attn(norm(x)); out = h + ffn(norm(h))``."""

    def __init__(self, layer_id: int, args: ModelArgs) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """The decoder: embeddings → ``n_layers`` blocks → RMSNorm → untied vocabulary head."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(i, args) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, eps=args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        # Derived from args, so not saved in checkpoints (persistent=False); init_weights()
        # recomputes them after a meta-device build has been materialised.
        cos, sin = rope_cache(args.head_dim, args.max_seq_len, args.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    @torch.no_grad()
    def init_weights(self) -> None:
        """Initialises every parameter and buffer in place, on whatever device they live.

        GPT-2/nanoGPT scheme (the LLaMA paper does not state its init): every matrix
        ``N(0, 0.02)``; the two projections that write into the residual stream (``wo``,
        ``w2``) ``N(0, 0.02/√(2·n_layers))`` so the residual variance does not grow with
        depth; RMSNorm gains 1. Draws come from torch's global generator, so seeding it
        before this call fixes the model.
        """
        std = 0.02
        residual_std = std / math.sqrt(2 * self.args.n_layers)
        nn.init.normal_(self.tok_embeddings.weight, mean=0.0, std=std)
        for layer in self.layers:
            for lin in (layer.attention.wq, layer.attention.wk, layer.attention.wv,
                        layer.feed_forward.w1, layer.feed_forward.w3):
                nn.init.normal_(lin.weight, mean=0.0, std=std)
            nn.init.normal_(layer.attention.wo.weight, mean=0.0, std=residual_std)
            nn.init.normal_(layer.feed_forward.w2.weight, mean=0.0, std=residual_std)
            layer.attention_norm.reset_parameters()
            layer.ffn_norm.reset_parameters()
        self.norm.reset_parameters()
        nn.init.normal_(self.output.weight, mean=0.0, std=std)
        cos, sin = rope_cache(self.args.head_dim, self.args.max_seq_len, self.args.rope_theta,
                              device=self.rope_cos.device)
        self.rope_cos.copy_(cos)
        self.rope_sin.copy_(sin)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, seq, vocab)`` for token ids ``(batch, seq)``; position m predicts token m+1."""
        seq_len = tokens.shape[1]
        if seq_len > self.args.max_seq_len:
            raise ValueError(f"sequence of {seq_len} tokens exceeds max_seq_len {self.args.max_seq_len}")
        cos, sin = self.rope_cos[:seq_len], self.rope_sin[:seq_len]
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.output(self.norm(h))

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameter count; ``exclude_embeddings`` drops the input lookup table (not a matmul)."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.tok_embeddings.weight.numel()
        return n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: ``6·N + 12·L·d·T`` (PaLM, Chowdhery et al. 2022, App. B).

        ``6·N``: forward (2 per multiply-add) plus backward (twice the forward) through
        every weight matrix, with N the parameters minus the input embedding (a lookup,
        not a matmul; the untied output head is counted). ``12·L·d·T``: the attention
        scores QKᵀ and the weighted sum over values, 2·2·d·T per layer forward, ×3 for
        training. This counts the full T×T score matrix, as PaLM, nanoGPT and torchtitan
        do, although the causal mask lets flash kernels skip half of it; MFU figures are
        comparable with theirs for that reason.
        """
        return 6.0 * self.num_params(exclude_embeddings=True) + 12.0 * self.args.n_layers * self.args.dim * seq_len
