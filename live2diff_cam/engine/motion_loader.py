"""The released Live2Diff motion-module checkpoint (`live2diff.ckpt`) into a `MotionAdapter`:
its keys are mapped onto the adapter (`state_dict`/`module.` wrappers removed, position tables
and `grid` buffers dropped, spatial UNet keys routed to the UNet); a missing or misshapen adapter
weight is a `ModelLoadError`, an unknown key a warning. Knows nothing of base models or LoRAs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel

from live2diff_cam.engine.motion_module import MotionAdapter
from live2diff_cam.engine.weight_files import (
    HUB_ID,
    LIVE2DIFF_FILE,
    HubOptions,
    hub_file,
    read_state_dict,
)
from live2diff_cam.errors import ModelLoadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionLoadReport:
    """What `load_motion_module` did with each key of the checkpoint."""

    path: Path
    adapter_keys: int  # motion-module and depth-network tensors loaded
    unet_keys: int  # spatial UNet tensors the checkpoint also carried
    dropped: tuple[str, ...]  # recomputed buffers (position tables, grids)
    unexpected: tuple[str, ...]


def motion_file(source: str | Path, hub: HubOptions) -> Path:
    path = Path(source).expanduser()
    if path.exists() or not HUB_ID.fullmatch(str(source)):
        return path
    return hub_file(str(source), LIVE2DIFF_FILE, hub, "Live2Diff motion module")


def load_motion_module(
    adapter: MotionAdapter, path: str | Path, unet: UNet2DConditionModel | None = None
) -> MotionLoadReport:
    """Load a released Live2Diff checkpoint (`live2diff.ckpt`) into `adapter` (and `unet`).

    Raises `ModelLoadError` if any adapter weight is missing or has another shape, or if the
    file matches no adapter key at all; keys it cannot place are logged as warnings.
    """
    path = Path(path).expanduser()
    state = read_state_dict(path, "Live2Diff motion-module")
    own = adapter.state_dict()
    unet_own = unet.state_dict() if unet is not None else {}
    to_adapter: dict[str, torch.Tensor] = {}
    to_unet: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unexpected: list[str] = []
    for raw_key, value in state.items():
        key = raw_key.removeprefix("module.")
        if "grid" in key or key.endswith(".pe"):
            dropped.append(key)  # sinusoid tables and grids: recomputed, not learned
        elif key in own:
            to_adapter[key] = value
        elif key in unet_own:
            to_unet[key] = value
        else:
            unexpected.append(key)
    if not to_adapter:
        sample = ", ".join(list(state)[:3])
        raise ModelLoadError(
            f"{path} does not look like a Live2Diff motion-module checkpoint: none of its "
            f"{len(state)} keys (e.g. {sample}) is a motion-module key such as "
            "down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight"
        )
    missing = [k for k in own if k not in to_adapter]
    if missing:
        raise ModelLoadError(
            f"{path} lacks {len(missing)} of the {len(own)} motion-module weights this model "
            f"needs (first: {', '.join(missing[:5])}); it is incomplete or for another "
            "architecture: use the released live2diff.ckpt"
        )
    for target, own_state in ((to_adapter, own), (to_unet, unet_own)):
        wrong = [k for k, v in target.items() if v.shape != own_state[k].shape]
        if wrong:
            first = wrong[0]
            raise ModelLoadError(
                f"{path}: {len(wrong)} weights have another shape than this model's (first: "
                f"{first} {tuple(target[first].shape)} vs {tuple(own_state[first].shape)}); the "
                "motion module is for another base architecture (Live2Diff needs SD1.5)"
            )
    adapter.load_state_dict(to_adapter, strict=True)
    if to_unet and unet is not None:
        unet.load_state_dict(to_unet, strict=False)
    if unexpected:
        log.warning(
            "%s: %d keys fit no part of the model and were ignored (first: %s)",
            path,
            len(unexpected),
            ", ".join(unexpected[:5]),
        )
    return MotionLoadReport(path, len(to_adapter), len(to_unet), tuple(dropped), tuple(unexpected))
