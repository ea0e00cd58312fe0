"""A small convolutional network with batch norm; returns logits and a feature map.

The feature map (2 x 16 x 16 x 16 = 8192 values) is larger than a smoke record keeps in
full, so it exercises the projection encoding; batch norm brings buffers (running
statistics, and an int64 counter) into the strict load.
"""

from __future__ import annotations

import torch  # noqa: TID253 - example model code, not the package
from torch import nn  # noqa: TID253

CLASSES = 10
BATCH, CHANNELS, SIZE = 2, 3, 16


class SmallCNN(nn.Module):
    """conv-bn-relu, conv-relu, global average pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(CHANNELS, 8, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.classifier = nn.Linear(16, CLASSES)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = torch.relu(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        logits = self.classifier(features.mean(dim=(2, 3)))
        return {"logits": logits, "features": features}


def build() -> nn.Module:
    """The model factory (`--factory examples.models.cnn:build`)."""
    return SmallCNN()


def example_input(seed: int) -> torch.Tensor:
    """A seeded (2, 3, 16, 16) image batch in [0, 1), built on the CPU."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(BATCH, CHANNELS, SIZE, SIZE, generator=gen)
