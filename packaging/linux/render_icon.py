"""Render packaging/linux/live2diff-cam.svg to the 256x256 PNG next to it (Qt's SVG renderer).

Run after editing the SVG: `QT_QPA_PLATFORM=offscreen python packaging/linux/render_icon.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 256


def render(svg: Path = HERE / "live2diff-cam.svg", png: Path = HERE / "live2diff-cam.png") -> Path:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png)):
        raise SystemExit(f"could not write {png}")
    del app
    return png


if __name__ == "__main__":
    print(render(*[Path(arg) for arg in sys.argv[1:3]]))
