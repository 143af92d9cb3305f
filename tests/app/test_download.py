"""`live2diff-cam download`: the model table, the offline error, and a hand-built local cache."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub.utils import filter_repo_objects

from live2diff_cam.app import download
from live2diff_cam.errors import ModelLoadError

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fake_cache(root: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<commit>}."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    for name, data in files.items():
        path = snapshot / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return snapshot


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "live2diff_cam", "download", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_known_models_point_at_the_released_files():
    models = download.KNOWN_MODELS
    assert list(models) == ["sd15", "lcm-lora", "live2diff", "depth", "taesd"]
    assert (models["live2diff"].repo_id, models["live2diff"].files) == (
        "Leoxing/Live2Diff",
        ("live2diff.ckpt",),
    )
    assert models["depth"].repo_id == "onnx-community/depth-anything-v2-small"
    assert "onnx/model.onnx" in models["depth"].files
    assert models["lcm-lora"].files == ("pytorch_lora_weights.safetensors",)


def test_sd15_patterns_take_the_diffusers_fp16_folders_only():
    repo_files = [
        "model_index.json",
        "v1-5-pruned.safetensors",
        "v1-5-pruned-emaonly.ckpt",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/model.fp16.safetensors",
        "text_encoder/pytorch_model.bin",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
        "safety_checker/model.fp16.safetensors",
    ]
    kept = set(
        filter_repo_objects(
            repo_files, allow_patterns=list(download.KNOWN_MODELS["sd15"].allow_patterns)
        )
    )
    assert kept == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/model.fp16.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    }


def test_resolve_names_all_and_hub_ids():
    assert [m.name for m in download.resolve(["taesd", "sd15", "taesd"])] == ["taesd", "sd15"]
    assert len(download.resolve(["all"])) == len(download.KNOWN_MODELS)
    custom = download.resolve(["someone/styled-sd15"])[0]
    assert (custom.repo_id, custom.allow_patterns) == ("someone/styled-sd15", ("*",))
    with pytest.raises(ModelLoadError, match=r"unknown model 'sdxl'.*download --list"):
        download.resolve(["sdxl"])


def test_offline_without_cache_fails_with_one_clear_line(tmp_path):
    result = _cli("taesd", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)})
    assert result.returncode == 1
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and len(err.splitlines()) == 1
    assert err.startswith("live2diff-cam: error: cannot reach the Hugging Face hub")
    assert "HF_ENDPOINT" in err and "HF_HOME" in err and str(tmp_path / "hub") in err


def test_unreachable_endpoint_fails_fast_with_one_line(tmp_path):
    # Port 9 (discard) on localhost refuses at once: the same path as no network, no retries.
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "0"}
    result = _cli("lcm-lora", env=env)
    assert result.returncode == 1
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "cannot reach the Hugging Face hub at http://127.0.0.1:9" in err
    assert "copy the model folders" in err


def test_offline_with_a_local_cache_finds_the_models(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "hub"
    _fake_cache(
        cache,
        "madebyollin/taesd",
        {"config.json": b"{}", "diffusion_pytorch_model.safetensors": b"x"},
    )
    lora = _fake_cache(
        cache, "latent-consistency/lcm-lora-sdv1-5", {"pytorch_lora_weights.safetensors": b"y"}
    )
    monkeypatch.setattr(download, "_offline", lambda: True)

    args = argparse.Namespace(
        models=["taesd", "lcm-lora"], list=False, cache_dir=cache, revision=None
    )
    assert download.main(args) == 0
    out = capsys.readouterr().out
    assert f"lcm-lora: ready in {lora}" in out
    assert "taesd: ready in" in out and "found in the cache" in out

    have, missing = download.cached_models(cache)
    assert have == ["lcm-lora", "taesd"] and missing == ["sd15", "live2diff", "depth"]
    listing = download.format_list(lambda: (have, missing))
    assert any(line.startswith("taesd") and "cached" in line for line in listing.splitlines())


def test_nested_file_resolves_to_the_snapshot_folder(tmp_path):
    cache = tmp_path / "hub"
    snapshot = _fake_cache(
        cache,
        "onnx-community/depth-anything-v2-small",
        {"onnx/model.onnx": b"m", "preprocessor_config.json": b"{}"},
    )
    folder = download.fetch(download.KNOWN_MODELS["depth"], cache, local_only=True)
    assert folder == snapshot and (folder / "onnx" / "model.onnx").read_bytes() == b"m"


def test_no_model_named_is_an_error():
    args = argparse.Namespace(models=[], list=False, cache_dir=None, revision=None)
    with pytest.raises(ModelLoadError, match="download --list"):
        download.main(args)
