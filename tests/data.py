"""The test data kept in `tests/data/` (see its README), found from any working directory.

`data_file(name)` fails the calling test when the file is missing: the data is part of the
repository, so its absence is a broken checkout, not a reason to skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"
CLIP = "again.mkv"  # 77 frames, 640x480, 30 FPS
CLIP_FRAMES = 77
GIF = "again-12.gif"  # 12 frames, 160x120, 12.5 FPS
GIF_FRAMES = 12
LORA = "lora/sd15_weapons_lora_rank4.safetensors"


def data_file(name: str) -> Path:
    """Path of `tests/data/<name>`; fails the test if it is absent."""
    path = DATA_DIR / name
    if not path.is_file():
        pytest.fail(f"test data {path} is missing from the checkout (see tests/data/README.md)")
    return path
