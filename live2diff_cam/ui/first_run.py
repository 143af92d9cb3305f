"""The set-up page: what the chosen style needs, asked before anything is downloaded or captured.

Shown on the first start and whenever Start finds the style's models missing. It lists each
download (name, size, where from, where it goes), and offers three routes: download them, use
files already on this computer (`OwnFilesDialog`), or try the built-in test model. After a
failed download it shows the whole message and points at the two offline routes. The page
only emits the user's choice; the window acts on it. No network and no camera are touched here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from live2diff_cam.ui import theme
from live2diff_cam.ui.download_dialog import NeededModel


def _label(text: str = "", name: str = "", role: str = "") -> QLabel:
    label = QLabel(text, objectName=name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if role:
        label.setProperty("role", role)
    return label


class FirstRunPage(QWidget):
    """The page itself. Call `set_needs()` with what the style needs; read the user's choice
    from the signals.

    Signals:
        downloadRequested(): the user agreed to download the listed models.
        ownFilesChosen(object): an `OwnFiles` the user picked instead.
        testModelRequested(): run the built-in test model (nothing to download).
    """

    downloadRequested = Signal()
    ownFilesChosen = Signal(object)
    testModelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="firstRunPage")
        self.title = QLabel("Welcome to Live2Diff Camera", objectName="firstRunTitle")
        self.title.setProperty("role", "title")
        self.intro = _label(
            "Nothing has been downloaded and no camera is in use yet. Live2Diff Camera "
            "restyles your camera or screen with a video diffusion model; the models are "
            "downloaded once, or you can use files you already have.",
            "firstRunIntro",
        )
        self.needs_label = _label(name="firstRunNeeds")
        self.needs_label.setTextFormat(Qt.TextFormat.RichText)
        self.needs_label.setOpenExternalLinks(True)
        self.cpu_label = _label(name="firstRunCpu", role="caption")
        self.failure_label = _label(name="firstRunFailure")
        self.failure_label.hide()
        self.download_button = QPushButton("Download", objectName="firstRunDownload")
        self.own_button = QPushButton("Use files I already have...", objectName="firstRunOwn")
        self.test_button = QPushButton(
            "Try the test model (no download)", objectName="firstRunTest"
        )
        for button in (self.download_button, self.own_button, self.test_button):
            button.setMinimumHeight(34)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.own_button)
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)

        column = QVBoxLayout()
        column.setSpacing(14)
        column.addWidget(self.title)
        column.addWidget(self.intro)
        column.addWidget(self.needs_label)
        column.addWidget(self.cpu_label)
        column.addWidget(self.failure_label)
        column.addLayout(buttons)
        column.addStretch(1)
        holder = QWidget()
        holder.setMaximumWidth(760)
        holder.setLayout(column)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(32, 32, 32, 32)
        outer.addStretch(1)
        outer.addWidget(holder, 4)
        outer.addStretch(1)

        self.download_button.clicked.connect(self.downloadRequested)
        self.test_button.clicked.connect(self.testModelRequested)
        self.own_button.clicked.connect(self._choose_own_files)
        # Tests and the screenshot tool replace this to skip the modal dialog.
        self.ask_own_files = self._ask_own_files

    def set_needs(
        self, style: str, needs: list[NeededModel], cache_folder: str, has_cuda: bool
    ) -> None:
        """Show what the style `style` needs (`needs` empty: nothing to download)."""
        self.failure_label.hide()
        missing = [need for need in needs if not need.cached]
        if not missing:
            self.needs_label.setText(
                f"Everything the style <b>{style}</b> needs is on this computer."
            )
        else:
            rows = "".join(
                f"<li><b>{need.description}</b>, {need.size}, from "
                f'<a style="color: {theme.ACCENT_HOVER}" href="{need.url}">'
                f"{need.url.removeprefix('https://')}</a></li>"
                for need in missing
            )
            self.needs_label.setText(
                f"The style <b>{style}</b> needs these downloads ({_total(missing)}):"
                f"<ul>{rows}</ul>They are saved in the Hugging Face cache, "
                f"<code>{cache_folder}</code> (set HF_HOME to move it), and used from there "
                "from then on."
            )
        self.download_button.setVisible(bool(missing))
        self.download_button.setText(f"Download ({_total(missing)})" if missing else "Download")
        self.cpu_label.setText(
            ""
            if has_cuda
            else "This computer has no CUDA GPU: Stable Diffusion models would take minutes per "
            "frame here. The test model runs at 256 x 256 without one."
        )
        self.cpu_label.setVisible(not has_cuda)
        self.test_button.setDefault(not has_cuda)

    def show_failure(self, message: str) -> None:
        """A download failed: the whole message, and the routes that work offline."""
        self.failure_label.setText(
            f"{message}\n\nWithout a connection: choose “Use files I already have...” if the "
            "models are on this computer, or try the test model."
        )
        self.failure_label.show()
        self.download_button.setText("Try the download again")

    def _choose_own_files(self) -> None:
        files = self.ask_own_files()
        if files is not None:
            self.ownFilesChosen.emit(files)

    def _ask_own_files(self) -> OwnFiles | None:
        dialog = OwnFilesDialog(self)
        return dialog.files() if dialog.exec() == QDialog.DialogCode.Accepted else None


def _total(needs: list[NeededModel]) -> str:
    """'3.9 GB' from sizes like '2.0 GB' and '135 MB'; unknown sizes make it 'about'."""
    total_mb = 0.0
    unknown = False
    for need in needs:
        number, _, unit = need.size.partition(" ")
        try:
            total_mb += float(number) * {"GB": 1024, "MB": 1, "KB": 1 / 1024}[unit]
        except (ValueError, KeyError):
            unknown = True
    text = f"{total_mb / 1024:.1f} GB" if total_mb >= 1024 else f"{total_mb:.0f} MB"
    return f"at least {text}" if unknown else text


@dataclass(frozen=True)
class OwnFiles:
    """Model files already on disk. `model`: a single-file checkpoint or a diffusers folder;
    the others are optional ("" = the default download)."""

    model: str
    lora: str = ""
    motion_module: str = ""
    depth_model: str = ""


# (field, label, what to pick: "file" or "folder", file filter)
_OWN_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("checkpoint", "Checkpoint file", "file", "Checkpoints (*.safetensors *.ckpt)"),
    ("folder", "or diffusers folder", "folder", ""),
    ("lora", "LoRA (optional)", "file", "LoRA (*.safetensors)"),
    ("motion_module", "Motion module (optional)", "file", "Motion module (*.ckpt *.safetensors)"),
    ("depth_model", "Depth ONNX (optional)", "file", "ONNX (*.onnx)"),
)


class OwnFilesDialog(QDialog):
    """Pick model files already on this computer; OK checks that each one exists."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="ownFilesDialog")
        self.setWindowTitle("Use files I already have")
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout()
        for field, title, kind, pattern in _OWN_FIELDS:
            edit = QLineEdit(objectName=f"own_{field}")
            browse = QPushButton("Browse...")
            browse.clicked.connect(
                lambda _=False, e=edit, k=kind, p=pattern, t=title: self._browse(e, k, p, t)
            )
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(browse)
            form.addRow(title, row)
            self.edits[field] = edit
        self.problem = _label(name="ownFilesProblem")
        self.problem.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            _label(
                "A Stable Diffusion 1.5 checkpoint (one .safetensors or .ckpt file) or a "
                "diffusers folder. Leave the optional ones empty to use the defaults."
            )
        )
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def _browse(self, edit: QLineEdit, kind: str, pattern: str, title: str) -> None:
        if kind == "folder":
            path = QFileDialog.getExistingDirectory(self, title)
        else:
            path, _ = QFileDialog.getOpenFileName(self, title, "", f"{pattern};;All (*)")
        if path:
            edit.setText(path)

    def files(self) -> OwnFiles:
        text = {field: edit.text().strip() for field, edit in self.edits.items()}
        return OwnFiles(
            text["checkpoint"] or text["folder"],
            text["lora"],
            text["motion_module"],
            text["depth_model"],
        )

    def check(self) -> str:
        """'' when the choice can be used, else one line saying what is wrong."""
        text = {field: edit.text().strip() for field, edit in self.edits.items()}
        if not (text["checkpoint"] or text["folder"]):
            return "Choose a checkpoint file or a diffusers folder."
        for value in text.values():
            if value and not Path(value).expanduser().exists():
                return f"file not found: {value}"
        return ""

    def _accept_if_valid(self) -> None:
        problem = self.check()
        if problem:
            self.problem.setText(problem)
            self.problem.show()
            return
        self.accept()
