"""A three-layer perceptron: 16 inputs, two hidden layers of 32, 4 outputs."""

from __future__ import annotations

import torch  # noqa: TID253 - example model code, not the package
from torch import nn  # noqa: TID253

IN_FEATURES, HIDDEN, OUT_FEATURES = 16, 32, 4
BATCH = 8


class MLP(nn.Module):
    """Linear-ReLU-Linear-ReLU-Linear."""

    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.fc1 = nn.Linear(IN_FEATURES, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, OUT_FEATURES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def build() -> nn.Module:
    """The model factory (`--factory examples.models.mlp:build`)."""
    return MLP()


def example_input(seed: int) -> torch.Tensor:
    """A seeded (8, 16) standard-normal batch, built on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, IN_FEATURES, generator=gen)
