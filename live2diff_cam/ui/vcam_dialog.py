"""The "Set up the virtual camera" dialog: the exact command for this OS, Copy, Check again.

Opened when the user turns the virtual camera on and no backend is ready, instead of a red
banner. What is missing and the fix come from `virtual_camera_status()` (the same answer as
`live2diff-cam doctor` / `devices`); "Check again" asks it anew and, once the camera is ready,
the dialog accepts so the window can turn the camera on. It never runs the command itself.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

# () -> (ok, what was found, the fix): `live2diff_cam.app.sinks.virtual_camera_status`.
VcamStatus = Callable[[], tuple[bool, str, str]]


def split_fix(fix: str) -> tuple[str, str]:
    """(the command to run, the explanation around it) from a status fix line. A fix that
    starts with a shell command (sudo ...) gives that command alone; a step in words (install
    OBS ...) is all explanation."""
    if not fix.startswith("sudo "):
        return "", fix
    command, sep, rest = fix.partition(" (or run ")
    if not sep:
        command, _, rest = fix.partition(", then ")
        return command.strip(), f"Then {rest}" if rest else ""
    return command.strip(), f"Or run {rest.strip()}"


class VirtualCameraSetupDialog(QDialog):
    """Shows why the virtual camera is not available and how to set it up."""

    def __init__(self, status: VcamStatus, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="vcamSetupDialog")
        self.setWindowTitle("Set up the virtual camera")
        self.setMinimumWidth(560)
        self._status = status
        intro = QLabel(
            "Video-call apps see Live2Diff Camera as a webcam once a virtual camera driver is "
            "set up. This is done once; run this command in a terminal, then press Check again:"
        )
        intro.setWordWrap(True)
        self.detail_label = QLabel(objectName="vcamDetail")
        self.detail_label.setWordWrap(True)
        self.command_box = QPlainTextEdit(objectName="vcamCommand")
        self.command_box.setReadOnly(True)
        self.command_box.setMaximumHeight(72)
        self.command_box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.notes_label = QLabel(objectName="vcamNotes")
        self.notes_label.setWordWrap(True)
        self.notes_label.setProperty("role", "caption")
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label = QLabel(objectName="vcamResult")
        self.result_label.setWordWrap(True)
        self.copy_button = QPushButton("Copy", objectName="vcamCopy")
        self.check_button = QPushButton("Check again", objectName="vcamCheck")
        self.close_button = QPushButton("Close", objectName="vcamClose")
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.check_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.detail_label)
        layout.addWidget(intro)
        layout.addWidget(self.command_box)
        layout.addWidget(self.notes_label)
        layout.addWidget(self.result_label)
        layout.addLayout(buttons)
        self.copy_button.clicked.connect(self.copy_command)
        self.check_button.clicked.connect(self.check_again)
        self.close_button.clicked.connect(self.reject)
        self.check_again(first=True)

    def command(self) -> str:
        return self.command_box.toPlainText()

    def copy_command(self) -> None:
        QGuiApplication.clipboard().setText(self.command() or self.notes_label.text())
        self.result_label.setText("Copied. Paste it in a terminal, then press Check again.")

    def check_again(self, first: bool = False) -> bool:
        """Ask for the status again; accept the dialog when the camera is ready."""
        ok, detail, fix = self._status()
        if ok:
            self.result_label.setText("The virtual camera is ready.")
            if not first:
                self.accept()
            return True
        command, notes = split_fix(fix)
        self.detail_label.setText(f"<b>The virtual camera is not set up:</b> {detail}.")
        self.command_box.setPlainText(command)
        self.command_box.setVisible(bool(command))
        self.notes_label.setText(notes)
        if not first:
            self.result_label.setText("Still not ready: " + detail + ".")
        return False
