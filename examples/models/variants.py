"""Wrong revisions of the reference models: what a deploy image with stale model code
builds. Each one fails the strict load of the reference weights, for one named reason.
"""

from __future__ import annotations

import torch  # noqa: TID253 - example model code, not the package
from torch import nn  # noqa: TID253

from examples.models.mlp import MLP


class _MLPWithExtraLayer(MLP):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)


def mlp_extra_layer() -> nn.Module:
    """Expects `norm.weight` and `norm.bias`, absent from the file: missing keys."""
    return _MLPWithExtraLayer()


def mlp_without_head_bias() -> nn.Module:
    """Has no `head.bias`, which the file holds: an unexpected key."""
    model = MLP()
    model.head = nn.Linear(model.head.in_features, model.head.out_features, bias=False)
    return model


def mlp_wide() -> nn.Module:
    """Hidden width 48 instead of 32: shape mismatches."""
    return MLP(hidden=48)


def mlp_float64() -> nn.Module:
    """Parameters in float64 while the file holds float32: dtype mismatches."""
    return MLP().to(torch.float64)
