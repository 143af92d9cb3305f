"""Refusing weight files that hold NaN or infinite values.

A checkpoint or LoRA with one non-finite tensor loads without complaint and then turns every
frame black (NaN spreads through every layer it touches). `check_finite` is called wherever a
state dict is read, so such a file fails at load with its name. It knows nothing about models.
"""

from __future__ import annotations

from pathlib import Path

import torch

from live2diff_cam.errors import ModelLoadError


def check_finite(state: dict[str, torch.Tensor], path: str | Path) -> dict[str, torch.Tensor]:
    """`state` itself if every floating-point tensor in it is finite, else `ModelLoadError`
    naming `path`, the first bad key and how many of its values are bad."""
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            bad = int(finite.numel() - finite.sum())
            raise ModelLoadError(
                f"{path} holds non-finite weights ({bad} NaN or infinite values in '{key}', "
                "the first such tensor): the file is damaged or came from a training run "
                "that diverged; it would turn every frame black. Use another copy."
            )
    return state
