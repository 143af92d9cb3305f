"""Step 2 of `make_golden.sh`, in the ORIGINAL's environment: the authors' streaming pipeline.

Usage: python run_original.py SOURCE OUT
  SOURCE: the patched checkout of open-mmlab/Live2Diff (its `live2diff/` and `configs/`)
  OUT:    the folder `write_inputs.py` filled; `latents.npz` is written there.

Drives `StreamAnimateDiffusionDepth` the way the authors' `utils/wrapper.py` does (build the
pipeline from a config inheriting their `configs/base_config.yaml`, load the warmup UNet,
prepare the caches, `prepare()` the 8 warmup frames, then one call per frame), on the CPU in
float32, without LCM-LoRA (the random model needs none). What this script adds, and nothing else:
* the depth model is a stand-in that returns the prepared raw depth maps in order (the
  original's own min-max normalisation, resizing and VAE encoding then run on them);
* `fixed_noise` (T, 4, 1, h, w), read by the patched lines instead of fresh random noise;
* the x0 latent of every finished frame is recorded where the pipeline decodes it.
For each number of steps it runs once as released and once with the stale-slot reads masked
(`mask_stale_slots`, see README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

WARMUP = 8


class InjectedDepth(nn.Module):
    """Stands in for `MidasDetector`: returns the next prepared raw maps, (N, H, W)."""

    maps: torch.Tensor  # (frames, H, W), set before each run
    cursor = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a dtype and device

    @property
    def dtype(self) -> torch.dtype:
        return self.anchor.dtype

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        count = images.shape[0]
        start = InjectedDepth.cursor
        InjectedDepth.cursor += count
        return InjectedDepth.maps[start : start + count].to(images.dtype)


def write_config(source: Path, out: Path) -> Path:
    config = out / "golden_config.yaml"
    config.write_text(
        f'base: "{source / "configs" / "base_config.yaml"}"\n'
        f'pretrained_model_path: "{out / "model"}"\n'
        f'motion_module_path: "{out / "live2diff.ckpt"}"\n'
        'depth_model_path: "injected"\n'
    )
    return config


def run(config: Path, inputs: dict, steps: int, mask_stale_slots: bool) -> np.ndarray:
    from live2diff import StreamAnimateDiffusionDepth
    from live2diff.animatediff.pipeline import AnimationDepthPipeline

    frames = torch.from_numpy(inputs["frames"]).permute(0, 3, 1, 2).float() / 255.0
    InjectedDepth.maps = torch.from_numpy(inputs["depth"])
    InjectedDepth.cursor = 0
    height, width = frames.shape[-2:]

    pipe = AnimationDepthPipeline.build_pipeline(str(config)).to(device="cpu", dtype=torch.float32)
    stream = StreamAnimateDiffusionDepth(
        pipe=pipe,
        num_inference_steps=int(inputs["num_inference_steps"]),
        t_index_list=inputs[f"t_index_{steps}"].tolist(),
        torch_dtype=torch.float32,
        width=width,
        height=height,
        cfg_type="none",
        clip_skip=1,
    )
    stream.load_warmup_unet(str(config))
    stream.prepare_cache(height=height, width=width, denoising_steps_num=steps)
    noise = torch.from_numpy(inputs[f"noise_{steps}"])
    stream.fixed_noise = noise[:, :, None]  # (T, 4, 1, h, w): step index, then a frame axis
    stream.mask_stale_slots = mask_stale_slots
    stream.frames_streamed = 0

    finished: list[torch.Tensor] = []
    decode = stream.decode_image

    def recording_decode(x0: torch.Tensor) -> torch.Tensor:
        finished.extend(x0.detach().clone())
        return decode(x0)

    stream.decode_image = recording_decode
    stream.prepare(frames[:WARMUP], str(inputs["prompt"]))
    for frame in frames[WARMUP:]:
        stream(frame[None])
    # Calls 1..T-1 finish the empty rows the stream batch starts with: not frames.
    real = finished[:WARMUP] + finished[WARMUP + steps - 1 :]
    print(
        f"{steps} steps, stale slots {'masked' if mask_stale_slots else 'as released'}: "
        f"{len(real)} frames"
    )
    return torch.stack(real).numpy()


def main(source: Path, out: Path) -> None:
    sys.path.insert(0, str(source))
    import live2diff.animatediff.pipeline.pipeline_animatediff_depth as pipeline_module

    pipeline_module.MidasDetector = InjectedDepth  # no MiDaS weights: inject the depth maps
    torch.set_grad_enabled(False)
    inputs = dict(np.load(out / "inputs.npz"))
    config = write_config(source, out)
    results = {}
    for steps in sorted(int(key.split("_")[-1]) for key in inputs if key.startswith("noise_")):
        results[f"x0_{steps}"] = run(config, inputs, steps, mask_stale_slots=False)
        results[f"x0_{steps}_masked"] = run(config, inputs, steps, mask_stale_slots=True)
    np.savez_compressed(out / "latents.npz", **results)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
