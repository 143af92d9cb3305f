"""The system-tray icon and its menu: show window, start/stop, presets, modes, quit.

Owns the `QSystemTrayIcon` and turns menu picks into signals; shows notifications (errors
above all) while the window is hidden. Knows nothing about the session or the window: the
window connects these signals. Where the platform has no tray, `available` is False and the
window asks instead of hiding (see `main_window`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from live2diff_cam.ui.controls import MODES


class TrayController(QObject):
    """Tray icon with a menu; `available` says whether hiding to it is possible.

    Signals:
        showRequested(): "Show window" or a click on the icon.
        startStopRequested(): "Start"/"Stop".
        presetChosen(str): a preset picked in the Presets submenu.
        modeChosen(str): a mode picked in the Mode submenu.
        quitRequested(): "Quit".
        alwaysShownChanged(bool): "Show this icon at every start" ticked or not.
    """

    showRequested = Signal()
    startStopRequested = Signal()
    presetChosen = Signal(str)
    modeChosen = Signal(str)
    quitRequested = Signal()
    alwaysShownChanged = Signal(bool)

    def __init__(
        self, icon: QIcon, available: bool | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if available is None else available
        self.icon = QSystemTrayIcon(icon, self)
        self.icon.setToolTip("Live2Diff Camera")
        # Kept for the window and tests: what the user was last told, tray or not.
        self.last_message: tuple[str, str] | None = None

        self.menu = QMenu()
        self.show_action = QAction("Show window", self.menu)
        self.start_action = QAction("Start", self.menu)
        self.presets_menu = QMenu("Presets", self.menu)
        self.modes_menu = QMenu("Mode", self.menu)
        self.quit_action = QAction("Quit", self.menu)
        self.always_action = QAction("Show this icon at every start", self.menu, checkable=True)
        self.menu.addAction(self.show_action)
        self.menu.addAction(self.start_action)
        self.menu.addSeparator()
        self.menu.addMenu(self.presets_menu)
        self.menu.addMenu(self.modes_menu)
        self.menu.addSeparator()
        self.menu.addAction(self.always_action)
        self.menu.addAction(self.quit_action)
        self.icon.setContextMenu(self.menu)

        self._preset_group = QActionGroup(self)
        self._preset_actions: dict[str, QAction] = {}
        self._mode_group = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        for mode, title, _ in MODES:
            action = QAction(title, self.modes_menu, checkable=True)
            action.setData(mode)
            self._mode_group.addAction(action)
            self.modes_menu.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions["stylized"].setChecked(True)

        self.show_action.triggered.connect(self.showRequested)
        self.always_action.toggled.connect(self.alwaysShownChanged)
        self.start_action.triggered.connect(self.startStopRequested)
        self.quit_action.triggered.connect(self.quitRequested)
        self._mode_group.triggered.connect(lambda a: self.modeChosen.emit(a.data()))
        self._preset_group.triggered.connect(lambda a: self.presetChosen.emit(a.data()))
        self.icon.activated.connect(self._on_activated)

    def set_visible(self, visible: bool) -> None:
        if self.available:
            self.icon.setVisible(visible)

    def is_visible(self) -> bool:
        return self.available and self.icon.isVisible()

    def set_running(self, running: bool) -> None:
        self.start_action.setText("Stop" if running else "Start")
        self.icon.setToolTip("Live2Diff Camera - streaming" if running else "Live2Diff Camera")

    def set_presets(self, presets: Sequence[tuple[str, str]]) -> None:
        """`presets`: (name, title) pairs in gallery order."""
        for action in self._preset_actions.values():
            self._preset_group.removeAction(action)
            self.presets_menu.removeAction(action)
            action.deleteLater()
        self._preset_actions = {}
        for name, title in presets:
            action = QAction(title, self.presets_menu, checkable=True)
            action.setData(name)
            self._preset_group.addAction(action)
            self.presets_menu.addAction(action)
            self._preset_actions[name] = action

    def set_current_preset(self, name: str) -> None:
        action = self._preset_actions.get(name)
        if action is not None:
            action.setChecked(True)

    def set_mode(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)

    def notify(self, title: str, message: str, error: bool = False) -> None:
        """A balloon/notification where the tray exists; remembered in `last_message` always."""
        self.last_message = (title, message)
        if self.available and self.icon.isVisible():
            kind = (
                QSystemTrayIcon.MessageIcon.Critical
                if error
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.icon.showMessage(title, message, kind, 8000)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.showRequested.emit()

    def dispose(self) -> None:
        """Hide the icon and free the menu (a QMenu without a parent is not freed by Qt)."""
        self.icon.hide()
        self.menu.deleteLater()
