"""Denoising over time: the warmup clip, the stream batch, and the sequential reference.

Stream batch (StreamDiffusion; Live2Diff Fig. 4): with T steps, one UNet call holds T latents,
row s being the frame that entered s calls ago, now at step s with its own timestep and its own
cache[s]. After the call row T-1 is finished; rows 0..T-2 are re-noised to the next step and
move down one row; the next frame enters row 0. Output is delayed by T-1 frames, and every call
costs one UNet pass of batch T whatever T is.

The `Denoiser` owns the state that lives across frames (latents in flight, fixed noise, the
KV-cache, prompt embedding, schedule, the stream index of the next frame). All of it is buffers
of this module, allocated once with static shapes and updated in place, so a compiled step sees
the same memory every call and the slot bookkeeping stays on the device. It knows nothing of
pixels, the VAE or depth estimation: it takes latents and returns latents.
"""

from __future__ import annotations

import torch
from torch import nn

from live2diff_cam.engine.attention_mask import clip_attention_mask, stream_slots
from live2diff_cam.engine.kv_cache import TemporalKVCache
from live2diff_cam.engine.motion_module import TemporalContext
from live2diff_cam.engine.scheduler import LCMSchedule, add_noise, predict_x0
from live2diff_cam.engine.unet import Live2DiffUNet


class Denoiser(nn.Module):
    """Runs the UNet over latents in three ways that give the same frames.

    Buffers: `text` (1, 77, D) prompt embedding, `noise` (T, 4, h, w) one fixed tensor per step
    index, `depth_scale` 0-d, `latents`/`depth` (T, 4, h, w) the frames in flight (row = step),
    `next_index` 0-d long, the stream index of the frame entering row 0 next. The engine updates
    them in place, never replaces them.
    """

    text: torch.Tensor
    noise: torch.Tensor
    depth_scale: torch.Tensor
    latents: torch.Tensor
    depth: torch.Tensor
    next_index: torch.Tensor
    row_offsets: torch.Tensor

    def __init__(
        self,
        unet: Live2DiffUNet,
        schedule: LCMSchedule,
        noise: torch.Tensor,
        cache: TemporalKVCache,
        text: torch.Tensor,
        depth_scale: float,
        warmup: int,
        window: int,
    ) -> None:
        super().__init__()
        self.unet = unet
        self.schedule = schedule
        self.cache = cache
        self.warmup, self.window = warmup, window
        device, dtype = noise.device, noise.dtype
        self.register_buffer("noise", noise, persistent=False)
        self.register_buffer("text", text, persistent=False)
        self.register_buffer(
            "depth_scale", torch.tensor(depth_scale, device=device, dtype=dtype), persistent=False
        )
        self.register_buffer("latents", torch.zeros_like(noise), persistent=False)
        self.register_buffer("depth", torch.zeros_like(noise), persistent=False)
        self.register_buffer(
            "next_index", torch.zeros((), dtype=torch.long, device=device), persistent=False
        )
        self.register_buffer(
            "row_offsets", torch.arange(schedule.steps, device=device), persistent=False
        )

    @property
    def steps(self) -> int:
        return self.schedule.steps

    def restart_stream(self, next_index: int) -> None:
        """After a warmup pass: the next frame is stream frame `next_index`, no row is in flight."""
        self.next_index.fill_(next_index)
        self.latents.zero_()
        self.depth.zero_()

    def denoise_clip(
        self, z: torch.Tensor, depth: torch.Tensor | None, write_cache: bool
    ) -> torch.Tensor:
        """All F frames advance step by step together with the Fig. 1(d) mask: the offline
        reference, and (with `write_cache`) the warmup pass that fills slots [0, F) of every
        cache step. z, depth: (F, 4, h, w) clean latents; returns (F, 4, h, w) x0."""
        frames = z.shape[0]
        mask = clip_attention_mask(frames, self.warmup, self.window, device=z.device)
        positions = torch.arange(frames, device=z.device)
        x = add_noise(z, self.noise[0:1], self.schedule, slice(0, 1))
        for s in range(self.steps):
            ctx = TemporalContext(
                num_frames=frames,
                mask=mask,
                positions=positions,
                cache=self.cache,
                write_step=s if write_cache else None,
            )
            t = self.schedule.timesteps[s : s + 1].expand(frames)
            eps = self.unet(x, t, self.text, ctx, depth, self.depth_scale)
            x0 = predict_x0(x, eps, self.schedule, slice(s, s + 1))
            if s + 1 < self.steps:
                x = add_noise(x0, self.noise[s + 1 : s + 2], self.schedule, slice(s + 1, s + 2))
        return x0

    def advance(self, z: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """One stream-batch call: `z` (1, 4, h, w) enters row 0; returns row T-1's x0 (1, 4, h, w),
        the frame that entered T-1 calls ago (meaningless until T frames have entered)."""
        every_step = slice(0, self.steps)
        self.latents[0:1] = add_noise(z, self.noise[0:1], self.schedule, slice(0, 1))
        if depth is not None:
            self.depth[0:1] = depth
        slots = stream_slots(self.next_index - self.row_offsets, self.warmup, self.window)
        ctx = TemporalContext(num_frames=1, cache=self.cache, cache_steps=every_step, slots=slots)
        # latents: (T, 4, h, w); row 0 is the newest, noisiest frame, row T-1 finishes now.
        eps = self.unet(
            self.latents,
            self.schedule.timesteps,
            self.text,
            ctx,
            self.depth if depth is not None else None,
            self.depth_scale,
        )
        x0 = predict_x0(self.latents, eps, self.schedule, every_step)
        finished = x0[-1:].clone()
        if self.steps > 1:
            # Rows move down one step; torch.roll would allocate the same, so write through.
            self.latents[1:] = add_noise(x0[:-1], self.noise[1:], self.schedule, slice(1, None))
            self.depth[1:] = self.depth[:-1].clone()
        self.next_index += 1
        return finished

    def denoise_sequential(self, z: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """All T steps for one frame before the next enters (pipelining off): T calls of batch 1
        against the same caches the stream batch uses. Returns x0 (1, 4, h, w)."""
        slots = stream_slots(self.next_index[None], self.warmup, self.window)
        x = add_noise(z, self.noise[0:1], self.schedule, slice(0, 1))
        for s in range(self.steps):
            step = slice(s, s + 1)
            ctx = TemporalContext(num_frames=1, cache=self.cache, cache_steps=step, slots=slots)
            t = self.schedule.timesteps[step]
            eps = self.unet(x, t, self.text, ctx, depth, self.depth_scale)
            x0 = predict_x0(x, eps, self.schedule, step)
            if s + 1 < self.steps:
                x = add_noise(x0, self.noise[s + 1 : s + 2], self.schedule, slice(s + 1, s + 2))
        self.next_index += 1
        return x0
