"""Depth networks of the real architectures with random weights, for tests and speed runs.

No depth weights can be downloaded on the build machines, so `bench` and the tests build the real
transformers classes (`DepthAnythingForDepthEstimation`, `DPTForDepthEstimation`) from configs:
`depth-anything-v2-small` is the released model's exact configuration (same cost as the real
weights), the `tiny-*` ones are a few hundred kB. Knows nothing about ONNX or the app.
"""

from __future__ import annotations

import torch

from live2diff_cam.depth.base import (
    DEPTH_ANYTHING_V2_SMALL,
    MIDAS_DPT_HYBRID,
    DepthModelSpec,
)
from live2diff_cam.errors import DepthError

RANDOM_ARCHITECTURES = ("depth-anything-v2-small", "tiny-depth-anything", "tiny-dpt-hybrid")


def _depth_anything(small: bool) -> tuple[torch.nn.Module, DepthModelSpec]:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    if small:
        # depth-anything/Depth-Anything-V2-Small-hf/config.json
        backbone = Dinov2Config(
            hidden_size=384,
            num_attention_heads=6,
            image_size=518,
            patch_size=14,
            out_indices=[3, 6, 9, 12],
            out_features=["stage3", "stage6", "stage9", "stage12"],
            reshape_hidden_states=False,
        )
        config = DepthAnythingConfig(
            backbone_config=backbone,
            fusion_hidden_size=64,
            head_hidden_size=32,
            neck_hidden_sizes=[48, 96, 192, 384],
            reassemble_factors=[4, 2, 1, 0.5],
            reassemble_hidden_size=384,
            patch_size=14,
        )
        return DepthAnythingForDepthEstimation(config), DEPTH_ANYTHING_V2_SMALL
    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=98,
        patch_size=14,
        out_indices=[1, 2, 3, 4],
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        fusion_hidden_size=16,
        head_hidden_size=8,
        neck_hidden_sizes=[8, 16, 32, 32],
        reassemble_hidden_size=32,
        patch_size=14,
    )
    return DepthAnythingForDepthEstimation(config), DEPTH_ANYTHING_V2_SMALL.with_input_size(98, 98)


def _tiny_dpt_hybrid() -> tuple[torch.nn.Module, DepthModelSpec]:
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation

    # MiDaS DPT-Hybrid's layout (BiT stages feeding a ViT, readout "project"), shrunk: the BiT
    # stem and stages downsample by 16, so a 64x64 input gives the 4x4 feature map below.
    backbone = BitConfig(
        global_padding="same",
        layer_type="bottleneck",
        depths=[1, 1, 1],
        hidden_sizes=[8, 16, 32],
        embedding_size=8,
        num_groups=2,
        out_features=["stage1", "stage2", "stage3"],
        embedding_dynamic_padding=True,
    )
    config = DPTConfig(
        is_hybrid=True,
        backbone_config=backbone,
        backbone_featmap_shape=[1, 32, 4, 4],
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=64,
        patch_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32],
        neck_ignore_stages=[0, 1],
        reassemble_factors=[1, 1, 1, 0.5],
        fusion_hidden_size=16,
        readout_type="project",
    )
    return DPTForDepthEstimation(config), MIDAS_DPT_HYBRID.with_input_size(64, 64)


@torch.no_grad()
def build_random_depth_model(
    architecture: str, seed: int = 0
) -> tuple[torch.nn.Module, DepthModelSpec]:
    """A randomly initialised depth model in eval mode, and the input spec it expects.

    The `tiny-*` models get wider weights than transformers' init (std 0.02 makes the head emit
    an almost constant map) and a positive head output, so their maps have structure to compare.
    """
    if architecture not in RANDOM_ARCHITECTURES:
        raise DepthError(
            f"unknown random depth architecture {architecture!r}: one of {RANDOM_ARCHITECTURES}"
        )
    torch.manual_seed(seed)
    if architecture == "tiny-dpt-hybrid":
        model, spec = _tiny_dpt_hybrid()
    else:
        model, spec = _depth_anything(small=architecture == "depth-anything-v2-small")
    if architecture.startswith("tiny-"):
        generator = torch.Generator().manual_seed(seed)
        for parameter in model.parameters():
            if parameter.ndim > 1:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / fan_in**0.5)
        head: torch.nn.Module = model.head  # type: ignore[assignment]
        last = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        # The head ends in ReLU: positive last weights on ReLU'd features keep the map alive.
        last.weight.abs_()
        if last.bias is not None:
            last.bias.fill_(0.1)
    return model.eval(), spec
