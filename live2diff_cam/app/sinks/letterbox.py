"""Fitting frames of any size into a fixed-size canvas (letterbox / pillarbox), in place.

Owns the geometry (scale to fit, keep the aspect, centre, black bars) and the copy into a
caller's preallocated buffer, so sinks with a fixed output size (virtual camera, recorder) never
allocate a canvas per frame. Pure: no devices, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FitBox:
    """Where a scaled source image lands inside the canvas, in canvas pixels."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.x < 0 or self.y < 0:
            raise ValueError(f"invalid fit box {self}")


def fit_box(src_width: int, src_height: int, dst_width: int, dst_height: int) -> FitBox:
    """The largest centred box with the source's aspect ratio that fits the canvas.

    A wider source gets bars above and below (letterbox), a taller one bars at the sides
    (pillarbox); an image of the canvas's aspect fills it exactly.
    """
    if min(src_width, src_height, dst_width, dst_height) <= 0:
        raise ValueError(
            f"sizes must be positive: source {src_width}x{src_height}, "
            f"canvas {dst_width}x{dst_height}"
        )
    # Integer cross-multiplication: no float rounding decides which side gets bars.
    if src_width * dst_height >= src_height * dst_width:
        width = dst_width
        height = max(1, min(dst_height, round(src_height * dst_width / src_width)))
    else:
        height = dst_height
        width = max(1, min(dst_width, round(src_width * dst_height / src_height)))
    return FitBox((dst_width - width) // 2, (dst_height - height) // 2, width, height)


def letterbox_into(image: np.ndarray, canvas: np.ndarray) -> FitBox:
    """Scale `image` (h, w, 3) uint8 into `canvas` (H, W, 3) uint8, in place; bars are black.

    Returns the box the image occupies. Area interpolation when shrinking (no aliasing),
    bilinear when enlarging.
    """
    assert image.ndim == 3 and image.shape[2] == 3, "expected (H, W, 3) image"
    assert canvas.ndim == 3 and canvas.shape[2] == 3, "expected (H, W, 3) canvas"
    canvas_h, canvas_w = canvas.shape[:2]
    box = fit_box(image.shape[1], image.shape[0], canvas_w, canvas_h)
    # Bars are cleared every time: the canvas may hold a previous frame of another size.
    canvas[: box.y] = 0
    canvas[box.y + box.height :] = 0
    canvas[box.y : box.y + box.height, : box.x] = 0
    canvas[box.y : box.y + box.height, box.x + box.width :] = 0
    inner = canvas[box.y : box.y + box.height, box.x : box.x + box.width]
    if (box.width, box.height) == (image.shape[1], image.shape[0]):
        np.copyto(inner, image)
    else:
        shrinking = box.width < image.shape[1]
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        out = cv2.resize(image, (box.width, box.height), dst=inner, interpolation=interpolation)
        if out is not inner:  # OpenCV declined the strided view and allocated: copy it in
            np.copyto(inner, out)
    return box
