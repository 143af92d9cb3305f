"""LCM few-step schedule as per-step device buffers, and the two pure updates the pipeline needs.

Consistency models (Luo et al., 2023) predict x0 in one step with the boundary-condition
scalings c_skip, c_out; between steps x0 is re-noised to the next timestep. The diffusers
`LCMScheduler` provides the timesteps and scalings; here they become (T,) buffers of a module,
updated in place (`LCMSchedule.load_`) when the style slider moves, so a compiled step keeps
reading the same memory and nothing recompiles or syncs.
"""

from __future__ import annotations

import torch
from diffusers import LCMScheduler
from torch import nn


class LCMSchedule(nn.Module):
    """Per denoising step s, shape (T,), float32 unless said: everything the update needs.

    timesteps: long; sqrt_alpha_bar = sqrt(alpha_bar_t); sqrt_one_minus_alpha_bar =
    sqrt(1 - alpha_bar_t); c_skip, c_out: LCM's boundary-condition scalings.
    """

    timesteps: torch.Tensor
    sqrt_alpha_bar: torch.Tensor
    sqrt_one_minus_alpha_bar: torch.Tensor
    c_skip: torch.Tensor
    c_out: torch.Tensor

    def __init__(
        self,
        scheduler: LCMScheduler,
        t_index_list: tuple[int, ...],
        num_inference_steps: int,
        device: torch.device | str,
    ) -> None:
        super().__init__()
        for name, value in _coefficients(scheduler, t_index_list, num_inference_steps).items():
            self.register_buffer(name, value.to(device), persistent=False)

    @property
    def steps(self) -> int:
        return int(self.timesteps.shape[0])

    @torch.no_grad()
    def load_(
        self, scheduler: LCMScheduler, t_index_list: tuple[int, ...], num_inference_steps: int
    ) -> None:
        """New timestep indices (same count), written into the existing buffers."""
        if len(t_index_list) != self.steps:
            raise ValueError(f"expected {self.steps} timestep indices, got {len(t_index_list)}")
        for name, value in _coefficients(scheduler, t_index_list, num_inference_steps).items():
            getattr(self, name).copy_(value)


def _coefficients(
    scheduler: LCMScheduler, t_index_list: tuple[int, ...], num_inference_steps: int
) -> dict[str, torch.Tensor]:
    scheduler.set_timesteps(num_inference_steps)
    timesteps = [int(scheduler.timesteps[i]) for i in t_index_list]
    alpha_bar = scheduler.alphas_cumprod[timesteps].to(torch.float32)
    scalings = [scheduler.get_scalings_for_boundary_condition_discrete(t) for t in timesteps]
    return {
        "timesteps": torch.tensor(timesteps, dtype=torch.long),
        "sqrt_alpha_bar": alpha_bar.sqrt(),
        "sqrt_one_minus_alpha_bar": (1 - alpha_bar).sqrt(),
        "c_skip": torch.tensor([float(c) for c, _ in scalings]),
        "c_out": torch.tensor([float(c) for _, c in scalings]),
    }


def _per_row(coefficient: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return coefficient.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


def add_noise(
    x0: torch.Tensor, noise: torch.Tensor, schedule: LCMSchedule, steps: slice
) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, row r of x0 at step steps[r]."""
    a = _per_row(schedule.sqrt_alpha_bar[steps], x0)
    b = _per_row(schedule.sqrt_one_minus_alpha_bar[steps], x0)
    return a * x0 + b * noise


def predict_x0(
    x_t: torch.Tensor, eps: torch.Tensor, schedule: LCMSchedule, steps: slice
) -> torch.Tensor:
    """LCM's denoised sample c_out * x0_pred + c_skip * x_t, row r at step steps[r]."""
    a = _per_row(schedule.sqrt_alpha_bar[steps], x_t)
    b = _per_row(schedule.sqrt_one_minus_alpha_bar[steps], x_t)
    x0 = (x_t - b * eps) / a
    return _per_row(schedule.c_out[steps], x_t) * x0 + _per_row(schedule.c_skip[steps], x_t) * x_t
