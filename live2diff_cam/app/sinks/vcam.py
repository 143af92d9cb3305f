"""The virtual camera sink: "Live2Diff Camera" at a constant size and frame rate.

Video-call apps expect a webcam that never stalls and never changes size. The engine delivers
frames at its own, uneven rate and size, so this sink decouples the two:

- `write(frame)` (any thread, any size) scales the frame into a preallocated camera-size buffer
  (letterbox/pillarbox) and publishes it. It never blocks on the device.
- a pacing thread owned by the sink sends to pyvirtualcam at exactly `fps`, repeating the latest
  frame between engine frames; before the first frame it shows a "starting" card, and when no
  frame came for `no_signal_after_s` (or after `show_no_signal()`) a "no signal" card.

The pacing itself (buffers, cards, the loop) is `pacing.PacedFrames`, shared with the recorder.
Device contract (pyvirtualcam): only the pacing thread touches the camera object, from open to
close; frames go out as (H, W, 3) uint8 RGB. This module knows nothing about the engine or the
session; OS setup lives in `vcam_setup.py`.
"""

from __future__ import annotations

import logging
import platform
import threading
from dataclasses import dataclass
from typing import Any

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.sinks.pacing import PacedFrames, render_card
from live2diff_cam.app.sinks.vcam_backend import Candidate, backend_choice_here
from live2diff_cam.app.sinks.vcam_setup import (
    find_loopback_devices,
    open_error,
)
from live2diff_cam.errors import SinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VirtualCameraConfig:
    """What the virtual camera looks like to other apps (default 1280x720 at 30 FPS, 16:9).

    `backend`: pyvirtualcam backend ("v4l2loopback", "obs", "unitycapture"; None = first that
    works). `device`: e.g. "/dev/video10" (None = the one labelled "Live2Diff Camera" on Linux,
    else the first). `no_signal_after_s`: seconds without a frame before the "no signal" card.
    """

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    backend: str | None = None
    device: str | None = None
    no_signal_after_s: float = 2.0

    def __post_init__(self) -> None:
        # YUYV/I420, which the backends convert to, need even dimensions.
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise SinkError(
                f"virtual camera size {self.width}x{self.height} must be even and at least "
                "16x16, e.g. 1280x720"
            )
        if not 1 <= self.fps <= 120:
            raise SinkError(f"virtual camera fps must be in [1, 120], got {self.fps}")
        if not self.no_signal_after_s > 0:
            raise SinkError(f"no_signal_after_s must be > 0, got {self.no_signal_after_s}")


class VirtualCameraSink:
    """Publishes frames as a webcam via pyvirtualcam at a constant size and rate.

    `write()` may be called from any one thread at a time, at any rate, with any frame size. After
    `__enter__`: `device` (e.g. "/dev/video10"), `backend` and `shown_as` (the name apps list)
    are set. A device failure in the pacing thread is raised by the next `write()`.
    """

    def __init__(self, config: VirtualCameraConfig | None = None) -> None:
        self.config = config or VirtualCameraConfig()
        c = self.config
        self.name = f"virtual camera {c.width}x{c.height}@{c.fps:g}"
        self.device = ""
        self.backend = ""
        self.shown_as = ""
        self._frames = PacedFrames(
            c.width,
            c.height,
            no_signal_after_s=c.no_signal_after_s,
            starting_card=render_card(c.width, c.height, "Live2Diff Camera", "starting..."),
            no_signal_card=render_card(
                c.width, c.height, "No signal", "Live2Diff Camera is waiting for video"
            ),
        )
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: SinkError | None = None
        self._candidate: Candidate | None = None  # the backend that opened (vcam_backend)

    # 1. Opening and closing -------------------------------------------------------------------
    def __enter__(self) -> VirtualCameraSink:
        self._stop.clear()
        self._opened.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="vcam-pacing", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        log.info(
            "virtual camera %s (%s) open, apps show it as %s",
            self.device,
            self.backend,
            self.shown_as,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _open_camera(self) -> Any:
        """The camera from the first candidate that opens (`vcam_backend` picks them: on
        Windows Unity Capture as "Live2Diff Camera", then OBS's camera)."""
        import pyvirtualcam

        c = self.config
        choice = backend_choice_here(c.backend, c.device)
        errors: list[SinkError] = []
        for candidate in choice.candidates:
            try:
                cam = pyvirtualcam.Camera(
                    c.width,
                    c.height,
                    c.fps,
                    fmt=pyvirtualcam.PixelFormat.RGB,
                    device=candidate.device,
                    backend=candidate.backend,
                )
            except Exception as error:  # pyvirtualcam raises RuntimeError with each backend's text
                errors.append(open_error(error, device=candidate.device, backend=candidate.backend))
                log.info("virtual camera: %s failed (%s)", candidate.backend or "any", error)
                continue
            self._candidate = candidate
            return cam
        raise errors[-1] if len(errors) == 1 else SinkError("; ".join(map(str, errors)))

    # 2. The pacing thread (the only user of the camera object) --------------------------------
    def _run(self) -> None:
        try:
            cam = self._open_camera()
        except SinkError as error:
            self._error = error
            self._opened.set()
            return
        try:
            self.device, self.backend = str(cam.device), str(cam.backend)
            self.shown_as = self._label_for(self.device)
            self._opened.set()
            self._frames.run(cam.send, self._stop, cam.sleep_until_next_frame)
            # Leave a card, not a frozen last frame, in apps still watching the device.
            cam.send(self._frames.no_signal_card)
        except Exception as error:
            self._error = SinkError(
                f"the virtual camera {self.device or ''} stopped accepting frames: {error}. "
                "Restart streaming; if it persists, check it with `live2diff-cam doctor`."
            )
            log.error("%s", self._error)
        finally:
            self._opened.set()
            cam.close()

    def _label_for(self, device: str) -> str:
        if platform.system() == "Linux":
            labels = {d.path: d.label for d in find_loopback_devices()}
            return labels.get(device, device)
        return self._candidate.shown_as if self._candidate else device

    # 3. Writing -------------------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            raise SinkError(f"{self.name} is not open: use it inside `with`.")
        self._frames.write(frame)

    def show_no_signal(self) -> None:
        """Show the "no signal" card now, until the next `write()` (the session calls this when
        its source failed for good)."""
        self._frames.show_no_signal()

    @property
    def frames_sent(self) -> int:
        return self._frames.frames_sent
