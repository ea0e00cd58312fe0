"""A one-block causal transformer language model with tied input/output embeddings.

Tied weights (the LM head shares the token embedding) are saved once by
`safetensors.torch.save_model`; the causal mask is a non-persistent buffer, so it is
not in the weight file. Both are things a strict loader must get right.
"""

from __future__ import annotations

import math

import torch  # noqa: TID253 - example model code, not the package
from torch import nn  # noqa: TID253

VOCAB, D_MODEL, HEADS, SEQ = 64, 32, 4, 16
BATCH = 2


class Block(nn.Module):
    """Pre-norm self-attention and MLP, with residuals."""

    def __init__(self) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(D_MODEL)
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.proj = nn.Linear(D_MODEL, D_MODEL)
        self.ln2 = nn.LayerNorm(D_MODEL)
        self.mlp = nn.Sequential(
            nn.Linear(D_MODEL, 4 * D_MODEL), nn.GELU(), nn.Linear(4 * D_MODEL, D_MODEL)
        )
        mask = torch.ones(SEQ, SEQ, dtype=torch.bool).tril()
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D_MODEL, dim=-1)
        shape = (b, t, HEADS, D_MODEL // HEADS)
        q, k, v = (z.reshape(shape).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D_MODEL // HEADS)
        scores = scores.masked_fill(~self.causal_mask[:t, :t], float("-inf"))
        attn = scores.softmax(dim=-1) @ v
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, D_MODEL))
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    """Token + position embeddings, one block, final norm, tied LM head."""

    def __init__(self) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, D_MODEL)
        self.pos_emb = nn.Parameter(torch.zeros(SEQ, D_MODEL))
        self.block = Block()
        self.ln_f = nn.LayerNorm(D_MODEL)
        self.lm_head = nn.Linear(D_MODEL, VOCAB, bias=False)
        self.lm_head.weight = self.tok_emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(ids) + self.pos_emb[: ids.shape[1]]
        return self.lm_head(self.ln_f(self.block(x)))


def build() -> nn.Module:
    """The model factory (`--factory examples.models.transformer:build`)."""
    model = TinyTransformer()
    nn.init.normal_(model.pos_emb, std=0.02)
    return model


def example_input(seed: int) -> torch.Tensor:
    """Seeded token ids, shape (2, 16), built on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen)
