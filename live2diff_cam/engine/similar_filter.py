"""Similar-frame filter (StreamDiffusion's stochastic similarity filter).

A frame nearly identical to the last processed one is skipped with a probability that grows
from 0 at `threshold` cosine similarity to 1 at identity, at most `max_skip` times in a row, so
a still scene costs almost nothing and a moving one is never frozen for long.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F


class SimilarFrameFilter:
    """`should_skip(image)` for (1, 3, H, W) device images. One host sync per call (the
    decision has to reach Python to skip the UNet); off by default for that reason."""

    def __init__(self, threshold: float = 0.98, max_skip: int = 10, seed: int = 0) -> None:
        self.threshold = threshold
        self.max_skip = max_skip
        self._rng = random.Random(seed)
        self._seed = seed
        self._last: torch.Tensor | None = None
        self._skipped = 0

    def reset(self) -> None:
        self._rng.seed(self._seed)
        self._last = None
        self._skipped = 0

    def should_skip(self, image: torch.Tensor) -> bool:
        if self._last is not None and self._skipped < self.max_skip:
            similarity = F.cosine_similarity(
                image.flatten().float(), self._last.flatten().float(), dim=0
            ).item()
            if similarity > self.threshold:
                probability = (similarity - self.threshold) / (1.0 - self.threshold)
                if self._rng.random() < probability:
                    self._skipped += 1
                    return True
        if self._last is None or self._last.shape != image.shape:
            self._last = image.detach().clone()
        else:
            self._last.copy_(image)
        self._skipped = 0
        return False
