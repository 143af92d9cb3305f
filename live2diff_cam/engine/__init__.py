"""The streaming video-diffusion engine (Live2Diff). Torch only: frames in, frames out."""

from live2diff_cam.engine.config import EngineConfig, timestep_indices
from live2diff_cam.engine.loaders import load_model
from live2diff_cam.engine.models import EngineModel
from live2diff_cam.engine.stream import StreamEngine

__all__ = ["EngineConfig", "EngineModel", "StreamEngine", "load_model", "timestep_indices"]
