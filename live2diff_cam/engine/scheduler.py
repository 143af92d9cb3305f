"""LCM few-step schedule as per-step tensors, and the two pure updates the pipeline needs.

Consistency models (Luo et al., 2023) predict x0 in one step with the boundary-condition
scalings c_skip, c_out; between steps x0 is re-noised to the next timestep. The diffusers
`LCMScheduler` provides the timesteps and scalings; here they become (T,) device tensors so a
whole stream batch is updated with no Python loop and no host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import LCMScheduler


@dataclass(frozen=True)
class LCMSchedule:
    """Per denoising step s (shape (T,), float32 unless said): everything the update needs."""

    timesteps: torch.Tensor  # (T,) long
    sqrt_alpha: torch.Tensor
    sqrt_beta: torch.Tensor
    c_skip: torch.Tensor
    c_out: torch.Tensor

    @property
    def steps(self) -> int:
        return int(self.timesteps.shape[0])


def lcm_schedule(
    scheduler: LCMScheduler,
    t_index_list: tuple[int, ...],
    num_inference_steps: int,
    device: torch.device | str,
) -> LCMSchedule:
    """Timesteps `scheduler.timesteps[i]` for i in `t_index_list` and their coefficients."""
    scheduler.set_timesteps(num_inference_steps)
    timesteps = [int(scheduler.timesteps[i]) for i in t_index_list]
    alphas = scheduler.alphas_cumprod[timesteps].to(torch.float32)
    scalings = [scheduler.get_scalings_for_boundary_condition_discrete(t) for t in timesteps]
    return LCMSchedule(
        timesteps=torch.tensor(timesteps, dtype=torch.long, device=device),
        sqrt_alpha=alphas.sqrt().to(device),
        sqrt_beta=(1 - alphas).sqrt().to(device),
        c_skip=torch.tensor([float(c) for c, _ in scalings], device=device),
        c_out=torch.tensor([float(c) for _, c in scalings], device=device),
    )


def _per_row(coefficient: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return coefficient.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def add_noise(
    x0: torch.Tensor, noise: torch.Tensor, schedule: LCMSchedule, steps: slice
) -> torch.Tensor:
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, row r of x0 at step steps[r]."""
    a, b = schedule.sqrt_alpha[steps], schedule.sqrt_beta[steps]
    return _per_row(a, x0) * x0 + _per_row(b, x0) * noise


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, schedule: LCMSchedule, steps: slice
) -> torch.Tensor:
    """LCM's denoised sample c_out * x0_pred + c_skip * x_t, row r at step steps[r]."""
    a, b = _per_row(schedule.sqrt_alpha[steps], x_t), _per_row(schedule.sqrt_beta[steps], x_t)
    x0 = (x_t - b * eps) / a
    return _per_row(schedule.c_out[steps], x_t) * x0 + _per_row(schedule.c_skip[steps], x_t) * x_t
