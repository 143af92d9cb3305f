"""Live2Diff Camera: real-time AI video styling published as a virtual webcam."""

__version__ = "0.1.0"
