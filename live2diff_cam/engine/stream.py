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
keys/values stay in the cache for the whole stream. Every later frame goes through one call of
the stream step — encode, one stream-batch UNet call (`pipeline.Denoiser.advance`), decode of
the row that finished, conversion to uint8 — which is a single function of static shapes that
`torch.compile` turns into one graph (CUDA graphs on CUDA). Outputs come out one per input, in
input order, `delay_frames` calls after their input.

On CUDA, upload, resize and depth estimation of frame n+1 run on an input stream while the
denoising stream still works on frame n; the finished frame is copied into pinned memory with
an event, and returned one call later so the host never waits for the step it just queued.

Changing the prompt or the strength re-primes in place: the last `warmup` inputs are denoised
again as a new warmup clip with the new settings, the frames still in flight are emitted from
that pass, and the stream goes on: no blank frames and no frame lost.

The engine is single-threaded: call every method from the thread that runs `step`. It knows
nothing of cameras, files, threads or Qt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from live2diff_cam.engine.codec import FrameConverter, LatentCodec, depth_to_image, to_uint8_hwc
from live2diff_cam.engine.config import EngineConfig
from live2diff_cam.engine.kv_cache import TemporalKVCache
from live2diff_cam.engine.models import EngineModel
from live2diff_cam.engine.pipeline import Denoiser
from live2diff_cam.engine.scheduler import LCMSchedule
from live2diff_cam.engine.similar_filter import SimilarFrameFilter
from live2diff_cam.engine.text import encode_prompt
from live2diff_cam.engine.unet import Live2DiffUNet
from live2diff_cam.errors import EngineError

log = logging.getLogger(__name__)

