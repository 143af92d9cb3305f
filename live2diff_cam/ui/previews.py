"""Live previews: a widget that paints one RGB frame, and a timer that feeds the newest frames.

The pump pulls (never pushes): a QTimer on the Qt thread asks a `fetch` callable for the newest
input and output frames about 30 times a second, so a fast engine cannot flood the event loop
and a slow one never blocks it. Knows nothing about the session: `fetch` comes from the bridge.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from live2diff_cam.app.frames import Frame
from live2diff_cam.ui import theme

PreviewImage = Frame | np.ndarray | None
# -> (newest input, newest output); either may be None before the first frame.
FetchFrames = Callable[[], tuple[PreviewImage, PreviewImage]]


class PreviewWidget(QWidget):
    """Paints an (H, W, 3) uint8 RGB frame scaled to fit, aspect ratio kept, centred.

    Shows `placeholder` text until the first frame and after `clear()`.

    Signals:
        frameShown(int): a new frame was accepted; the argument counts frames shown so far.
    """

    frameShown = Signal(int)

    def __init__(
        self, title: str, placeholder: str, objectName: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName(objectName)
        self._title = title
        self._placeholder = placeholder
        self._image: QImage | None = None
        # The QImage reads the array's memory in place; this reference keeps that memory alive.
        self._array: np.ndarray | None = None
        self._frames_shown = 0
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    @property
    def frames_shown(self) -> int:
        return self._frames_shown

    def current_array(self) -> np.ndarray | None:
        """The (H, W, 3) uint8 array painted now (shared, read-only by convention)."""
        return self._array

    def set_frame(self, image: np.ndarray) -> None:
        """Show `image`: (H, W, 3) uint8 RGB. It is read in place, not copied."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {image.shape}")
        if not image.flags.c_contiguous:
            image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        self._array = image
        self._image = QImage(
            image.data, width, height, image.strides[0], QImage.Format.Format_RGB888
        )
        self._frames_shown += 1
        self.update()
        self.frameShown.emit(self._frames_shown)

    def clear(self) -> None:
        self._image = None
        self._array = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor(theme.BACKGROUND))
        frame_rect = QRectF(self.rect()).adjusted(1, 1, -1, -1)
        clip = QPainterPath()
        clip.addRoundedRect(frame_rect, 12, 12)
        painter.fillPath(clip, QColor(theme.SURFACE))
        if self._image is None:
            painter.setPen(QColor(theme.TEXT_DIM))
            painter.drawText(frame_rect, Qt.AlignmentFlag.AlignCenter, self._placeholder)
        else:
            size = self._image.size().scaled(
                frame_rect.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio
            )
            target = QRectF(0, 0, size.width(), size.height())
            target.moveCenter(frame_rect.center())
            painter.setClipPath(clip)
            painter.drawImage(target, self._image)
            painter.setClipping(False)
        self._draw_title(painter, frame_rect)
        painter.end()

    def _draw_title(self, painter: QPainter, frame_rect: QRectF) -> None:
        metrics = painter.fontMetrics()
        pad = 8
        box = QRectF(
            frame_rect.left() + 10,
            frame_rect.top() + 10,
            metrics.horizontalAdvance(self._title) + 2 * pad,
            metrics.height() + pad,
        )
        path = QPainterPath()
        path.addRoundedRect(box, 6, 6)
        painter.fillPath(path, QColor(0, 0, 0, 150))
        painter.setPen(QColor(theme.TEXT))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._title)


def _frame_key(item: PreviewImage) -> object:
    """Identity of a frame, so an unchanged frame is not repainted."""
    if isinstance(item, Frame):
        return (item.timestamp_ns, item.index)
    # A bare array may be a buffer the producer refills in place: treat every tick as new.
    return object()


class PreviewPump(QObject):
    """Pulls the newest frames from `fetch` on a ~30 Hz timer and hands them to two previews.

    Exceptions from `fetch` are not expected (the bridge guards it) but are relayed rather than
    raised into the event loop.

    Signals:
        failed(str): `fetch` raised; the argument is the message.
    """

    failed = Signal(str)

    def __init__(
        self,
        fetch: FetchFrames,
        input_view: PreviewWidget,
        output_view: PreviewWidget,
        interval_ms: int = 33,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._fetch = fetch
        self._views = (input_view, output_view)
        self._keys: list[object] = [None, None]
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.tick)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def is_active(self) -> bool:
        return self._timer.isActive()

    def tick(self) -> None:
        try:
            frames = self._fetch()
        except Exception as error:  # relayed to the window, never raised into Qt
            self._timer.stop()
            self.failed.emit(str(error))
            return
        for slot, (view, item) in enumerate(zip(self._views, frames, strict=True)):
            if item is None:
                continue
            key = _frame_key(item)
            if key == self._keys[slot]:
                continue
            self._keys[slot] = key
            view.set_frame(item.image if isinstance(item, Frame) else item)
