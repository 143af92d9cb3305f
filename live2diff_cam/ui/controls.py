"""The window's input widgets: style/structure sliders, prompts, preset gallery, source picker,
output modes and the transport buttons (start, virtual camera, record).

Each widget turns user gestures into plain-valued signals (floats, strings) and offers setters
that do not echo back as signals, so the window can restore settings without feedback loops.
Nothing here knows the session; `main_window` wires these signals to the bridge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QIcon,
    QKeyEvent,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QScreen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from live2diff_cam.ui import theme

SLIDER_STEPS = 100  # style slider resolution: 0.01
MAX_DEPTH_SCALE = 2.0
PROMPT_DEBOUNCE_MS = 400


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "caption")
    return label


def _value_label() -> QLabel:
    label = QLabel()
    label.setProperty("role", "value")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


class StyleControls(QGroupBox):
    """Style strength (0 = the input, 1 = full style), structure (depth scale) and seed.

    Signals:
        strengthChanged(float): in [0, 1], emitted live while the slider moves.
        depthScaleChanged(float): in [0, MAX_DEPTH_SCALE], emitted live.
        seedChanged(int): a new seed was typed or rolled.
    """

    strengthChanged = Signal(float)
    depthScaleChanged = Signal(float)
    seedChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Style", parent)
        self.style_slider = QSlider(Qt.Orientation.Horizontal, objectName="styleSlider")
        self.style_slider.setRange(0, SLIDER_STEPS)
        self.style_slider.setToolTip("0 = your camera as it is, 1 = the full style")
        self.structure_slider = QSlider(Qt.Orientation.Horizontal, objectName="structureSlider")
        self.structure_slider.setRange(0, int(MAX_DEPTH_SCALE * SLIDER_STEPS))
        self.structure_slider.setToolTip("How closely the output follows the scene's depth")
        self.seed_spin = QSpinBox(objectName="seedSpin")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Noise seed: the same seed gives the same look")
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setMinimumWidth(90)  # ten digits fit; the hint would widen the sidebar
        for slider in (self.style_slider, self.structure_slider):
            slider.setMinimumWidth(60)
        roll = QToolButton(objectName="seedRoll", text="Roll")
        roll.setToolTip("Pick a new random seed")
        self._style_value = _value_label()
        self._structure_value = _value_label()

        grid = QGridLayout(self)
        grid.addWidget(_caption("Style strength"), 0, 0)
        grid.addWidget(self.style_slider, 0, 1)
        grid.addWidget(self._style_value, 0, 2)
        grid.addWidget(_caption("Structure"), 1, 0)
        grid.addWidget(self.structure_slider, 1, 1)
        grid.addWidget(self._structure_value, 1, 2)
        grid.addWidget(_caption("Seed"), 2, 0)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(roll)
        grid.addLayout(seed_row, 2, 1, 1, 2)
        grid.setColumnStretch(1, 1)

        self.style_slider.valueChanged.connect(self._on_style)
        self.structure_slider.valueChanged.connect(self._on_structure)
        self.seed_spin.valueChanged.connect(self.seedChanged)
        roll.clicked.connect(self._roll_seed)
        self._show_values()

    def strength(self) -> float:
        return self.style_slider.value() / SLIDER_STEPS

    def depth_scale(self) -> float:
        return self.structure_slider.value() / SLIDER_STEPS

    def seed(self) -> int:
        return self.seed_spin.value()

    def set_values(self, strength: float, depth_scale: float, seed: int) -> None:
        """Show these values without emitting change signals."""
        for widget, value in (
            (self.style_slider, round(strength * SLIDER_STEPS)),
            (self.structure_slider, round(depth_scale * SLIDER_STEPS)),
            (self.seed_spin, seed),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self._show_values()

    def _show_values(self) -> None:
        self._style_value.setText(f"{self.strength():.2f}")
        self._structure_value.setText(f"{self.depth_scale():.2f}")

    def _on_style(self, _value: int) -> None:
        self._show_values()
        self.strengthChanged.emit(self.strength())

    def _on_structure(self, _value: int) -> None:
        self._show_values()
        self.depthScaleChanged.emit(self.depth_scale())

    def _roll_seed(self) -> None:
        # Qt's generator keeps the UI free of numpy/random state shared with the engine.
        from PySide6.QtCore import QRandomGenerator

        self.seed_spin.setValue(QRandomGenerator.global_().bounded(0, 2**31 - 1))


class PromptPanel(QGroupBox):
    """Prompt and negative prompt; typing is debounced so the engine re-encodes text once.

    Signals:
        promptChanged(str): the prompt settled (typing paused or editing finished).
        negativePromptChanged(str): likewise for the negative prompt.
    """

    promptChanged = Signal(str)
    negativePromptChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Prompt", parent)
        self.prompt_edit = QLineEdit(objectName="promptEdit")
        self.prompt_edit.setPlaceholderText("Describe the style, e.g. 'watercolor portrait'")
        self.negative_edit = QLineEdit(objectName="negativePromptEdit")
        self.negative_edit.setPlaceholderText("What to avoid (optional)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_edit)
        layout.addWidget(_caption("Negative prompt"))
        layout.addWidget(self.negative_edit)
        self._sent = {self.prompt_edit: "", self.negative_edit: ""}
        for edit, signal in (
            (self.prompt_edit, self.promptChanged),
            (self.negative_edit, self.negativePromptChanged),
        ):
            timer = QTimer(self, singleShot=True, interval=PROMPT_DEBOUNCE_MS)
            timer.timeout.connect(lambda e=edit, s=signal: self._flush(e, s))
            edit.textChanged.connect(timer.start)
            edit.editingFinished.connect(
                lambda e=edit, s=signal, t=timer: (t.stop(), self._flush(e, s))
            )

    def set_prompts(self, prompt: str, negative: str) -> None:
        """Show these prompts without emitting change signals."""
        for edit, text in ((self.prompt_edit, prompt), (self.negative_edit, negative)):
            edit.blockSignals(True)
            edit.setText(text)
            edit.blockSignals(False)
            self._sent[edit] = text

    def _flush(self, edit: QLineEdit, signal: Signal) -> None:
        text = edit.text().strip()
        if text != self._sent[edit]:
            self._sent[edit] = text
            signal.emit(text)


@dataclass(frozen=True)
class PresetCard:
    """What the gallery shows for one preset."""

    name: str
    title: str
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a preset card needs a name")


def _card_icon(title: str, index: int, size: int = 56) -> QIcon:
    """A gradient tile with the preset's initials: recognisable without shipping images."""
    hues = (262, 200, 330, 150, 25, 290, 180, 45)
    hue = hues[index % len(hues)]
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(0, 0, size, size)
    gradient.setColorAt(0, QColor.fromHsl(hue, 170, 120))
    gradient.setColorAt(1, QColor.fromHsl((hue + 40) % 360, 170, 60))
    painter.setBrush(gradient)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, size, size, 12, 12)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(size // 3)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    initials = "".join(word[0] for word in title.split()[:2]).upper() or "?"
    painter.drawText(QRect(0, 0, size, size), Qt.AlignmentFlag.AlignCenter, initials)
    painter.end()
    return QIcon(pixmap)


TILE_MIN_WIDTH = 92
TILE_HEIGHT = 108  # icon + two lines of name


class PresetGallery(QListWidget):
    """A grid of preset tiles; one is selected at a time.

    Signals:
        presetChosen(str): the user picked a preset (by click, key or next/previous).
    """

    presetChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="presetList")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(56, 56))
        self.setGridSize(QSize(TILE_MIN_WIDTH, TILE_HEIGHT))
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setMinimumHeight(110)
        self.currentItemChanged.connect(self._on_current)

    def set_presets(self, cards: Sequence[PresetCard]) -> None:
        self.blockSignals(True)
        self.clear()
        for index, card in enumerate(cards):
            item = QListWidgetItem(_card_icon(card.title, index), card.title)
            item.setData(Qt.ItemDataRole.UserRole, card.name)
            # The full name always: a long one wraps in the tile and may still be cut.
            item.setToolTip(f"{card.title}: {card.description}" if card.description else card.title)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.addItem(item)
        self.blockSignals(False)

    def names(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Tiles share the whole width (no ragged gap at the right of the sidebar).
        width = self.viewport().width() - 2
        columns = max(1, width // TILE_MIN_WIDTH)
        self.setGridSize(QSize(max(TILE_MIN_WIDTH, width // columns), TILE_HEIGHT))
        super().resizeEvent(event)

    def current_name(self) -> str | None:
        item = self.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def select(self, name: str) -> bool:
        """Select `name` without emitting presetChosen; False if there is no such preset."""
        names = self.names()
        if name not in names:
            return False
        self.blockSignals(True)
        self.setCurrentRow(names.index(name))
        self.blockSignals(False)
        return True

    def step(self, delta: int) -> None:
        """Choose the next (+1) or previous (-1) preset, wrapping around."""
        if self.count() == 0:
            return
        row = self.currentRow()
        self.setCurrentRow(0 if row < 0 else (row + delta) % self.count())

    def _on_current(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is not None:
            self.presetChosen.emit(current.data(Qt.ItemDataRole.UserRole))


class RegionPicker(QWidget):
    """Choose a screen region by dragging over a frozen screenshot of that screen.

    The screenshot is taken when the picker opens, so what is under the picker is what the
    user sees; outside the selection it is dimmed. The region is exact: a 400x260 drag gives
    400x260 (times the screen's device pixel ratio, since capture works in device pixels),
    offset by the screen's position. Esc or a click without a drag cancels.

    Signals:
        regionPicked(QRect): the chosen region in device pixels, at least 16x16.
        cancelled(): Esc or a click without a drag.
    """

    regionPicked = Signal(QRect)
    cancelled = Signal()

    def __init__(self, screenshot: QPixmap, origin: QPoint, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="regionPicker")
        self.setWindowFlags(
            Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.Tool
        )
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._screenshot = screenshot
        self._screen_origin = origin  # the screen's top-left in device pixels
        self._origin: QPoint | None = None
        self._rect = QRect()

    @classmethod
    def for_screen(cls, screen: QScreen) -> RegionPicker:
        """A picker covering `screen`, over a screenshot of it taken now."""
        picker = cls(screen.grabWindow(0), _device_origin(screen))
        picker.setGeometry(screen.geometry())
        return picker

    def selection(self) -> QRect:
        """The selection in the picker's own (logical) pixels."""
        return QRect(self._rect)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._origin = event.position().toPoint()
        self._rect = QRect(self._origin, QSize(0, 0))
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._origin is not None:
            self._rect = _span(self._origin, event.position().toPoint())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._origin is not None:
            self._rect = _span(self._origin, event.position().toPoint())
        rect, self._origin = self._rect, None
        self.close()
        ratio = self.devicePixelRatioF()
        device = QRect(
            self._screen_origin.x() + round(rect.x() * ratio),
            self._screen_origin.y() + round(rect.y() * ratio),
            round(rect.width() * ratio),
            round(rect.height() * ratio),
        )
        if device.width() >= 16 and device.height() >= 16:
            self.regionPicked.emit(device)
        else:
            self.cancelled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            self.cancelled.emit()

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawPixmap(self.rect(), self._screenshot)
        dim = QColor(0, 0, 0, 140)
        whole = self.rect()
        if self._rect.isEmpty():
            painter.fillRect(whole, dim)
        else:
            # Dim the four bands around the selection; the selection keeps the real picture.
            sel = self._rect
            painter.fillRect(QRect(0, 0, whole.width(), sel.top()), dim)
            painter.fillRect(QRect(0, sel.bottom() + 1, whole.width(), whole.height()), dim)
            painter.fillRect(QRect(0, sel.top(), sel.left(), sel.height()), dim)
            painter.fillRect(QRect(sel.right() + 1, sel.top(), whole.width(), sel.height()), dim)
            painter.setPen(QColor(theme.ACCENT))
            painter.drawRect(sel.adjusted(0, 0, -1, -1))
            ratio = self.devicePixelRatioF()
            size = f"{round(sel.width() * ratio)} x {round(sel.height() * ratio)}"
            painter.setPen(QColor("white"))
            painter.drawText(sel.adjusted(6, 4, 0, 0), Qt.AlignmentFlag.AlignLeft, size)
        painter.setPen(QColor("white"))
        painter.drawText(
            whole.adjusted(0, 20, 0, 0),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            "Drag to choose the region to capture  -  Esc cancels",
        )
        painter.end()


def _span(start: QPoint, end: QPoint) -> QRect:
    """The rectangle a drag from `start` to `end` covers: width = |dx|, not |dx| + 1."""
    left, top = min(start.x(), end.x()), min(start.y(), end.y())
    return QRect(left, top, abs(end.x() - start.x()), abs(end.y() - start.y()))


def _device_origin(screen: QScreen) -> QPoint:
    geometry = screen.geometry()
    ratio = screen.devicePixelRatio()
    return QPoint(round(geometry.x() * ratio), round(geometry.y() * ratio))


# (kind shown in the picker, title, what the detail field holds)
SOURCE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("camera", "Camera", "camera index, e.g. 0"),
    ("screen", "Screen", "monitor number, e.g. 1"),
    ("region", "Screen region", "x,y,width,height"),
    ("window", "Window", "part of the window title"),
    ("file", "Video file", "path to a video file"),
)
LISTED_KINDS = ("camera", "screen", "window")  # filled from the device lists


def device_items(report: dict) -> dict[str, list[tuple[str, str]]]:
    """(title, detail) per listed kind, from `live2diff_cam.app.devices.collect()`'s report, so
    the drop-downs show what `live2diff-cam devices` prints. Virtual cameras (outputs such
    as our own) are left out of the cameras."""
    return {
        "camera": [
            (f"{cam['name']} (camera {cam['index']})", str(cam["index"]))
            for cam in report.get("cameras", [])
            if not cam.get("virtual")
        ],
        "screen": [
            (f"Monitor {mon['index']}: {mon['width']} x {mon['height']}", str(mon["index"]))
            for mon in report.get("monitors", [])
        ],
        "window": [(win["title"], win["title"]) for win in report.get("windows", [])],
    }


class SourcePicker(QGroupBox):
    """Chooses the input: a kind (camera, screen, region, window, file) plus its detail.

    Cameras, monitors and windows come from drop-downs filled by `set_devices()` (Refresh asks
    again through `refreshRequested`); a region is picked on screen; a file is browsed for.
    It emits specs in the app's grammar (`live2diff_cam.app.sources.parse_source_spec`):
    `camera:0`, `screen:1`, `screen:10,20,640,480` (a region), `window:Zoom`, `file:/clip.mkv`.

    Signals:
        sourceChosen(str): the user confirmed a source spec.
        problemFound(str): what the user typed cannot be a source (e.g. file not found).
        refreshRequested(): the user wants the device lists again.
    """

    sourceChosen = Signal(str)
    problemFound = Signal(str)
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Source", parent)
        self.kind_combo = QComboBox(objectName="sourcePicker")
        for kind, title, hint in SOURCE_KINDS:
            self.kind_combo.addItem(title, kind)
            self.kind_combo.setItemData(
                self.kind_combo.count() - 1, hint, Qt.ItemDataRole.ToolTipRole
            )
        self.detail_combo = QComboBox(objectName="sourceDetail")
        self.detail_combo.setEditable(True)
        self.detail_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.detail_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.detail_combo.setMinimumContentsLength(10)
        self.refresh_button = QToolButton(objectName="sourceRefresh", text="Refresh")
        self.refresh_button.setToolTip("List the cameras, monitors and windows again")
        self.browse_button = QPushButton("Browse", objectName="sourceBrowse")
        self.pick_button = QPushButton("Pick", objectName="sourcePickRegion")
        self.pick_button.setToolTip("Drag a rectangle over a screenshot of the screen")
        row = QHBoxLayout()
        row.addWidget(self.detail_combo, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.browse_button)
        row.addWidget(self.pick_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.kind_combo)
        layout.addLayout(row)
        self._items: dict[str, list[tuple[str, str]]] = {kind: [] for kind in LISTED_KINDS}
        self._picker: RegionPicker | None = None
        self.kind_combo.currentIndexChanged.connect(self._on_kind)
        self.detail_combo.activated.connect(lambda _index: self._emit())
        line_edit = self.detail_combo.lineEdit()
        assert line_edit is not None
        line_edit.returnPressed.connect(self._emit)
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.browse_button.clicked.connect(self._browse)
        self.pick_button.clicked.connect(self._pick_region)
        self._on_kind(self.kind_combo.currentIndex(), emit=False)

    @property
    def detail_edit(self) -> QLineEdit:
        """The detail's text field (typing a camera index or a path still works)."""
        edit = self.detail_combo.lineEdit()
        assert edit is not None
        return edit

    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def detail(self) -> str:
        text = self.detail_combo.currentText().strip()
        index = self.detail_combo.currentIndex()
        if index >= 0 and self.detail_combo.itemText(index) == text:
            return str(self.detail_combo.itemData(index))
        return text

    def spec(self) -> str:
        kind, detail = self.kind(), self.detail()
        scheme = "screen" if kind == "region" else kind
        return f"{scheme}:{detail}" if detail else scheme

    def set_devices(self, items: dict[str, list[tuple[str, str]]]) -> None:
        """New drop-down contents per kind ((title, detail) pairs); the choice is kept."""
        for kind in LISTED_KINDS:
            self._items[kind] = list(items.get(kind, []))
        detail = self.detail()
        self._fill(self.kind())
        self._show_detail(detail)

    def set_spec(self, spec: str) -> None:
        """Show `spec` (the app's grammar; a bare path means a file) without emitting."""
        scheme, sep, detail = spec.strip().partition(":")
        scheme = scheme.lower()
        if scheme == "screen" and "," in detail:
            kind = "region"
        elif sep and scheme in ("camera", "screen", "window", "file"):
            kind = scheme
        elif not sep and scheme in ("camera", "screen"):
            kind, detail = scheme, ""
        else:
            kind, detail = "file", spec.strip()
        kinds = [k for k, _, _ in SOURCE_KINDS]
        self.kind_combo.blockSignals(True)
        self.kind_combo.setCurrentIndex(kinds.index(kind))
        self.kind_combo.blockSignals(False)
        self._on_kind(self.kind_combo.currentIndex(), emit=False)
        self._show_detail(detail)

    def _fill(self, kind: str) -> None:
        self.detail_combo.blockSignals(True)
        self.detail_combo.clear()
        for title, detail in self._items.get(kind, []):
            self.detail_combo.addItem(title, detail)
            self.detail_combo.setItemData(
                self.detail_combo.count() - 1, title, Qt.ItemDataRole.ToolTipRole
            )
        self.detail_combo.blockSignals(False)

    def _show_detail(self, detail: str) -> None:
        self.detail_combo.blockSignals(True)
        index = self.detail_combo.findData(detail)
        if index >= 0:
            self.detail_combo.setCurrentIndex(index)
        else:
            self.detail_combo.setCurrentIndex(-1)
            self.detail_combo.setEditText(detail)
        self.detail_combo.blockSignals(False)

    def _on_kind(self, index: int, emit: bool = True) -> None:
        kind, _, hint = SOURCE_KINDS[index]
        self._fill(kind)
        self.detail_edit.setPlaceholderText(hint)
        self.browse_button.setVisible(kind == "file")
        self.pick_button.setVisible(kind == "region")
        self.refresh_button.setVisible(kind in LISTED_KINDS)
        if self.detail_combo.count():
            self.detail_combo.setCurrentIndex(0)
        elif kind in ("camera", "screen"):
            self.detail_combo.setEditText({"camera": "0", "screen": "1"}[kind])
        else:
            self.detail_combo.setEditText("")
        if emit and self.detail():
            self._emit()

    def _emit(self) -> None:
        detail = self.detail()
        if self.kind() == "file" and detail and not Path(detail).expanduser().is_file():
            self.problemFound.emit(f"file not found: {detail}")
            return
        if detail or self.kind() in ("camera", "screen"):
            self.sourceChosen.emit(self.spec())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a video", "", "Videos (*.mp4 *.mkv *.mov *.avi *.webm *.gif);;All (*)"
        )
        if path:
            self.detail_combo.setEditText(path)
            self._emit()

    def _pick_region(self) -> None:
        screen = self.screen()
        self._picker = RegionPicker.for_screen(screen)
        self._picker.regionPicked.connect(self._on_region)
        self._picker.show()
        self._picker.activateWindow()

    def _on_region(self, rect: QRect) -> None:
        self.detail_combo.setEditText(f"{rect.x()},{rect.y()},{rect.width()},{rect.height()}")
        self._emit()


MODES: tuple[tuple[str, str, str], ...] = (
    ("stylized", "Stylized", "modeStylized"),
    ("bypass", "Bypass", "modeBypass"),
    ("freeze", "Freeze", "modeFreeze"),
    ("privacy", "Privacy", "modePrivacy"),
)


class ModeButtons(QWidget):
    """Four exclusive buttons for what the virtual camera shows.

    stylized: the engine's output; bypass: the camera as it is; freeze: the last frame held;
    privacy: a blank frame.

    Signals:
        modeChosen(str): one of "stylized", "bypass", "freeze", "privacy".
    """

    modeChosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for mode, title, object_name in MODES:
            button = QPushButton(title, objectName=object_name, checkable=True)
            button.setProperty("mode", mode)
            self._group.addButton(button)
            layout.addWidget(button)
            self.buttons[mode] = button
        self.buttons["stylized"].setChecked(True)
        self._group.buttonClicked.connect(lambda b: self.modeChosen.emit(b.property("mode")))

    def mode(self) -> str:
        checked = self._group.checkedButton()
        return "stylized" if checked is None else checked.property("mode")

    def set_mode(self, mode: str) -> None:
        """Show `mode` as checked without emitting modeChosen."""
        self.buttons[mode].setChecked(True)


class TransportBar(QWidget):
    """Start/stop, virtual camera on/off and record.

    Signals:
        startStopClicked(): the start/stop button was pressed (the window decides which).
        vcamToggled(bool): publish to the virtual camera or not.
        recordToggled(bool): record the output to a file or stop recording.
    """

    startStopClicked = Signal()
    vcamToggled = Signal(bool)
    recordToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_button = QPushButton("Start", objectName="startButton", checkable=True)
        self.vcam_toggle = QPushButton("Virtual camera", objectName="vcamToggle", checkable=True)
        self.vcam_toggle.setToolTip("Publish the output as the 'Live2Diff Camera' webcam")
        self.record_button = QPushButton("Record", objectName="recordButton", checkable=True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.start_button)
        layout.addWidget(self.vcam_toggle)
        layout.addWidget(self.record_button)
        # The window owns the running state; the button only reports the press.
        self.start_button.clicked.connect(self._on_start)
        self.vcam_toggle.toggled.connect(self.vcamToggled)
        self.record_button.toggled.connect(self.recordToggled)

    def _on_start(self) -> None:
        self.start_button.setChecked(not self.start_button.isChecked())
        self.startStopClicked.emit()

    def set_running(self, running: bool) -> None:
        self.start_button.setChecked(running)
        self.start_button.setText("Stop" if running else "Start")

    def set_vcam(self, on: bool) -> None:
        self.vcam_toggle.blockSignals(True)
        self.vcam_toggle.setChecked(on)
        self.vcam_toggle.blockSignals(False)

    def set_recording(self, on: bool) -> None:
        self.record_button.blockSignals(True)
        self.record_button.setChecked(on)
        self.record_button.blockSignals(False)