# frames (N, 3, H, W) float in [0, 1] -> raw depth (N, 1, H, W), larger = nearer, unnormalised.
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
        for layer, _level in model.adapter.attention_layers():
            layer.refresh_position_projections()  # W pe in the weights' final dtype
        self.unet = Live2DiffUNet(model.unet, model.adapter)
        self.codec = LatentCodec(model.vae)
        steps, warmup = config.num_steps, config.warmup
        # Frames waiting to be returned: at most a warmup clip plus the frames in flight.
        ring = warmup + steps + 2
        self.frames = FrameConverter(config.height, config.width, self.device, self.dtype, ring)

        # 2. State that lives across frames, allocated once.
        f = model.vae_scale_factor
        latent_h, latent_w = config.height // f, config.width // f
        generator = torch.Generator().manual_seed(config.seed)
        noise = torch.randn((steps, 4, latent_h, latent_w), generator=generator)
        cache = TemporalKVCache(
            model.adapter.layer_shapes(latent_h, latent_w),
            steps,
            config.window,
            recompute_keys_values=config.recompute_keys_values,
            device=self.device,
            dtype=self.dtype,
        )
        self.denoiser = Denoiser(
            self.unet,
            LCMSchedule(
                model.scheduler, config.timestep_indices, config.num_inference_steps, self.device
            ),
            noise.to(self.device, self.dtype),
            cache,
            self._encode_prompt(config.prompt),
            config.depth_scale,
            warmup,
            config.window,
        )
        # The last `warmup` inputs, kept to (re-)prime: images and raw depth maps.
        self._recent_images = torch.zeros(
            (warmup, 3, config.height, config.width), device=self.device, dtype=self.dtype
        )
        self._recent_depth = torch.zeros_like(self._recent_images[:, :1])
        self._filter = SimilarFrameFilter(
            config.similar_threshold, config.similar_max_skip, config.seed
        )
        self._input_stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        # Calls between a finished frame's readback and its return (see the module docstring).
        self.readback_lag = 1 if self._input_stream is not None else 0
        self._denoise = (
            self.denoiser.advance if config.pipeline else self.denoiser.denoise_sequential
        )
        self._stream_call: Callable[..., torch.Tensor] = self.stream_frame
        if config.compile:
            log.info("compiling the stream step (the first frames will be slow)")
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._stream_call = torch.compile(self.stream_frame, fullgraph=True, mode=mode)
        # Finished frames not yet returned: (call count from which it may be, ring slot).
        self._finished: deque[tuple[int, int]] = deque()
        self.reset()

    # ----------------------------------------------------------------- public API
    @property
    def delay_frames(self) -> int:
        """Calls between a stream frame's input and its output: steps - 1 from pipelining (0
        when it is off), plus one on CUDA for the asynchronous readback."""
        return self._pipeline_delay + self.readback_lag

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
        # Since the last (re-)prime: stream calls made, and real frames among them. Real frames
        # enter first, placeholders only while flushing, so these two say which rows are real.
        self._stream_calls = 0
        self._stream_frames = 0
        self._last_slot: int | None = None

    @torch.inference_mode()
    def step(self, frame: np.ndarray | torch.Tensor) -> np.ndarray | None:
        """Consume one `(H', W', 3) uint8` RGB frame; return the oldest finished frame not yet
        returned, a new `(height, width, 3) uint8` array, or None while the pipeline fills."""
        image, depth = self.upload(frame)
        repeat = self._last_slot
        if repeat is not None and self._skips(image):
            self._finished.append((self._received, repeat))
            return self.pop_finished()
        self._remember(image, depth)
        if not self._primed:
            if self._received == self.config.warmup:
                self._prime(emit=self.config.warmup, spread=False)
        elif self._reprime and not self._refilling:
            # The frames still in the stream batch come out of the re-prime, then this one.
            self._prime(emit=1 + self._frames_in_flight, spread=True)
        else:
            self._run_stream_call(image, depth, real=True)
        return self.pop_finished()

    def pop_finished(self) -> np.ndarray | None:
        """The next finished frame waiting to be returned, or None."""
        if self._finished and self._finished[0][0] <= self._received:
            return self.frames.host_frame(self._finished.popleft()[1]).copy()
        return None

    @torch.inference_mode()
    def flush(self) -> list[np.ndarray]:
        """Finish every frame taken so far (end of a file) and return them in order. The engine
        is reset afterwards, ready for a new stream."""
        if not self._primed and self._received:
            self._prime(emit=self._received, spread=False)  # a clip shorter than the warmup
        elif self._primed:
            image, depth = self._placeholder()
            while self._frames_in_flight:
                self._run_stream_call(image, depth, real=False)
        finished = [self.frames.host_frame(slot).copy() for _, slot in self._finished]
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
        """Style slider, 0 = the input, 1 = the style. Keeps the number of steps; re-primes only
        when the strength moves the timestep indices (most slider ticks do not)."""
        config = dataclasses.replace(self.config, strength=strength, t_index_list=None)
        changed = config.timestep_indices != self.config.timestep_indices
        self.config = config
        if changed:
            self.denoiser.schedule.load_(
                self.model.scheduler, config.timestep_indices, config.num_inference_steps
            )
            self._reprime = self._primed

    @torch.inference_mode()
    def set_depth_scale(self, depth_scale: float) -> None:
        """Structure knob: 0 ignores the depth map, 1 is as trained. Applies at once."""
        self.config = dataclasses.replace(self.config, depth_scale=depth_scale)
        self.denoiser.depth_scale.fill_(depth_scale)

    @torch.inference_mode()
    def warm_up(self, progress: Callable[[str], None] | None = None) -> None:
        """Compile (and on CUDA capture) the stream step now, on placeholder frames, instead of
        on the first live frames; then reset. Cheap when compilation is off."""
        if not self.config.compile:
            return
        if progress:
            progress("compiling the stream step (minutes the first time, cached afterwards)")
        image, depth = self._placeholder()
        for call in range(3):  # trace, then (CUDA graphs) record, then replay once
            self._invoke(image, depth)
            if progress:
                progress(f"compiling the stream step: call {call + 1} of 3 done")
        self.reset()

    @torch.inference_mode()
    def encode_frame(self, frame: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One frame -> its image latent and depth latent (1, 4, h, w) each (depth normalised
        per frame, as in the stream). For baselines and tests."""
        image, depth = self.upload(frame)
        return self._encode(image, depth, joint=False)

    @torch.inference_mode()
    def denoise_offline(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reference: denoise up to `window` frames as one clip with the Fig. 1(d) mask, all
        frames advancing together (ENGINE_SPEC §5.1). Leaves the stream state untouched.
        Depth maps of the first `warmup` frames are normalised together, later ones per frame,
        as the stream does."""
        if not 1 <= len(frames) <= self.config.window:
            raise EngineError(f"the offline reference takes 1..{self.config.window} frames")
        warmup = self.config.warmup
        inputs = [self.upload(f) for f in frames]
        images = torch.cat([image for image, _ in inputs])
        maps = [depth for _, depth in inputs if depth is not None]
        depths = torch.cat(maps) if maps else None
        # The warmup frames' depth maps are normalised together, later ones each on its own.
        parts = [(slice(0, warmup), True)]
        parts += [(slice(i, i + 1), False) for i in range(warmup, len(frames))]
        encoded = [
            self._encode(images[part], None if depths is None else depths[part], joint)
            for part, joint in parts
        ]
        z = torch.cat([latent for latent, _ in encoded])
        depth_latents = [latent for _, latent in encoded if latent is not None]
        depth_z = torch.cat(depth_latents) if depth_latents else None
        x0 = self.denoiser.denoise_clip(z, depth_z, write_cache=False)
        pixels = to_uint8_hwc(self.codec.decode(x0)).cpu().numpy()
        return list(pixels)

    def stream_frame(self, image: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """The stream step: (1, 3, H, W) image in [0, 1] and its raw depth (1, 1, H, W) ->
        (1, H, W, 3) uint8 of the frame that finished. Static shapes, no host sync: this is
        the function `torch.compile` captures."""
        z, depth_z = self._encode(image, depth, joint=False)
        x0 = self._denoise(z, depth_z)
        return to_uint8_hwc(self.codec.decode(x0))

    # ----------------------------------------------------------------- internals
    def _placeholder(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A blank input for calls that carry no frame (flush, compile warm-up), made like a
        real one (inside inference mode), so the compiled step sees the same kind of tensor."""
        image = torch.zeros_like(self._recent_images[:1])
        depth = None if self.depth_estimator is None else torch.zeros_like(self._recent_depth[:1])
        return image, depth

    @property
    def _pipeline_delay(self) -> int:
        return self.config.num_steps - 1 if self.config.pipeline else 0

    @property
    def _refilling(self) -> bool:
        """No stream frame has come out since the last (re-)prime: a further change waits until
        one has, so a dragged slider costs at most one re-prime per pipeline length."""
        return self._stream_frames <= self._pipeline_delay

    @property
    def _frames_in_flight(self) -> int:
        """Real frames that entered the stream batch and have not finished."""
        return self._stream_frames - max(self._stream_calls - self._pipeline_delay, 0)

    def _encode_prompt(self, prompt: str) -> torch.Tensor:
        model = self.model
        return encode_prompt(
            model.tokenizer, model.text_encoder, prompt, model.clip_skip, self.device, self.dtype
        )

    def upload(self, frame: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Upload, crop/resize and depth of one frame; on CUDA on the input stream, so it
        overlaps the denoising of the previous frame. Returns (1, 3, H, W), (1, 1, H, W)."""
        with self._on_input_stream():
            image = self.frames.to_device(frame)
            depth = None
            if self.depth_estimator is not None:
                depth = self.depth_estimator(image).to(self.dtype)
        if self._input_stream is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_stream(self._input_stream)  # ordered on the device; the host goes on
            for tensor in (image, depth):
                if tensor is not None:
                    tensor.record_stream(main)
        return image, depth

    def _on_input_stream(self) -> contextlib.AbstractContextManager:
        if self._input_stream is None:
            return contextlib.nullcontext()
        self._input_stream.wait_stream(torch.cuda.current_stream(self.device))
        return torch.cuda.stream(self._input_stream)

    def _skips(self, image: torch.Tensor) -> bool:
        if not (self._primed and self.config.similar_filter):
            return False
        # In [-1, 1] as the original measures it; a host sync: the filter is off by default.
        return self._filter.should_skip(image * 2 - 1)

    def _remember(self, image: torch.Tensor, depth: torch.Tensor | None) -> None:
        slot = self._received % self.config.warmup
        self._recent_images[slot] = image[0]
        if depth is not None:
            self._recent_depth[slot] = depth[0]
        self._received += 1

    def _encode(
        self, images: torch.Tensor, depth: torch.Tensor | None, joint: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N, 3, H, W) in [0, 1] + raw depth -> image and depth latents (N, 4, h, w) each,
        in one VAE call (the depth map as a grey image, ENGINE_SPEC §1)."""
        if depth is None:
            return self.codec.encode(images * 2 - 1), None
        batch = torch.cat([images * 2 - 1, depth_to_image(depth, joint).to(images.dtype)])
        latents = self.codec.encode(batch)
        return latents[: images.shape[0]], latents[images.shape[0] :]

    def _prime(self, emit: int, spread: bool) -> None:
        """Warmup pass over the last min(received, warmup) inputs; emit the newest `emit`.

        `spread`: release them one per call (a re-prime mid-stream), so a consumer that drains
        every call still gets exactly one frame per call while the stream batch refills.
        """
        count = min(self._received, self.config.warmup)
        order = (torch.arange(self._received - count, self._received) % self.config.warmup).to(
            self.device
        )
        depth = None if self.depth_estimator is None else self._recent_depth[order]
        z, depth_z = self._encode(self._recent_images[order], depth, joint=True)
        x0 = self.denoiser.denoise_clip(z, depth_z, write_cache=True)
        self.denoiser.restart_stream(count)
        self._stream_calls = self._stream_frames = 0
        pixels = to_uint8_hwc(self.codec.decode(x0[count - emit :]))
        # Spread frames follow whatever is already waiting, one per call: never two at once.
        first = max([self._received, *(release + 1 for release, _ in self._finished)])
        for k, slot in enumerate(self.frames.download(pixels)):
            self._finished.append((first + k if spread else self._received, slot))
            self._last_slot = slot
        self._primed, self._reprime = True, False

    def _invoke(self, image: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        if self.config.compile and self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last replay's output is copied out
        return self._stream_call(image, depth)

    def _run_stream_call(self, image: torch.Tensor, depth: torch.Tensor | None, real: bool) -> None:
        pixels = self._invoke(image, depth)
        finishing = self._stream_calls - self._pipeline_delay  # the call whose frame is done
        self._stream_calls += 1
        self._stream_frames += int(real)
        if 0 <= finishing < self._stream_frames:
            (slot,) = self.frames.download(pixels)
            self._finished.append((self._received + self.readback_lag, slot))
            self._last_slot = slot
