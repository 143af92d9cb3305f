"""`live2diff-cam download MODEL...`: fetch models into the Hugging Face cache ahead of time.

Owns the list of models the app knows by short name (`KNOWN_MODELS`: hub repo, which files,
roughly how big) and the download itself, through huggingface_hub so the files land in the
ordinary cache (`HF_HOME` / `HF_HUB_CACHE`) where the engine's loaders look them up by hub id.
Progress bars are huggingface_hub's tqdm bars.

It does not load or check weights (the engine's loaders do) and keeps no cache of its own.
Every failure is a `ModelLoadError` whose one-line message says how to get the files another
way: a mirror through `HF_ENDPOINT`, a different cache through `HF_HOME`, or a manual copy.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from live2diff_cam.errors import ModelLoadError


@dataclasses.dataclass(frozen=True)
class KnownModel:
    """A model the app uses, by short name. Either `files` (exact paths) or `allow_patterns`."""

    name: str
    repo_id: str
    description: str
    size: str
    files: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "/" not in self.repo_id:
            raise ValueError(f"{self.name}: repo_id must be 'owner/name', got {self.repo_id!r}")
        if bool(self.files) == bool(self.allow_patterns):
            raise ValueError(f"{self.name}: give exactly one of files or allow_patterns")


SD15_PATTERNS = (
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    "text_encoder/config.json",
    "text_encoder/model.fp16.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.fp16.safetensors",
    "vae/config.json",
    "vae/diffusion_pytorch_model.fp16.safetensors",
)

KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            "sd15",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "Stable Diffusion 1.5 base, diffusers folders, fp16 weights",
            "2.0 GB",
            allow_patterns=SD15_PATTERNS,
        ),
        KnownModel(
            "lcm-lora",
            "latent-consistency/lcm-lora-sdv1-5",
            "LCM-LoRA for SD1.5 (few-step denoising)",
            "135 MB",
            files=("pytorch_lora_weights.safetensors",),
        ),
        KnownModel(
            "live2diff",
            "Leoxing/Live2Diff",
            "Live2Diff motion module (the paper's released checkpoint)",
            "1.7 GB",
            files=("live2diff.ckpt",),
        ),
        KnownModel(
            "depth",
            "onnx-community/depth-anything-v2-small",
            "Depth Anything V2 small, ONNX (structure conditioning)",
            "99 MB",
            files=("onnx/model.onnx", "preprocessor_config.json"),
        ),
        KnownModel(
            "taesd",
            "madebyollin/taesd",
            "TAESD tiny autoencoder (fast latent decode)",
            "10 MB",
            allow_patterns=("config.json", "diffusion_pytorch_model.safetensors"),
        ),
    )
}

ALL = "all"


def resolve(names: Sequence[str]) -> list[KnownModel]:
    """Short names (or `all`, or any 'owner/name' hub repo, fetched whole) to models, in order."""
    chosen: dict[str, KnownModel] = {}
    for name in names:
        if name == ALL:
            chosen.update(KNOWN_MODELS)
        elif name in KNOWN_MODELS:
            chosen[name] = KNOWN_MODELS[name]
        elif name.count("/") == 1 and all(name.split("/")):
            chosen[name] = KnownModel(name, name, "hub repository", "?", allow_patterns=("*",))
        else:
            known = ", ".join([*KNOWN_MODELS, ALL])
            raise ModelLoadError(
                f"unknown model {name!r}: use one of {known} or a hub id like 'owner/name' "
                "(see `live2diff-cam download --list`)"
            )
    return list(chosen.values())


def _hub() -> Any:
    import huggingface_hub

    return huggingface_hub


def _cache_dir(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return cache_dir
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def unreachable_message(endpoint: str, cache: Path, reason: str) -> str:
    return (
        f"cannot reach the Hugging Face hub at {endpoint} ({reason}). Fix: connect to the "
        "internet (HF_HUB_OFFLINE must be unset), or set HF_ENDPOINT to a reachable mirror, "
        f"or copy the model folders (models--owner--name) from another machine's cache into "
        f"{cache} (set HF_HOME or HF_HUB_CACHE to use another cache folder)"
    )


def hub_reachable(endpoint: str, timeout_s: float = 5.0) -> str:
    """'' when the hub answers; otherwise the reason, after one short try (no retries).

    huggingface_hub itself retries a dead host for ~25 s per file before it gives up.
    """
    try:
        from huggingface_hub.utils import get_session

        get_session().head(endpoint, timeout=timeout_s, follow_redirects=False)
    except Exception as error:
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return ""


def cached_models(cache_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """(names cached, names missing) among KNOWN_MODELS, looking at the cache only."""
    have, missing = [], []
    for model in KNOWN_MODELS.values():
        try:
            fetch(model, cache_dir, local_only=True)
        except ModelLoadError:
            missing.append(model.name)
        else:
            have.append(model.name)
    return have, missing


def fetch(
    model: KnownModel,
    cache_dir: Path | None = None,
    local_only: bool = False,
    revision: str | None = None,
) -> Path:
    """Download (or, with local_only, find) one model; return its snapshot folder."""
    hub = _hub()
    cache = _cache_dir(cache_dir)
    try:
        if model.files:
            paths = [
                hub.hf_hub_download(
                    model.repo_id,
                    filename,
                    cache_dir=cache,
                    revision=revision,
                    local_files_only=local_only,
                )
                for filename in model.files
            ]
            # <snapshot>/<filename>: climb back up filename's own folders.
            return Path(paths[-1]).parents[len(Path(model.files[-1]).parts) - 1]
        folder = hub.snapshot_download(
            model.repo_id,
            cache_dir=cache,
            revision=revision,
            allow_patterns=list(model.allow_patterns),
            local_files_only=local_only,
        )
        return Path(folder)
    except ModelLoadError:
        raise
    except Exception as error:
        raise ModelLoadError(_explain(error, model, cache, local_only)) from error


def _explain(error: Exception, model: KnownModel, cache: Path, local_only: bool) -> str:
    from huggingface_hub import errors

    kind = type(error).__name__
    if isinstance(error, errors.GatedRepoError):
        return (
            f"{model.repo_id} is gated: accept its licence on the hub page, then log in "
            "(`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(error, errors.RepositoryNotFoundError):
        return (
            f"{model.repo_id} was not found on the hub (or is private: set HF_TOKEN); check "
            "the id with `live2diff-cam download --list`"
        )
    if isinstance(error, errors.RemoteEntryNotFoundError):
        return f"{model.repo_id} has no file {model.files}: the repository changed; report it"
    if isinstance(error, errors.LocalEntryNotFoundError):
        if local_only:
            return f"{model.name} ({model.repo_id}) is not in the cache {cache}"
        return unreachable_message(_endpoint(), cache, "offline or no connection")
    if isinstance(error, OSError) and getattr(error, "errno", None) == 28:
        return f"disk full while downloading {model.name} to {cache}: free space or set HF_HOME"
    return f"downloading {model.name} ({model.repo_id}) failed: {kind}: {error}".splitlines()[0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help=f"short name ({', '.join(KNOWN_MODELS)}), '{ALL}', or a hub id 'owner/name'",
    )
    parser.add_argument("--list", action="store_true", help="show the known model names")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="download here instead of the Hugging Face cache (HF_HUB_CACHE)",
    )
    parser.add_argument("--revision", default=None, help="hub branch, tag or commit")


def format_list(cached: Callable[[], tuple[list[str], list[str]]] = cached_models) -> str:
    have = set(cached()[0])
    width = max(len(name) for name in KNOWN_MODELS)
    lines = []
    for model in KNOWN_MODELS.values():
        where = model.repo_id + (f" [{', '.join(model.files)}]" if model.files else "")
        mark = "cached" if model.name in have else ""
        lines.append(f"{model.name:<{width}}  {model.size:>7}  {mark:<6}  {where}")
        lines.append(f"{'':<{width}}  {'':>7}  {'':<6}  {model.description}")
    lines.append(f"{ALL:<{width}}  every model above")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.list:
        print(format_list(lambda: cached_models(args.cache_dir)))
        return 0
    if not args.models:
        raise ModelLoadError(
            "name at least one model, e.g. `live2diff-cam download all`; "
            "`live2diff-cam download --list` shows the names"
        )
    models = resolve(args.models)
    cache = _cache_dir(args.cache_dir)
    offline = _offline()
    if not offline:
        reason = hub_reachable(_endpoint())
        if reason:
            raise ModelLoadError(unreachable_message(_endpoint(), cache, reason))
    for model in models:
        print(f"{model.name}: {model.repo_id} ({model.size}) -> {cache}", flush=True)
        try:
            folder = fetch(model, args.cache_dir, local_only=offline, revision=args.revision)
        except ModelLoadError as error:
            if not offline:
                raise
            reason = f"HF_HUB_OFFLINE is set and {model.name} is not cached"
            raise ModelLoadError(unreachable_message(_endpoint(), cache, reason)) from error
        print(f"{model.name}: ready in {folder}", flush=True)
    if offline:
        print("HF_HUB_OFFLINE is set: the models above were found in the cache, not fetched")
    return 0
