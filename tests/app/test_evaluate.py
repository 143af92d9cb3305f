"""Warp error on a real clip: it rewards temporal consistency and punishes flicker."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from live2diff_cam import cli
from live2diff_cam.app.evaluate import read_frames, warp_error
from live2diff_cam.errors import SourceError


@pytest.fixture(scope="module")
def frames(clip_path):
    clip = read_frames(clip_path("again.mkv"))[:12]
    return [cv2.resize(f, (160, 120), interpolation=cv2.INTER_AREA) for f in clip]


def test_the_input_itself_is_consistent_and_flicker_is_not(frames):
    itself = warp_error(frames, frames)
    rng = np.random.default_rng(0)
    flicker = [
        np.clip(f.astype(np.int16) + rng.integers(-40, 41, (1, 1, 3)), 0, 255).astype(np.uint8)
        for f in frames
    ]  # a colour shift that changes every frame: what an unstable stylisation looks like
    flickering = warp_error(frames, flicker)
    assert itself.frame_pairs == len(frames) - 1
    assert 0.5 < itself.reliable_fraction <= 1.0
    assert itself.mean < 0.03
    assert flickering.mean > 3 * itself.mean


def test_a_frozen_output_scores_like_a_still_scene():
    still = np.full((64, 64, 3), 90, np.uint8)
    result = warp_error([still] * 5, [still] * 5)
    assert result.mean == 0.0


def test_eval_command_prints_json(tmp_path, clip_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    for i, frame in enumerate(read_frames(clip_path("again.mkv"))[:4]):
        cv2.imwrite(str(folder / f"frame_{i:06d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    rc = cli.main(["eval", "--input", str(folder), "--output", str(folder), "--json"])
    assert rc == 0
    assert '"frame_pairs": 3' in capsys.readouterr().out


def test_mismatched_or_missing_inputs_are_clear(tmp_path, frames):
    with pytest.raises(SourceError, match="must pair one to one"):
        warp_error(frames[:3], frames[:4])
    with pytest.raises(SourceError, match="does not exist"):
        read_frames(tmp_path / "absent.mp4")
