"""`StreamEngine`: frames in, stylised frames out, one at a time (Live2Diff, Xing et al. 2024).

    engine = StreamEngine(EngineConfig(height=512, width=512), load_model("sd15-random"))
    for frame in frames:                    # (H, W, 3) uint8 RGB
        out = engine.step(frame)            # None until the warmup frames have arrived
        while out is not None:
            show(out)
            out = engine.pop_finished()     # after warmup, 8 frames finish at once
    for out in engine.flush():              # end of a file: drain what is in flight
        show(out)

The first `warmup` frames are buffered and denoised together (bidirectional attention); their
keys/values stay in the cache for the whole stream. Every later frame runs through the stream
batch (`pipeline.Denoiser.advance`) and comes out `delay_frames` calls later. Outputs come out
one per input, in input order.

Changing the prompt or the strength re-primes in place: the last `warmup` inputs are denoised
again as a new warmup clip with the new settings, the frames still in flight are emitted from
that pass, and the stream goes on — no blank frames and no frame lost.

The engine is single-threaded: call every method from the thread that runs `step`. It knows
nothing of cameras, files, threads or Qt.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from live2diff_cam.engine.codec import FrameConverter, LatentCodec
from live2diff_cam.engine.config import EngineConfig
from live2diff_cam.engine.kv_cache import TemporalKVCache
from live2diff_cam.engine.models import EngineModel
from live2diff_cam.engine.pipeline import Denoiser
from live2diff_cam.engine.scheduler import lcm_schedule
from live2diff_cam.engine.similar_filter import SimilarFrameFilter
from live2diff_cam.engine.text import encode_prompt
from live2diff_cam.engine.unet import Live2DiffUNet
from live2diff_cam.errors import EngineError

log = logging.getLogger(__name__)

# frames (N, 3, H, W) float in [0, 1] -> depth (N, 1, H, W) in [0, 1] per frame, near = 1.
DepthEstimator = Callable[[torch.Tensor], torch.Tensor]


class StreamEngine:
    """Streaming video-to-video with uni-directional temporal attention and a KV-cache."""

    def __init__(
        self,
        config: EngineConfig,
        model: EngineModel | str = "tiny",
        depth_estimator: DepthEstimator | None = None,
    ) -> None:
        if isinstance(model, str):
            from live2diff_cam.engine.loaders import load_model

            model = load_model(model)
        self.config = config
        self.model = model
        self.depth_estimator = depth_estimator
        self.device = torch.device(config.device)
        self.dtype = getattr(torch, config.dtype)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EngineError(
                "device 'cuda' was asked for but torch sees no CUDA GPU; install a CUDA build of "
                "torch and an NVIDIA driver, or run with --device cpu (tiny model only)"
            )
        multiple = model.pixel_multiple
        if config.height % multiple or config.width % multiple:
            raise EngineError(
                f"resolution {config.width}x{config.height} must be a multiple of {multiple} "
                f"pixels for this model (e.g. {multiple * (512 // multiple)}x"
                f"{multiple * (512 // multiple)})"
            )

        # 1. Weights on the device, inference only.
        for module in (model.unet, model.adapter, model.vae, model.text_encoder):
            # nn.Module.to, not diffusers' override: that one warns about fp32-only modules
            # even for models that have none.
            nn.Module.to(module, self.device, self.dtype).eval().requires_grad_(False)
        self.unet = Live2DiffUNet(model.unet, model.adapter)
        self.codec = LatentCodec(model.vae)
        self.frames = FrameConverter(config.height, config.width, self.device, self.dtype)

        # 2. State that lives across frames, allocated once.
        f = model.vae_scale_factor
        latent_h, latent_w = config.height // f, config.width // f
        steps = config.num_steps
        generator = torch.Generator().manual_seed(config.seed)
        noise = torch.randn((steps, 4, latent_h, latent_w), generator=generator)
        cache = TemporalKVCache(
            model.adapter.layer_shapes(latent_h, latent_w),
            steps,
            config.window,
            store_keys_values=config.kv_cache,
            device=self.device,
            dtype=self.dtype,
        )
        self.denoiser = Denoiser(
            self.unet,
            lcm_schedule(
                model.scheduler, config.timestep_indices, config.num_inference_steps, self.device
            ),
            noise.to(self.device, self.dtype),
            cache,
            self._encode_prompt(config.prompt),
            torch.tensor(config.depth_scale, device=self.device, dtype=self.dtype),
            config.warmup,
            config.window,
        )
        if config.compile:
            log.info("compiling the stream step (first frames will be slow)")
            self.denoiser.stream_unet = torch.compile(self.unet, mode="max-autotune-no-cudagraphs")
        # The last `warmup` inputs, kept to re-prime after a prompt/strength change.
        self._recent_z = torch.zeros(
            (config.warmup, 4, latent_h, latent_w), device=self.device, dtype=self.dtype
        )
        self._recent_depth = torch.zeros_like(self._recent_z)
        self._filter = SimilarFrameFilter(
            config.similar_threshold, config.similar_max_skip, config.seed
        )
        # Finished frames with the call count from which they may be returned.
        self._finished: deque[tuple[int, np.ndarray]] = deque()
        self.reset()

    # ----------------------------------------------------------------- public API
    @property
    def delay_frames(self) -> int:
        """Frames of output delay added by pipelining (steps - 1; 0 when pipelining is off)."""
        return self.config.num_steps - 1 if self.config.pipeline else 0

    @torch.inference_mode()
    def reset(self) -> None:
        """Start a new stream: the next frame is warmup frame 0."""
        self.denoiser.cache.reset()
        self.denoiser.restart_stream(self.config.warmup)
        self._filter.reset()
        self._finished.clear()
        self._received = 0  # frames taken since reset
        self._primed = False
        self._reprime = False
        self._rows_real = [False] * self.config.num_steps  # which stream-batch rows hold frames
        self._last_output: np.ndarray | None = None

    @torch.inference_mode()
    def step(self, frame: np.ndarray | torch.Tensor) -> np.ndarray | None:
        """Consume one `(H', W', 3) uint8` RGB frame; return the oldest finished frame not yet
        returned, `(height, width, 3) uint8`, or None while the pipeline fills."""
        image = self.frames.to_device(frame)
        filtering = self._primed and self.config.similar_filter and self._last_output is not None
        if filtering and self._filter.should_skip(image):
            self._finished.append((self._received, self._last_output))
            return self.pop_finished()
        z, depth = self.encode(image)
        slot = self._received % self.config.warmup
        self._recent_z[slot] = z[0]
        if depth is not None:
            self._recent_depth[slot] = depth[0]
        self._received += 1

        if not self._primed:
            if self._received == self.config.warmup:
                self._prime(emit=self.config.warmup, spread=False)
        elif self._reprime:
            # The frames still in the stream batch come out of the re-prime, then this one.
            self._prime(emit=1 + sum(self._rows_real), spread=True)
        elif self.config.pipeline:
            self._advance(z, depth)
        else:
            self._finish(self.denoiser.denoise_sequential(z, depth))
        return self.pop_finished()

    def pop_finished(self) -> np.ndarray | None:
        """The next finished frame waiting to be returned, or None."""
        if self._finished and self._finished[0][0] <= self._received:
            return self._finished.popleft()[1]
        return None

    @torch.inference_mode()
    def flush(self) -> list[np.ndarray]:
        """Finish every frame taken so far (end of a file) and return them in order. The engine
        is reset afterwards, ready for a new stream."""
        if not self._primed and self._received:
            self._prime(emit=self._received, spread=False)  # a clip shorter than the warmup
        elif self._primed and self.config.pipeline:
            z = torch.zeros_like(self.denoiser.latents[:1])
            while any(self._rows_real):
                self._advance(z, None if self.depth_estimator is None else z, real=False)
        finished = [frame for _, frame in self._finished]
        self.reset()
        return finished

    @torch.inference_mode()
    def set_prompt(self, prompt: str) -> None:
        """New prompt, applied from the next frame (re-primes in place, no blank frames)."""
        self.denoiser.text.copy_(self._encode_prompt(prompt))
        self.config = dataclasses.replace(self.config, prompt=prompt)
        self._reprime = self._primed

    @torch.inference_mode()
    def set_strength(self, strength: float) -> None:
        """Style slider, 0 = the input, 1 = the style. Keeps the number of steps."""
        config = dataclasses.replace(self.config, strength=strength, t_index_list=None)
        schedule = lcm_schedule(
            self.model.scheduler,
            config.timestep_indices,
            config.num_inference_steps,
            self.device,
        )
        for field in dataclasses.fields(schedule):
            getattr(self.denoiser.schedule, field.name).copy_(getattr(schedule, field.name))
        self.config = config
        self._reprime = self._primed

    @torch.inference_mode()
    def set_depth_scale(self, depth_scale: float) -> None:
        """Structure knob: 0 ignores the depth map, 1 is as trained. Applies at once."""
        self.config = dataclasses.replace(self.config, depth_scale=depth_scale)
        self.denoiser.depth_scale.fill_(depth_scale)

    @torch.inference_mode()
    def denoise_offline(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reference: denoise up to `window` frames as one clip with the Fig. 1(d) mask, all
        frames advancing together (ENGINE_SPEC §5.1). Leaves the stream state untouched."""
        if not 1 <= len(frames) <= self.config.window:
            raise EngineError(f"the offline reference takes 1..{self.config.window} frames")
        encoded = [self.encode(self.frames.to_device(f)) for f in frames]
        z = torch.cat([e[0] for e in encoded])
        depth = None if encoded[0][1] is None else torch.cat([e[1] for e in encoded])
        x0 = self.denoiser.denoise_clip(z, depth, write_cache=False)
        return [self.frames.to_host(self.codec.decode(x0[i : i + 1])) for i in range(len(frames))]

    # ----------------------------------------------------------------- internals
    def _encode_prompt(self, prompt: str) -> torch.Tensor:
        model = self.model
        return encode_prompt(
            model.tokenizer, model.text_encoder, prompt, model.clip_skip, self.device, self.dtype
        )

    def encode(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(1, 3, H, W) in [0, 1] -> image latent and depth latent (1, 4, h, w) each."""
        if self.depth_estimator is None:
            return self.codec.encode(image * 2 - 1), None
        depth = self.depth_estimator(image).to(image.dtype)
        # One VAE pass for both: the depth map as a grey image in [-1, 1] (ENGINE_SPEC §1).
        batch = torch.cat([image, depth.expand(-1, 3, -1, -1)]) * 2 - 1
        latents = self.codec.encode(batch)
        return latents[:1], latents[1:]

    def _prime(self, emit: int, spread: bool) -> None:
        """Warmup pass over the last min(received, warmup) inputs; emit the newest `emit`.

        `spread`: release them one per call (a re-prime mid-stream), so a consumer that drains
        every call still gets exactly one frame per call while the stream batch refills.
        """
        count = min(self._received, self.config.warmup)
        order = torch.arange(self._received - count, self._received) % self.config.warmup
        z = self._recent_z[order.to(self.device)]
        depth = None if self.depth_estimator is None else self._recent_depth[order.to(self.device)]
        x0 = self.denoiser.denoise_clip(z, depth, write_cache=True)
        self.denoiser.restart_stream(count)
        self._rows_real = [False] * self.config.num_steps
        for k, i in enumerate(range(count - emit, count)):
            self._finish(x0[i : i + 1], release_at=self._received + (k if spread else 0))
        self._primed, self._reprime = True, False

    def _advance(self, z: torch.Tensor, depth: torch.Tensor | None, real: bool = True) -> None:
        self._rows_real[0] = real
        finished = self.denoiser.advance(z, depth)
        if self._rows_real[-1]:
            self._finish(finished)
        self._rows_real = [False, *self._rows_real[:-1]]

    def _finish(self, x0: torch.Tensor, release_at: int | None = None) -> None:
        self._last_output = self.frames.to_host(self.codec.decode(x0))
        release = self._received if release_at is None else release_at
        self._finished.append((release, self._last_output))
