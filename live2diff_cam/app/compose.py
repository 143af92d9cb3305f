"""The frames the sinks get without the engine: the raw input fitted, a held frame, or a card.

`Composer` makes them at the session's output size (bypass / freeze / privacy modes, the
'No signal' card while a source is away, the repeat of the last output for a failed frame
offline). It knows nothing about threads, the engine or the devices the frames go to.
"""

from __future__ import annotations

import cv2
import numpy as np

from live2diff_cam.app.frames import Frame
from live2diff_cam.app.hub import Mode

NO_SIGNAL = "No signal"


class Composer:
    """Frames at (height, width) for the modes that bypass the engine. Cards are made once."""

    def __init__(self, height: int, width: int) -> None:
        self.height = height
        self.width = width
        self._cards: dict[str, np.ndarray] = {}

    def compose(self, mode: Mode, frame: Frame, held: Frame | None) -> Frame:
        """What the sinks get for `frame` in `mode`; `held` is the frame FREEZE keeps showing
        (without one, FREEZE shows `frame` like BYPASS)."""
        if mode is Mode.PRIVACY:
            image = self.card("")
        elif mode is Mode.FREEZE and held is not None:
            image = held.image
        else:
            image = fit_image(frame.image, self.height, self.width)
        return Frame(image, frame.timestamp_ns, frame.index)

    def card(self, text: str) -> np.ndarray:
        """A read-only card with `text` ("" for the privacy card), shared by every frame."""
        card = self._cards.get(text)
        if card is None:
            card = self._cards[text] = make_card(self.height, self.width, text)
        return card


def fit_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop `image` to the aspect of (height, width), then resize: (height, width, 3).

    Allocates: the sinks may keep the frame (the virtual camera repeats it), so a shared buffer
    would change frames they still hold.
    """
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if h * width > w * height:  # too tall
        crop = w * height // width
        top = (h - crop) // 2
        image = image[top : top + crop]
    elif h * width < w * height:  # too wide
        crop = h * width // height
        left = (w - crop) // 2
        image = image[:, left : left + crop]
    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=interpolation))


def make_card(height: int, width: int, text: str) -> np.ndarray:
    """A dark card, optionally with centred text; read-only (shared by every frame shown)."""
    card = np.full((height, width, 3), 24, np.uint8)
    if text:
        scale = max(width / 640.0, 0.25)
        thickness = max(1, round(2 * scale))
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
        origin = ((width - tw) // 2, (height + th) // 2)
        cv2.putText(card, text, origin, font, scale, (220, 220, 220), thickness, cv2.LINE_AA)
    card.flags.writeable = False
    return card
