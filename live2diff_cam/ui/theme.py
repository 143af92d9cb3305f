"""The window's look: one dark palette and one style sheet, applied to the whole application.

Owns colours, fonts and widget styling only. Knows nothing about the session or the layout;
widgets opt into accents through their `objectName` or a dynamic `role` property.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QLinearGradient, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

BACKGROUND = "#15171c"
SURFACE = "#1d2027"
SURFACE_RAISED = "#262a33"
BORDER = "#2f3440"
TEXT = "#e6e8ee"
TEXT_DIM = "#8b92a3"
ACCENT = "#7c5cff"
ACCENT_HOVER = "#9378ff"
DANGER = "#ff5c7a"
SUCCESS = "#3ddc97"
FOCUS = "#ffd166"  # keyboard focus: visible on the accent and the dark surfaces alike

STYLE_SHEET = f"""
QWidget {{
    background: {BACKGROUND};
    color: {TEXT};
    font-size: 10pt;
}}
QMainWindow::separator {{ background: {BORDER}; width: 1px; height: 1px; }}
QFrame#panel, QGroupBox {{
    background: {SURFACE};
    border: 1px solid {BORDER};
    border-radius: 10px;
}}
QGroupBox {{ margin-top: 14px; padding: 10px 8px 8px 8px; }}
QGroupBox::title {{
    subcontrol-origin: margin;
    left: 10px;
    padding: 0 4px;
    color: {TEXT_DIM};
    background: transparent;
}}
QLabel {{ background: transparent; }}
QLabel[role="caption"] {{ color: {TEXT_DIM}; font-size: 9pt; }}
QLabel[role="value"] {{ color: {TEXT}; font-weight: 600; min-width: 34px; }}
QLineEdit, QPlainTextEdit, QSpinBox, QComboBox {{
    background: {SURFACE_RAISED};
    border: 1px solid {BORDER};
    border-radius: 6px;
    padding: 4px 6px;
    selection-background-color: {ACCENT};
}}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QComboBox:focus {{
    border: 1px solid {ACCENT};
}}
QComboBox QAbstractItemView {{
    background: {SURFACE_RAISED};
    border: 1px solid {BORDER};
    selection-background-color: {ACCENT};
}}
QPushButton, QToolButton {{
    background: {SURFACE_RAISED};
    border: 1px solid {BORDER};
    border-radius: 6px;
    padding: 6px 12px;
}}
QPushButton:hover, QToolButton:hover {{ border-color: {ACCENT}; }}
QPushButton:checked, QToolButton:checked {{
    background: {ACCENT};
    border-color: {ACCENT};
    color: white;
}}
QPushButton:disabled, QToolButton:disabled {{ color: {TEXT_DIM}; }}
QPushButton#startButton {{
    background: {ACCENT};
    border-color: {ACCENT};
    color: white;
    font-weight: 700;
    padding: 8px 18px;
}}
QPushButton#startButton:hover {{ background: {ACCENT_HOVER}; }}
QPushButton#startButton:checked {{ background: {DANGER}; border-color: {DANGER}; }}
QPushButton#recordButton:checked {{ background: {DANGER}; border-color: {DANGER}; }}
QSlider::groove:horizontal {{
    height: 6px;
    background: {SURFACE_RAISED};
    border-radius: 3px;
}}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::handle:horizontal {{
    background: white;
    width: 14px;
    margin: -5px 0;
    border-radius: 7px;
}}
QListWidget#presetList {{
    background: transparent;
    border: none;
    outline: none;
}}
QListWidget#presetList::item {{
    background: {SURFACE_RAISED};
    border: 1px solid {BORDER};
    border-radius: 8px;
    margin: 3px;
    padding: 6px;
}}
QListWidget#presetList::item:selected {{
    background: {ACCENT};
    border-color: {ACCENT};
    color: white;
}}
QStatusBar {{
    background: {SURFACE};
    border-top: 1px solid {BORDER};
    color: {TEXT_DIM};
}}
QStatusBar QLabel {{ color: {TEXT_DIM}; padding: 0 8px; }}
QLabel#errorBanner {{
    background: #3a1d26;
    color: {DANGER};
    border: 1px solid {DANGER};
    border-radius: 6px;
    padding: 6px 10px;
}}
QProgressBar {{
    background: {SURFACE_RAISED};
    border: 1px solid {BORDER};
    border-radius: 5px;
    text-align: center;
    height: 14px;
}}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QMenu {{ background: {SURFACE}; border: 1px solid {BORDER}; }}
QMenu::item:selected {{ background: {ACCENT}; }}
QScrollArea {{ border: none; }}
QLabel#infoBanner {{
    background: #17342a;
    color: {SUCCESS};
    border: 1px solid {SUCCESS};
    border-radius: 6px;
    padding: 6px 10px;
}}
QLabel[role="title"] {{ font-size: 18pt; font-weight: 600; }}
QLabel#recordElapsed {{ color: {DANGER}; font-weight: 600; padding: 0 6px; }}
QLabel#firstRunFailure {{
    background: #3a1d26;
    color: {TEXT};
    border: 1px solid {DANGER};
    border-radius: 6px;
    padding: 8px 10px;
}}
/* Keyboard focus is always visible: a second ring outside the control's own border. */
QPushButton:focus, QToolButton:focus, QSlider:focus, QListWidget:focus, QCheckBox:focus {{
    outline: none;
    border: 2px solid {FOCUS};
}}
QSlider:focus {{ border-radius: 6px; }}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QComboBox:focus {{
    border: 2px solid {FOCUS};
}}
"""


def apply_theme(app: QApplication) -> None:
    """Give `app` the dark palette (for native-drawn parts) and the style sheet."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: SURFACE_RAISED,
        QPalette.ColorRole.AlternateBase: SURFACE,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: SURFACE_RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: SURFACE_RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.PlaceholderText: TEXT_DIM,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)


def app_icon(size: int = 64) -> QIcon:
    """The app's icon, drawn (no image files to ship): a lens-like ring on the accent gradient."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(0, 0, size, size)
    gradient.setColorAt(0, QColor(ACCENT_HOVER))
    gradient.setColorAt(1, QColor("#3b2a99"))
    tile = QPainterPath()
    tile.addRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
    painter.fillPath(tile, gradient)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("white"))
    painter.drawEllipse(QRectF(size * 0.22, size * 0.22, size * 0.56, size * 0.56))
    painter.setBrush(QColor(BACKGROUND))
    painter.drawEllipse(QRectF(size * 0.34, size * 0.34, size * 0.32, size * 0.32))
    painter.setBrush(QColor(SUCCESS))
    painter.drawEllipse(QRectF(size * 0.44, size * 0.44, size * 0.12, size * 0.12))
    painter.end()
    return QIcon(pixmap)
