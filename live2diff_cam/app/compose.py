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
PRIVACY = "Camera paused"  # the privacy card: a deliberate picture, not a black square


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
            image = self.card(PRIVACY)
        elif mode is Mode.FREEZE and held is not None:
            image = held.image
        else:
            image = fit_image(frame.image, self.height, self.width)
        return Frame(image, frame.timestamp_ns, frame.index)

    def card(self, text: str) -> np.ndarray:
        """A read-only card with `text`, shared by every frame; the privacy card has a
        crossed-out camera above its text."""
        card = self._cards.get(text)
        if card is None:
            card = make_card(self.height, self.width, text, camera_icon=text == PRIVACY)
            self._cards[text] = card
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


def make_card(height: int, width: int, text: str, camera_icon: bool = False) -> np.ndarray:
    """A dark card, optionally with centred text (and a crossed-out camera above it);
    read-only (shared by every frame shown)."""
    card = np.full((height, width, 3), 24, np.uint8)
    scale = max(width / 640.0, 0.25)
    thickness = max(1, round(2 * scale))
    text_y = (height + 12) // 2
    if camera_icon:
        _draw_camera_off(card, width // 2, height * 2 // 5, max(8, min(height, width) // 8))
        text_y = height * 2 // 5 + max(8, min(height, width) // 8) * 2
    if text:
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
        origin = ((width - tw) // 2, text_y + th // 2 if camera_icon else (height + th) // 2)
        cv2.putText(card, text, origin, font, scale, (220, 220, 220), thickness, cv2.LINE_AA)
    card.flags.writeable = False
    return card


def _draw_camera_off(card: np.ndarray, cx: int, cy: int, size: int) -> None:
    """A camera glyph (body and lens) with a slash through it, centred on (cx, cy)."""
    colour = (150, 150, 160)
    line = max(1, size // 6)
    body = ((cx - size, cy - size * 2 // 3), (cx + size * 2 // 3, cy + size * 2 // 3))
    cv2.rectangle(card, body[0], body[1], colour, line, cv2.LINE_AA)
    lens = np.array(
        [
            (cx + size * 2 // 3, cy - size // 4),
            (cx + size * 4 // 3, cy - size * 2 // 3),
            (cx + size * 4 // 3, cy + size * 2 // 3),
            (cx + size * 2 // 3, cy + size // 4),
        ],
        np.int32,
    )
    cv2.polylines(card, [lens], True, colour, line, cv2.LINE_AA)
    cv2.line(card, (cx - size * 4 // 3, cy + size), (cx + size * 5 // 3, cy - size), (255, 92, 122),
             line + 1, cv2.LINE_AA)  # fmt: skip
