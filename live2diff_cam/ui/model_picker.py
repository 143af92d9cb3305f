"""Model, autoencoder, resolution and steps, chosen in the window instead of on the command line.

`ModelChoice` is the plain value (what `StreamOptions` needs from it); `ModelPicker` is the
sidebar box that edits it and, on a machine without a CUDA GPU, says so and offers the test
model at a small size. `cuda_present()` answers without importing torch (the window must open
in a second, and torch takes several). Nothing here starts or stops a stream.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

PRESET_MODEL = ""  # the model of the chosen preset
TEST_MODEL = "tiny"
RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (512, 512),
    (768, 512),
    (512, 768),
    (384, 384),
    (256, 256),
    (128, 128),
)
SMALL_RESOLUTION = (256, 256)  # what the test model runs at without a GPU
AUTOENCODERS: tuple[tuple[str, str, str], ...] = (
    ("taesd", "Fast", "TAESD: a tiny autoencoder, about 12x less work per frame, slightly softer"),
    ("", "Quality", "The model's own autoencoder: finest detail, far slower per frame"),
)


@dataclass(frozen=True)
class ModelChoice:
    """`model`: "" (the preset's), "tiny" or a checkpoint file / diffusers folder; `lora`: a
    LoRA file used with a model of one's own ("" = none); `vae`: "taesd" (fast, the default)
    or "" (the model's own); `optimize`: "Optimize for speed", one compiled step with CUDA
    graphs where there is a CUDA GPU."""

    model: str = PRESET_MODEL
    lora: str = ""
    vae: str = "taesd"
    width: int = 512
    height: int = 512
    steps: int = 2
    optimize: bool = True

    def __post_init__(self) -> None:
        if min(self.width, self.height) < 16 or self.width % 8 or self.height % 8:
            raise ValueError(
                f"resolution {self.width}x{self.height} must be multiples of 8, at least 16"
            )
        if not 1 <= self.steps <= 8:
            raise ValueError(f"steps must be 1 to 8, got {self.steps}")


def cuda_present() -> bool:
    """Whether an NVIDIA GPU with its driver is visible, by the driver's own traces (Linux:
    /proc/driver/nvidia; Windows: nvidia-smi); macOS never has CUDA. No torch import."""
    forced = os.environ.get("LIVE2DIFF_CAM_ASSUME_CUDA")
    if forced in ("0", "1"):
        return forced == "1"
    system = platform.system()
    if system == "Linux":
        gpus = Path("/proc/driver/nvidia/gpus")
        return gpus.is_dir() and any(gpus.iterdir())
    if system == "Windows":
        return shutil.which("nvidia-smi") is not None
    return False


class ModelPicker(QGroupBox):
    """The "Model" box: model, LoRA, autoencoder, resolution, steps.

    Signals:
        choiceChanged(object): a new `ModelChoice` (the window restarts a running stream).
    """

    choiceChanged = Signal(object)

    def __init__(self, has_cuda: bool, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.model_combo = QComboBox(objectName="modelCombo")
        self.model_combo.addItem("The preset's model", PRESET_MODEL)
        self.model_combo.addItem("Test model (no download)", TEST_MODEL)
        self.model_combo.setItemData(
            0, "Downloaded once from the Hugging Face hub", Qt.ItemDataRole.ToolTipRole
        )
        self.model_combo.setToolTip("Which weights stylize the video")
        self.own_button = QPushButton("My file...", objectName="modelOwnFile")
        self.own_button.setToolTip("A single-file checkpoint (.safetensors/.ckpt) or a folder")
        self.lora_button = QPushButton("LoRA...", objectName="modelLora")
        self.lora_button.setToolTip("A LoRA file (.safetensors) for your own model")
        self.vae_combo = QComboBox(objectName="vaeCombo")
        for value, title, tip in AUTOENCODERS:
            self.vae_combo.addItem(title, value)
            self.vae_combo.setItemData(self.vae_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.size_combo = QComboBox(objectName="resolutionCombo")
        for width, height in RESOLUTIONS:
            self.size_combo.addItem(f"{width} x {height}", f"{width}x{height}")
        self.steps_spin = QSpinBox(objectName="stepsSpin")
        self.steps_spin.setRange(1, 8)
        self.steps_spin.setToolTip("Denoising steps per frame: more is sharper and slower")
        self.optimize_check = QCheckBox("Optimize for speed", objectName="optimizeCheck")
        self.optimize_check.setToolTip(
            "Compile the engine into one CUDA graph (NVIDIA GPUs): the first start takes a few "
            "minutes, later starts reuse the compiled kernels"
        )
        self.cpu_note = QLabel(objectName="cpuNote")
        self.cpu_note.setWordWrap(True)
        self.cpu_note.setProperty("role", "caption")
        self.use_test_button = QPushButton("Use the test model", objectName="useTestModel")

        for combo in (self.model_combo, self.vae_combo, self.size_combo):
            # The sidebar is narrow: long entries elide in the box, the list shows them whole.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(8)
        files = QHBoxLayout()
        files.addWidget(self.own_button)
        files.addWidget(self.lora_button)
        form = QFormLayout(self)
        form.addRow("Model", self.model_combo)
        form.addRow("", files)
        form.addRow("Autoencoder", self.vae_combo)
        form.addRow("Resolution", self.size_combo)
        form.addRow("Steps", self.steps_spin)
        form.addRow(self.optimize_check)
        form.addRow(self.cpu_note)
        form.addRow(self.use_test_button)
        self.set_cuda(has_cuda)
        self.set_choice(ModelChoice())

        for combo in (self.model_combo, self.vae_combo, self.size_combo):
            combo.activated.connect(self._emit)
        self.steps_spin.valueChanged.connect(self._emit)
        self.optimize_check.toggled.connect(self._emit)
        self.own_button.clicked.connect(self._choose_model_file)
        self.lora_button.clicked.connect(self._choose_lora)
        self.use_test_button.clicked.connect(self.use_test_model)
        self._lora = ""

    def set_cuda(self, has_cuda: bool) -> None:
        self.cpu_note.setText(
            ""
            if has_cuda
            else "No CUDA GPU found: a Stable Diffusion model takes minutes per frame on the "
            "processor. The test model at 256 x 256 runs here (it only blurs colours)."
        )
        self.cpu_note.setVisible(not has_cuda)
        self.use_test_button.setVisible(not has_cuda)

    def choice(self) -> ModelChoice:
        width, _, height = str(self.size_combo.currentData()).partition("x")
        return ModelChoice(
            str(self.model_combo.currentData()),
            self._lora,
            str(self.vae_combo.currentData()),
            int(width),
            int(height),
            self.steps_spin.value(),
            self.optimize_check.isChecked(),
        )

    def set_choice(self, choice: ModelChoice) -> None:
        """Show `choice` without emitting choiceChanged."""
        widgets = (
            self.model_combo, self.vae_combo, self.size_combo, self.steps_spin, self.optimize_check
        )  # fmt: skip
        for widget in widgets:
            widget.blockSignals(True)
        index = self.model_combo.findData(choice.model)
        if index < 0:
            self.model_combo.addItem(Path(choice.model).name or choice.model, choice.model)
            index = self.model_combo.count() - 1
            self.model_combo.setItemData(index, choice.model, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(index)
        self.vae_combo.setCurrentIndex(max(0, self.vae_combo.findData(choice.vae)))
        size = f"{choice.width}x{choice.height}"  # a string: Qt compares it as data
        if self.size_combo.findData(size) < 0:  # a size given on the command line
            self.size_combo.addItem(f"{choice.width} x {choice.height}", size)
        self.size_combo.setCurrentIndex(self.size_combo.findData(size))
        self.steps_spin.setValue(choice.steps)
        self.optimize_check.setChecked(choice.optimize)
        self._lora = choice.lora
        self.lora_button.setText(f"LoRA: {Path(choice.lora).name}" if choice.lora else "LoRA...")
        for widget in widgets:
            widget.blockSignals(False)

    def use_test_model(self) -> None:
        """The test model at the small size: what a machine without a GPU can run. With its
        own tiny autoencoder: TAESD's architecture with random weights would show only noise."""
        self.set_choice(ModelChoice(TEST_MODEL, "", "", *SMALL_RESOLUTION, steps=2))
        self._emit()

    def _emit(self, *_args: object) -> None:
        self.choiceChanged.emit(self.choice())

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a checkpoint", "", "Checkpoints (*.safetensors *.ckpt);;All (*)"
        )
        if path:
            self.set_choice(self._with(model=path))
            self._emit()

    def _choose_lora(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a LoRA", "", "LoRA (*.safetensors);;All (*)"
        )
        if path:
            self.set_choice(self._with(lora=path))
            self._emit()

    def _with(self, **changes: object) -> ModelChoice:
        return replace(self.choice(), **changes)  # type: ignore[arg-type]
