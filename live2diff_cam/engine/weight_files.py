"""Reading weight files, and the Hugging Face ids and cache behind them: `read_state_dict` for a
`.safetensors` or a `torch.load`-able checkpoint (weights only), `hub_file` for one file of a
hub repo from the cache, `HubOptions` (cache folder, offline), the hub ids the app knows and
the `live2diff-cam download` hint for each. Every failure is a `ModelLoadError` naming the file
and what to do. Knows nothing of what the tensors are for.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from live2diff_cam.engine.load_errors import pickle_warning
from live2diff_cam.engine.weights_check import check_finite
from live2diff_cam.errors import ModelLoadError

LCM_LORA_SD15 = "latent-consistency/lcm-lora-sdv1-5"
LIVE2DIFF_REPO = "Leoxing/Live2Diff"
LIVE2DIFF_FILE = "live2diff.ckpt"
TAESD_REPO = "madebyollin/taesd"
LORA_FILE = "pytorch_lora_weights.safetensors"
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")

# Short names of `live2diff-cam download` for the hub ids the app knows.
DOWNLOAD_NAMES = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "sd15",
    LCM_LORA_SD15: "lcm-lora",
    LIVE2DIFF_REPO: "live2diff",
    TAESD_REPO: "taesd",
}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class HubOptions:
    """Where hub ids are looked up: the cache folder (None: HF default) and whether to stay
    offline."""

    cache_dir: str | None
    local_files_only: bool


def read_state_dict(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """Tensors of a `.safetensors` file or a `torch.load`-able checkpoint (weights only, safe).

    A `{"state_dict": {...}}` wrapper is removed. Raises `ModelLoadError` naming `path` and `what`
    it should have been for a missing, corrupt, truncated or non-tensor file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(
            f"{what} file {path} does not exist" + (" (it is a folder)" if path.is_dir() else "")
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as err:  # safetensors raises its own and OS errors
            raise ModelLoadError(
                f"{path} is not a readable .safetensors {what} file ({first_line(err)}); it is "
                "corrupt or was not fully downloaded: download it again"
            ) from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            # A real checkpoint that pickles classes fails on a global; noise on an opcode.
            if "Unsupported global" in str(err):
                raise ModelLoadError(
                    f"{path} holds Python objects besides tensors, so it was not loaded. PyTorch "
                    f"warns: {pickle_warning(err)} A weights_only=False retry is not offered: "
                    f"it would run that code. Convert the {what} to .safetensors on a machine "
                    "you trust and load that"
                ) from err
            raise ModelLoadError(
                f"{path} is not a PyTorch checkpoint ({first_line(err)}); expected a {what} "
                "file (.safetensors or .ckpt): download it again"
            ) from err
        except Exception as err:  # zipfile, EOF and runtime errors of a broken file
            raise ModelLoadError(
                f"{path} is not a readable PyTorch checkpoint ({first_line(err)}); it is "
                f"corrupt or truncated: download the {what} again"
            ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelLoadError(f"{path} holds no tensor dictionary; expected a {what} file")
    return check_finite(state, path)


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def download_hint(repo_id: str) -> str:
    return f"`live2diff-cam download {DOWNLOAD_NAMES.get(repo_id, repo_id)}`"


def hub_file(repo_id: str, filename: str, hub: HubOptions, what: str) -> Path:
    """A file of a hub repo from the cache (downloading it unless `local_files_only`)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                repo_id,
                filename,
                cache_dir=hub.cache_dir,
                local_files_only=hub.local_files_only,
            )
        )
    except Exception as err:  # offline, not cached, no such repo/file, bad id
        raise ModelLoadError(
            f"the {what} {repo_id!r} ({filename}) is not in the Hugging Face cache and could not "
            f"be downloaded ({first_line(err)}); run {download_hint(repo_id)} on a machine with "
            "internet access (or copy the file and pass its path)"
        ) from err
