"""Where depth model files come from: local paths, the Hugging Face cache, the export cache.

Owns turning a user's `source` (a path, an alias such as `depth-anything-v2-small`, or a hub id)
into a file or folder on disk, and the error that says what to download and where to put it
when the file is not there (these machines may be offline). Knows nothing about running models.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from live2diff_cam.depth.base import KnownDepthModel
from live2diff_cam.errors import DepthError

log = logging.getLogger(__name__)

APP_NAME = "live2diff-cam"


def depth_cache_dir() -> Path:
    """Folder for exported ONNX depth models (and TensorRT engines): user cache dir / depth."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME)) / "depth"


def looks_like_hub_id(source: str) -> bool:
    """`owner/name` with no local file of that name: a Hugging Face Hub repository id."""
    parts = source.split("/")
    return len(parts) == 2 and all(parts) and not Path(source).exists()


def missing_file_message(what: str, path: Path | str) -> str:
    return (
        f"{what} not found: {path}. Download the depth model with `live2diff-cam download` "
        "(on a machine with internet, then copy the Hugging Face cache folder), or export one "
        "with `live2diff-cam export-depth <hub id or folder>` and pass the printed .onnx path"
    )


def hub_download(repo_id: str, filename: str) -> Path:
    """A file of a hub repository: from the local HF cache, else downloaded; DepthError if neither.

    The cache is tried first so an offline machine answers at once instead of retrying the network.
    """
    from huggingface_hub import constants, hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, local_files_only=True))
    except Exception as cached_error:  # any miss in the cache: try the network below
        log.debug("%s/%s not in the HF cache: %s", repo_id, filename, cached_error)
    offline = constants.is_offline_mode()
    if not offline:
        log.info("downloading %s from %s (Hugging Face Hub)", filename, repo_id)
        try:
            return Path(hf_hub_download(repo_id, filename))
        except Exception as error:
            raise DepthError(_download_failed(repo_id, filename, str(error))) from error
    raise DepthError(_download_failed(repo_id, filename, "offline mode (HF_HUB_OFFLINE) is on"))


def _download_failed(repo_id: str, filename: str, reason: str) -> str:
    from huggingface_hub import constants

    first_line = reason.strip().splitlines()[0] if reason.strip() else reason
    return (
        f"depth model file {filename!r} of https://huggingface.co/{repo_id} is not in the "
        f"Hugging Face cache ({constants.HF_HUB_CACHE}) and could not be downloaded "
        f"({first_line}). Fix: run `live2diff-cam download` where there is internet (or "
        f"`hf download {repo_id} {filename}`) and copy the cache folder here, or download the "
        "file by hand and pass its path as the depth model"
    )


def known_onnx_file(model: KnownDepthModel) -> Path:
    """The ready-made ONNX file of a known model (hub download or cache)."""
    if model.onnx_repo is None or model.onnx_file is None:
        raise DepthError(
            f"no ready ONNX file is published for {model.spec.name}: export it once with "
            f"`live2diff-cam export-depth {model.torch_repo}` (needs its PyTorch weights)"
        )
    return hub_download(model.onnx_repo, model.onnx_file)


def export_cache_path(source: str | Path, height: int, width: int, opset: int) -> Path:
    """Where `export-depth` caches the ONNX export of `source` (a hub id or a local folder).

    Local folders are keyed by their resolved path too, so two folders called `model` differ.
    """
    text = str(source)
    if Path(text).exists():
        resolved = str(Path(text).resolve())
        digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
        slug = f"{Path(resolved).name}-{digest}"
    else:
        slug = text.replace("/", "--")
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in slug)
    return depth_cache_dir() / f"{slug}-{height}x{width}-opset{opset}.onnx"
