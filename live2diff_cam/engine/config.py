"""`EngineConfig`: every knob of the streaming engine, validated once, defaults = the paper's.

Knows nothing about weights, frames or devices beyond their names.
"""

from __future__ import annotations

from dataclasses import dataclass

from live2diff_cam.errors import EngineError

DTYPES = ("float32", "float16", "bfloat16")


def timestep_indices(strength: float, steps: int, num_inference_steps: int) -> tuple[int, ...]:
    """Map the style slider to LCM timestep indices (StreamDiffusion's `t_index_list`).

    strength 1 starts from pure noise (index 0); lower strengths start later in the schedule and
    keep more of the input. The steps are spread evenly over what is left, which gives the
    paper's [30, 36, 42] for strength 0.4, 3 steps, 50 inference steps. Strength 0 clamps to the
    last `steps` indices: the least noise the schedule has.
    """
    if not 0.0 <= strength <= 1.0:
        raise EngineError(f"strength must be in [0, 1], got {strength}")
    start = min(round(num_inference_steps * (1.0 - strength)), num_inference_steps - steps)
    spacing = max((num_inference_steps - start) // steps, 1)
    return tuple(start + spacing * k for k in range(steps))


@dataclass(frozen=True)
class EngineConfig:
    """Configuration of one `StreamEngine`.

    Resolution must be a multiple of 8 * 2**(UNet levels - 1) in latent terms (64 pixels for
    SD1.5 covers every model); the engine checks it against the model it is given.
    `t_index_list` (indices into the `num_inference_steps` LCM schedule) overrides
    `steps`/`strength` when given. `pipeline=False` denoises each frame fully before the next
    (same frames, T times the UNet calls); `recompute_keys_values=True` caches the temporal
    attention inputs instead of their keys/values and projects them again at every read (same
    frames, more compute). Both exist to test equivalence and to measure what the faster mode
    saves. `compile` turns the stream step into one compiled graph (CUDA graphs on CUDA).
    """

    height: int = 512
    width: int = 512
    steps: int = 2
    strength: float = 0.4
    num_inference_steps: int = 50
    t_index_list: tuple[int, ...] | None = None
    warmup: int = 8
    window: int = 16
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    prompt: str = "a portrait, highly detailed, studio lighting"
    depth_scale: float = 1.0
    pipeline: bool = True
    recompute_keys_values: bool = False
    compile: bool = False
    similar_filter: bool = False
    similar_threshold: float = 0.98
    similar_max_skip: int = 10

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.height % 8 or self.width % 8:
            raise EngineError(
                f"resolution {self.width}x{self.height} is not a positive multiple of 8; "
                "use e.g. 512x512 or 768x512"
            )
        if self.dtype not in DTYPES:
            raise EngineError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 1 <= self.warmup < self.window:
            raise EngineError(f"need 1 <= warmup < window, got warmup={self.warmup}")
        indices = self.timestep_indices
        if not 1 <= len(indices) <= self.warmup:
            raise EngineError(f"steps must be between 1 and warmup ({self.warmup})")
        if list(indices) != sorted(set(indices)) or not all(
            0 <= i < self.num_inference_steps for i in indices
        ):
            raise EngineError(
                f"t_index_list {list(indices)} must be increasing indices in "
                f"[0, {self.num_inference_steps})"
            )
        if self.depth_scale < 0:
            raise EngineError(f"depth_scale must be >= 0, got {self.depth_scale}")
        if not 0.0 < self.similar_threshold < 1.0 or self.similar_max_skip < 0:
            raise EngineError("similar_threshold must be in (0, 1) and similar_max_skip >= 0")

    @property
    def timestep_indices(self) -> tuple[int, ...]:
        if self.t_index_list is not None:
            return tuple(self.t_index_list)
        return timestep_indices(self.strength, self.steps, self.num_inference_steps)

    @property
    def num_steps(self) -> int:
        return len(self.timestep_indices)
