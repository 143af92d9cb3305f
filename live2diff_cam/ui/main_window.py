"""The main window: previews side by side, the control panel, status bar, shortcuts, tray.

Owns the layout and the user-facing behaviour (what closing does, where errors show, what is
remembered). It drives the stream only through `SessionBridge` and reads/writes remembered
values only through the app's `Settings`; it never imports the engine and never blocks on it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QRect, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QIcon,
    QKeySequence,
    QResizeEvent,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from live2diff_cam.app.presets import Preset
from live2diff_cam.app.settings import Settings
from live2diff_cam.app.stats import SessionStats
from live2diff_cam.ui import theme
from live2diff_cam.ui.bridge import SessionBridge
from live2diff_cam.ui.controls import (
    ModeButtons,
    PresetCard,
    PresetGallery,
    PromptPanel,
    SourcePicker,
    StyleControls,
    TransportBar,
    device_items,
)
from live2diff_cam.ui.download_dialog import DownloadDialog, NeededModel, downloader_for
from live2diff_cam.ui.first_run import FirstRunPage, OwnFiles
from live2diff_cam.ui.model_picker import (
    TEST_MODEL,
    ModelChoice,
    ModelPicker,
    cuda_present,
)
from live2diff_cam.ui.previews import PreviewPump, PreviewWidget
from live2diff_cam.ui.tray import TrayController
from live2diff_cam.ui.vcam_dialog import VcamStatus, VirtualCameraSetupDialog

# needs check: (model, lora, vae, depth model, motion module) -> the downloads that choice
# needs, each marked cached or not (`download_dialog.needed_models`); only looks at the cache.
NeedsCheck = Callable[[str, str | None, str | None, str | None, str | None], list[NeededModel]]
# device lister: () -> the report of `live2diff-cam devices` (`app.devices.collect`).
DeviceLister = Callable[[], dict]

SHUTDOWN_TIMEOUT_S = 60.0
MIN_WIDTH = 720  # the smallest window that still shows both previews and the sidebar
SIDEBAR_WIDTH = 320
MODE_STATUS = {
    "bypass": "Bypass: the output shows the input as it is",
    "freeze": "Freeze: the output holds the last frame",
    "privacy": "Privacy: the output shows a 'Camera paused' card",
}

SHORTCUTS: dict[str, str] = {
    "start_stop": "Ctrl+Return",
    "next_preset": "Ctrl+PgDown",
    "previous_preset": "Ctrl+PgUp",
    "show_hide": "Ctrl+H",
    "stylized": "Ctrl+1",
    "bypass": "Ctrl+2",
    "freeze": "Ctrl+3",
    "privacy": "Ctrl+4",
}


class WrappingRow(QWidget):
    """Two parts side by side, or one above the other when the row is too narrow for both, so
    a small window keeps every button visible instead of forcing its own width up."""

    def __init__(self, first: QWidget, second: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts = (first, second)
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(first, 1)
        self._layout.addWidget(second)

    def minimumSizeHint(self) -> QSize:
        first, second = (part.minimumSizeHint() for part in self._parts)
        return QSize(max(first.width(), second.width()), first.height() + second.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        needed = sum(part.sizeHint().width() for part in self._parts) + self._layout.spacing()
        direction = (
            QBoxLayout.Direction.LeftToRight
            if event.size().width() >= needed
            else QBoxLayout.Direction.TopToBottom
        )
        if self._layout.direction() != direction:
            self._layout.setDirection(direction)
        super().resizeEvent(event)


class MainWindow(QMainWindow):
    """Input and output previews, source / preset / prompt / style controls, status bar.

    `presets`: name -> Preset in gallery order. `needs_check` lists the downloads a model
    choice needs (None: nothing is ever downloaded); when some are missing, Start shows the
    set-up page, which asks before anything is downloaded. `first_run`: open on that page
    (nothing captured before the user chooses). `device_lister` fills the source drop-downs,
    `vcam_status` says whether a virtual camera is ready, `has_cuda` whether a CUDA GPU is
    there (None: ask the system). `save_settings` is called with the window's app `Settings`
    on quit. `tray_available` overrides the platform's answer (tests).

    Signals:
        settingsChanged(object): the app `Settings` to remember (emitted on quit).
        errorShown(str): an error message was shown to the user (banner and/or tray).
        quitting(): the window closes for good (stream stopped); the launcher ends the app.
    """

    settingsChanged = Signal(object)
    errorShown = Signal(str)
    quitting = Signal()

    def __init__(
        self,
        bridge: SessionBridge,
        presets: Mapping[str, Preset],
        settings: Settings | None = None,
        *,
        needs_check: NeedsCheck | None = None,
        first_run: bool = False,
        device_lister: DeviceLister | None = None,
        vcam_status: VcamStatus | None = None,
        has_cuda: bool | None = None,
        save_settings: Callable[[Settings], None] | None = None,
        tray_available: bool | None = None,
        icon: QIcon | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Live2Diff Camera")
        self.bridge = bridge
        bridge.setParent(self)
        self._presets = dict(presets)
        self._needs_check = needs_check
        self._device_lister = device_lister
        self._vcam_status = vcam_status
        self._has_cuda = cuda_present() if has_cuda is None else has_cuda
        self._save_settings = save_settings
        self._quitting = False
        self._download: DownloadDialog | None = None
        self._setup_done = not first_run
        self._record_started = 0.0
        self._fitted = False
        self.engine_still_running = False  # set on quit: an engine step outlived the wait
        self.last_error: str | None = None
        self.last_saved: tuple[str, int, float] | None = None
        # Asked when closing while streaming and no tray exists; tests replace them.
        self.confirm_quit: Callable[[], bool] = self._ask_quit
        self.choose_record_path: Callable[[str], str | None] = self._ask_record_path
        self.run_vcam_setup: Callable[[], bool] = self._open_vcam_setup
        icon = icon or theme.app_icon()
        self.setWindowIcon(icon)

        self._build_widgets()
        self._build_layout()
        self.tray = TrayController(icon, available=tray_available, parent=self)
        self.tray.set_presets([(n, p.name) for n, p in self._presets.items()])
        self._connect()
        self._build_shortcuts()
        self._settings = settings or Settings()
        self._restore(self._settings)
        self.refresh_devices()
        if first_run:
            self.show_setup()
        self.pump.start()

    # -- construction --------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.input_preview = PreviewWidget("Input", "No source yet", objectName="inputPreview")
        self.output_preview = PreviewWidget(
            "Output", "Press Start to stylize", objectName="outputPreview"
        )
        self.pump = PreviewPump(
            self.bridge.latest_frames, self.input_preview, self.output_preview, parent=self
        )
        self.source_picker = SourcePicker()
        self.model_picker = ModelPicker(self._has_cuda)
        self.setup_page = FirstRunPage()
        self.gallery = PresetGallery()
        self.gallery.set_presets(
            [PresetCard(n, p.name, p.description) for n, p in self._presets.items()]
        )
        self.prompts = PromptPanel()
        self.style_controls = StyleControls()
        self.modes = ModeButtons()
        self.transport = TransportBar()
        self.busy_indicator = QProgressBar(objectName="busyIndicator")
        self.busy_indicator.setRange(0, 0)
        self.busy_indicator.setMaximumWidth(220)
        self.busy_indicator.setTextVisible(False)
        self.busy_indicator.hide()
        self.busy_label = QLabel(objectName="busyLabel")
        self.busy_label.setProperty("role", "caption")
        self.record_label = QLabel(objectName="recordElapsed")
        self.record_label.hide()
        self.record_timer = QTimer(self, interval=500)
        # The whole message, wrapped: a fix cut in the middle is worse than a tall banner.
        self.error_banner = QLabel(objectName="errorBanner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_close = QPushButton("Dismiss", objectName="errorDismiss")
        self.error_row = QWidget()
        self.error_row.hide()
        self.info_banner = QLabel(objectName="infoBanner")
        self.info_banner.setWordWrap(True)
        self.info_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open folder", objectName="openFolder")
        self.info_close = QPushButton("Dismiss", objectName="infoDismiss")
        self.info_row = QWidget()
        self.info_row.hide()

        self.state_label = QLabel("Idle", objectName="stateLabel")
        self.fps_label = QLabel("Output - fps", objectName="fpsLabel")
        self.latency_label = QLabel("Latency - ms", objectName="latencyLabel")
        self.dropped_label = QLabel("Dropped 0", objectName="droppedLabel")
        self.gpu_label = QLabel("GPU -", objectName="gpuLabel")

    def _build_layout(self) -> None:
        previews = QHBoxLayout()
        previews.setSpacing(10)
        previews.addWidget(self.input_preview, 1)
        previews.addWidget(self.output_preview, 1)

        status_part = QWidget()
        status_row = QHBoxLayout(status_part)
        status_row.setContentsMargins(0, 0, 0, 0)
        status_row.addWidget(self.modes)
        status_row.addStretch(1)
        transport_part = QWidget()
        transport_row = QHBoxLayout(transport_part)
        transport_row.setContentsMargins(0, 0, 0, 0)
        transport_row.addStretch(1)
        transport_row.addWidget(self.record_label)
        transport_row.addWidget(self.transport)
        self.controls_row = WrappingRow(status_part, transport_part)
        # Loading / warm-up progress on its own line: long texts never squeeze the buttons.
        self.busy_row = QWidget(objectName="busyRow")
        busy_layout = QHBoxLayout(self.busy_row)
        busy_layout.setContentsMargins(0, 0, 0, 0)
        busy_layout.addWidget(self.busy_label, 1)
        busy_layout.addWidget(self.busy_indicator)
        self.busy_row.hide()

        error_layout = QHBoxLayout(self.error_row)
        error_layout.setContentsMargins(0, 0, 0, 0)
        error_layout.addWidget(self.error_banner, 1)
        error_layout.addWidget(self.error_close, 0, Qt.AlignmentFlag.AlignTop)
        info_layout = QHBoxLayout(self.info_row)
        info_layout.setContentsMargins(0, 0, 0, 0)
        info_layout.addWidget(self.info_banner, 1)
        info_layout.addWidget(self.open_folder_button, 0, Qt.AlignmentFlag.AlignTop)
        info_layout.addWidget(self.info_close, 0, Qt.AlignmentFlag.AlignTop)

        left = QVBoxLayout()
        left.setSpacing(10)
        left.addLayout(previews, 1)
        left.addWidget(self.error_row)
        left.addWidget(self.info_row)
        left.addWidget(self.busy_row)
        left.addWidget(self.controls_row)

        presets_box = QGroupBox("Presets")
        QVBoxLayout(presets_box).addWidget(self.gallery)
        side_content = QWidget()
        side = QVBoxLayout(side_content)
        side.setContentsMargins(0, 0, 4, 0)
        side.setSpacing(10)
        side.addWidget(self.source_picker)
        side.addWidget(presets_box, 1)
        side.addWidget(self.prompts)
        side.addWidget(self.style_controls)
        side.addWidget(self.model_picker)
        scroll = QScrollArea()
        scroll.setWidget(side_content)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Never narrower than its content: a clipped slider value or combo is unreadable.
        scrollbar = scroll.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        scroll.setMinimumWidth(side_content.minimumSizeHint().width() + scrollbar + 4)
        scroll.setMaximumWidth(max(SIDEBAR_WIDTH, scroll.minimumWidth()))
        self.sidebar = scroll

        studio = QWidget(objectName="studioPage")
        root = QHBoxLayout(studio)
        root.setContentsMargins(12, 12, 12, 12)
        root.setSpacing(12)
        root.addLayout(left, 1)
        root.addWidget(scroll)
        self.studio = studio
        self.pages = QStackedWidget()
        self.pages.addWidget(studio)
        self.pages.addWidget(self.setup_page)
        self.setCentralWidget(self.pages)

        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        bar.addWidget(self.state_label, 1)
        for label in (self.fps_label, self.latency_label, self.dropped_label, self.gpu_label):
            bar.addPermanentWidget(label)
        self.setMinimumWidth(MIN_WIDTH)
        self.resize(1180, 680)

    def _connect(self) -> None:
        bridge = self.bridge
        self.style_controls.strengthChanged.connect(bridge.set_strength)
        self.style_controls.depthScaleChanged.connect(bridge.set_depth_scale)
        self.style_controls.seedChanged.connect(bridge.set_seed)
        self.prompts.promptChanged.connect(bridge.set_prompt)
        self.prompts.negativePromptChanged.connect(bridge.set_negative_prompt)
        self.source_picker.sourceChosen.connect(self._on_source)
        self.source_picker.problemFound.connect(self.show_error)
        self.source_picker.refreshRequested.connect(self.refresh_devices)
        self.model_picker.choiceChanged.connect(self.apply_model_choice)
        self.setup_page.downloadRequested.connect(self._download_needed)
        self.setup_page.testModelRequested.connect(self.use_test_model)
        self.setup_page.ownFilesChosen.connect(self.use_own_files)
        self.gallery.presetChosen.connect(self.choose_preset)
        self.modes.modeChosen.connect(self.set_mode)
        self.transport.startStopClicked.connect(self.toggle_streaming)
        self.transport.vcamToggled.connect(self._on_vcam)
        self.transport.recordToggled.connect(self._on_record)
        self.error_close.clicked.connect(self.dismiss_error)
        self.info_close.clicked.connect(self.info_row.hide)
        self.open_folder_button.clicked.connect(self.open_recording_folder)
        self.record_timer.timeout.connect(self._show_record_time)
        self.pump.failed.connect(self.show_error)

        bridge.stateChanged.connect(self._on_state)
        bridge.statsUpdated.connect(self._on_stats)
        bridge.errorOccurred.connect(self.show_error)
        bridge.runningChanged.connect(self._on_running)
        bridge.busyChanged.connect(self._on_busy)
        bridge.sinkFailed.connect(self._on_sink_failed)
        bridge.recordingSaved.connect(self._on_recording_saved)

        tray = self.tray
        tray.showRequested.connect(self.restore_from_tray)
        tray.startStopRequested.connect(self.toggle_streaming)
        tray.presetChosen.connect(self.choose_preset)
        tray.modeChosen.connect(self.set_mode)
        tray.quitRequested.connect(self.quit_app)
        tray.alwaysShownChanged.connect(self._keep_tray_icon)

    def _build_shortcuts(self) -> None:
        actions: dict[str, Callable[[], None]] = {
            "start_stop": self.toggle_streaming,
            "next_preset": lambda: self.gallery.step(+1),
            "previous_preset": lambda: self.gallery.step(-1),
            "show_hide": self.toggle_visible,
            **{mode: (lambda m=mode: self.set_mode(m)) for mode in self.modes.buttons},
        }
        self.shortcuts: dict[str, QShortcut] = {}
        for name, keys in SHORTCUTS.items():
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
            shortcut.activated.connect(actions[name])
            self.shortcuts[name] = shortcut
        self.transport.start_button.setToolTip(f"Start / stop ({SHORTCUTS['start_stop']})")
        for mode, button in self.modes.buttons.items():
            button.setToolTip(f"{button.text()} ({SHORTCUTS[mode]})")
        self.gallery.setToolTip(
            f"Next / previous: {SHORTCUTS['next_preset']} / {SHORTCUTS['previous_preset']}"
        )

    # -- settings ------------------------------------------------------------------------------

    def _restore(self, settings: Settings) -> None:
        geometry = _decode_geometry(settings.window_geometry)
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        names = self.gallery.names()
        preset = settings.preset if settings.preset in self._presets else (names or [""])[0]
        choice = _choice_from(settings)
        self.model_picker.set_choice(choice)
        self.bridge.options = _options_with(self.bridge.options, choice)
        if preset:
            self.gallery.select(preset)
            self.bridge.set_preset(self._presets[preset])
            self.tray.set_current_preset(preset)
            self.prompts.set_prompts(settings.prompt, self._presets[preset].negative_prompt)
        else:
            self.prompts.set_prompts(settings.prompt, "")
        if settings.source:
            self.source_picker.set_spec(settings.source)
        self.bridge.source_spec = settings.source or self.source_picker.spec()
        self.bridge.prompt = settings.prompt
        # Before the first set-up the slider shows the preset's own strength, not a default.
        strength = settings.strength if settings.setup_done or not preset else self.bridge.strength
        self.style_controls.set_values(strength, settings.depth_scale, settings.seed)
        self.bridge.strength = strength
        self.bridge.depth_scale = settings.depth_scale
        self.bridge.seed = settings.seed
        self.set_mode(settings.mode)
        # The virtual camera starts off where no backend is ready: pressing it explains why.
        vcam = any(sink.split(":")[0] == "vcam" for sink in settings.sinks) and self._vcam_ready()
        self.transport.set_vcam(vcam)
        self.bridge.vcam_enabled = vcam
        self.tray.always_action.setChecked(settings.tray_always)
        if settings.tray_always:
            self.tray.set_visible(True)

    def current_settings(self) -> Settings:
        """The app `Settings` as the window has them now (other fields kept as loaded). The
        source is the last one that worked: one that failed to open is not remembered."""
        sinks = [s for s in self._settings.sinks if s.split(":")[0] != "vcam"]
        if self.transport.vcam_toggle.isChecked():
            vcam = [s for s in self._settings.sinks if s.split(":")[0] == "vcam"]
            sinks.insert(0, vcam[0] if vcam else "vcam")
        choice = self.model_picker.choice()
        return self._settings.with_changes(
            preset=self.gallery.current_name() or self._settings.preset,
            source=self.bridge.working_source or self._settings.source,
            prompt=self.bridge.prompt,
            strength=self.style_controls.strength(),
            depth_scale=self.style_controls.depth_scale(),
            seed=self.style_controls.seed(),
            mode=self.modes.mode(),
            sinks=tuple(sinks),
            window_geometry=base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii"),
            model=choice.model,
            lora=choice.lora,
            vae=choice.vae,
            resolution=f"{choice.width}x{choice.height}",
            steps=choice.steps,
            optimize_for_speed=choice.optimize,
            setup_done=self._setup_done,
            tray_always=self.tray.always_action.isChecked(),
        )

    # -- set-up: models before anything runs -----------------------------------------------------

    def needed_downloads(self) -> list[NeededModel]:
        """What the current model choice still has to download (nothing for built-ins)."""
        if self._needs_check is None:
            return []
        options = self.bridge.options
        preset = self.bridge.preset
        model = options.model or (preset.model if preset is not None else TEST_MODEL)
        lora = options.lora if options.model else (preset.lora if preset is not None else None)
        needs = self._needs_check(
            model, lora, options.vae, options.depth_model, options.motion_module
        )
        return [need for need in needs if not need.cached]

    def show_setup(self) -> None:
        """The set-up page, with what the current choice needs; nothing is started."""
        preset = self.bridge.preset
        style = preset.name if preset is not None else "the chosen model"
        try:
            needs = self.needed_downloads()
        except Exception as error:  # a broken cache must not hide the page's other routes
            needs = []
            self.show_error(str(error))
        from live2diff_cam.ui.download_dialog import hub_cache_folder

        self.setup_page.set_needs(style, needs, hub_cache_folder(), self._has_cuda)
        self.pages.setCurrentWidget(self.setup_page)

    def show_studio(self) -> None:
        self.pages.setCurrentWidget(self.studio)

    def _download_needed(self) -> None:
        """The user agreed on the set-up page: download, then start."""
        if self._download is not None:
            return
        downloader = downloader_for(self.needed_downloads())
        if downloader is None:
            self._finish_setup()
            return
        self._download = DownloadDialog(downloader, parent=self)
        self._download.finished.connect(self._on_download_finished)
        self._download.open()

    def _on_download_finished(self, result: int) -> None:
        dialog, self._download = self._download, None
        if dialog is None:
            return
        error = dialog.error_message
        dialog.deleteLater()
        if result == DownloadDialog.DialogCode.Accepted:
            self._finish_setup()
        elif error:
            self.setup_page.show_failure(error)

    def use_test_model(self) -> None:
        """The built-in test model (no download); small without a GPU. Then start."""
        if self._has_cuda:
            choice = dataclasses.replace(
                self.model_picker.choice(), model=TEST_MODEL, lora="", vae=""
            )  # its own tiny autoencoder: a random-weight TAESD would show only noise
            self.model_picker.set_choice(choice)
            self.apply_model_choice(choice)
        else:
            self.model_picker.use_test_model()
        self._finish_setup()

    def use_own_files(self, files: OwnFiles) -> None:
        """Model files already on this computer instead of downloads. Then start."""
        choice = dataclasses.replace(self.model_picker.choice(), model=files.model, lora=files.lora)
        self.model_picker.set_choice(choice)
        self.bridge.set_options(
            dataclasses.replace(
                _options_with(self.bridge.options, choice),
                motion_module=files.motion_module or None,
                depth_model=files.depth_model or None,
            )
        )
        self._finish_setup()

    def _finish_setup(self) -> None:
        self._setup_done = True
        self.show_studio()
        self.start_streaming()

    def apply_model_choice(self, choice: ModelChoice) -> None:
        """New model / autoencoder / size / steps: a running stream restarts with them."""
        self.bridge.set_options(_options_with(self.bridge.options, choice))

    # -- devices -------------------------------------------------------------------------------

    def refresh_devices(self) -> None:
        """Fill the source drop-downs from the same lists as `live2diff-cam devices`."""
        if self._device_lister is None:
            return
        try:
            report = self._device_lister()
        except Exception as error:  # a broken lister costs the drop-downs, not the window
            self.show_error(f"Could not list the devices: {error}")
            return
        self.source_picker.set_devices(device_items(report))

    def _vcam_ready(self) -> bool:
        if self._vcam_status is None:
            return True
        try:
            return bool(self._vcam_status()[0])
        except Exception:
            return False

    def _on_vcam(self, on: bool) -> None:
        if on and not self._vcam_ready():
            self.transport.set_vcam(False)
            if not self.run_vcam_setup():
                return
            self.transport.set_vcam(True)
        self.bridge.set_vcam(on)

    def _open_vcam_setup(self) -> bool:
        assert self._vcam_status is not None
        dialog = VirtualCameraSetupDialog(self._vcam_status, self)
        return dialog.exec() == VirtualCameraSetupDialog.DialogCode.Accepted

    # -- actions -------------------------------------------------------------------------------

    def start_streaming(self) -> None:
        """Start; when the model choice needs downloads, show the set-up page instead (the
        user decides: nothing is downloaded unasked)."""
        if self.bridge.running or self._download is not None:
            return
        self.dismiss_error()
        try:
            missing = self.needed_downloads()
        except Exception as error:  # a readable message, not a crash
            self.show_error(str(error))
            return
        if missing or not self._setup_done:
            self.show_setup()
            return
        self.show_studio()
        self.bridge.start()

    def stop_streaming(self) -> None:
        self.bridge.stop()

    def toggle_streaming(self) -> None:
        if self.bridge.running:
            self.stop_streaming()
        else:
            self.start_streaming()

    def choose_preset(self, name: str) -> None:
        preset = self._presets.get(name)
        if preset is None:
            self.show_error(f"Unknown preset '{name}'.")
            return
        self.gallery.select(name)
        self.tray.set_current_preset(name)
        self.bridge.set_preset(preset)
        self.style_controls.set_values(
            self.bridge.strength, self.style_controls.depth_scale(), self.style_controls.seed()
        )
        if preset.negative_prompt != self.prompts.negative_edit.text():
            self.prompts.set_prompts(self.prompts.prompt_edit.text(), preset.negative_prompt)

    def set_mode(self, mode: str) -> None:
        self.modes.set_mode(mode)
        self.tray.set_mode(mode)
        self.bridge.set_mode(mode)
        if self.bridge.running:
            self._show_status(self.bridge.state, "")

    def _on_source(self, spec: str) -> None:
        self.bridge.set_source(spec)

    # -- recording -----------------------------------------------------------------------------

    def _on_record(self, on: bool) -> None:
        if not on:
            self.bridge.set_recording(None)
            self.record_timer.stop()
            self.record_label.hide()
            return
        path = self.choose_record_path(_default_record_path())
        if not path:
            self.transport.set_recording(False)
            return
        self.bridge.set_recording(path)
        self._record_started = time.monotonic()
        self._show_record_time()
        self.record_label.show()
        self.record_timer.start()

    def _ask_record_path(self, default: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Record to", default, "Video (*.mp4 *.mkv *.avi);;All (*)"
        )
        return path or None

    def _show_record_time(self) -> None:
        elapsed = time.monotonic() - self._record_started
        self.record_label.setText(f"REC {_mmss(elapsed)}")

    def _on_recording_saved(self, path: str, frames: int, seconds: float) -> None:
        self.record_timer.stop()
        self.record_label.hide()
        self.transport.set_recording(False)
        self.last_saved = (path, frames, seconds)
        if frames == 0:
            self.info_banner.setText("Nothing was recorded: no frame came out while recording.")
            self.open_folder_button.hide()
        else:
            self.info_banner.setText(f"Saved {path} ({frames} frames, {_mmss(seconds)})")
            self.open_folder_button.show()
        self.info_row.show()

    def open_recording_folder(self) -> None:
        if self.last_saved is not None:
            folder = Path(self.last_saved[0]).parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- showing the session -------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show `message` in the banner, and as a tray notification when the window is hidden."""
        self.last_error = message
        self.error_banner.setText(message)
        self.error_banner.setToolTip(message)
        self.error_row.show()
        self.state_label.setText(message.splitlines()[0] if message else "")
        self.state_label.setToolTip(message)
        if not self.isVisible():
            self.tray.notify("Live2Diff Camera", message, error=True)
        self.errorShown.emit(message)

    def _on_sink_failed(self, role: str) -> None:
        if role == "vcam":
            self.transport.set_vcam(False)
        else:
            self.transport.set_recording(False)
            self.record_timer.stop()
            self.record_label.hide()

    def dismiss_error(self) -> None:
        self.error_row.hide()

    def _on_state(self, state: str, message: str) -> None:
        self._show_status(state, message)
        if state != "warming up":
            self.busy_label.setText(
                {"loading": "Loading model"}.get(state, "Starting" if state == "starting" else "")
            )

    def _show_status(self, state: str, message: str) -> None:
        """The status line follows the mode: in privacy nothing says 'stylized frames'."""
        mode = self.modes.mode()
        if mode in MODE_STATUS and state in ("streaming", "warming up", "loading", "error"):
            text = MODE_STATUS[mode]
        else:
            text = state.capitalize()
            if message and message != state:
                text += f": {message}"
        self.state_label.setText(text)
        self.state_label.setToolTip(text)

    def _on_busy(self, busy: bool) -> None:
        self.busy_row.setVisible(busy)
        self.busy_indicator.setVisible(busy)
        self.busy_label.setVisible(busy)
        if not busy:
            self.busy_indicator.setRange(0, 0)

    def _on_running(self, running: bool) -> None:
        self.transport.set_running(running)
        self.tray.set_running(running)
        if not running:
            self.output_preview.clear()
            self.input_preview.clear()
            self.reset_figures()
            if self.isHidden() and not self._quitting:
                self.tray.notify("Live2Diff Camera", "Streaming stopped.")

    def reset_figures(self) -> None:
        """No stream, no figures: what a stopped stream measured is not shown as current."""
        self.fps_label.setText("Output - fps")
        self.latency_label.setText("Latency - ms")
        self.dropped_label.setText("Dropped 0")
        self.gpu_label.setText("GPU -")

    def _on_stats(self, stats: SessionStats) -> None:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        self.fps_label.setText(f"Output {stats.output_fps:.1f} fps")
        self.latency_label.setText(
            f"Latency {ms(stats.latency_p50_ms)} / {ms(stats.latency_p95_ms)} ms"
        )
        self.latency_label.setToolTip(
            "Capture to output of stylized frames, median / 95th percentile"
        )
        self.dropped_label.setText(f"Dropped {stats.dropped_frames}")
        if stats.gpu_memory_mb is not None:
            self.gpu_label.setText(f"GPU {stats.gpu_memory_mb:.0f} MB")
        elif stats.compute == "cpu":
            self.gpu_label.setText("CPU")
        else:
            self.gpu_label.setText("GPU -")
        if stats.state == "warming up" and stats.warmup_total:
            done = min(stats.warmup_done, stats.warmup_total)
            self.busy_indicator.setRange(0, stats.warmup_total)
            self.busy_indicator.setValue(done)
            if done >= stats.warmup_total - 1:
                # The last warm-up frame runs the whole window through the model at once: by
                # far the longest step, so no per-frame estimate would be honest.
                self.busy_label.setText(
                    f"Warming up {done}/{stats.warmup_total} frames: preparing the stream "
                    "(the longest step)"
                )
                return
            eta = stats.warmup_eta_s()
            left = "" if eta is None else f", about {_mmss(eta)} until the last step"
            self.busy_label.setText(f"Warming up {done}/{stats.warmup_total} frames{left}")

    # -- window, tray, quit --------------------------------------------------------------------

    def hide_to_tray(self) -> bool:
        """Hide the window and keep streaming in the tray; False where there is no tray."""
        if not self.tray.available:
            return False
        self.tray.set_visible(True)
        self.hide()
        self.pump.stop()  # nobody sees the previews: save the painting
        self.tray.notify("Live2Diff Camera", "Still streaming. Use the tray icon to come back.")
        return True

    def _keep_tray_icon(self, always: bool) -> None:
        """The tray icon from now on and at every start (the setting); unticking it takes
        effect at the next start, so an icon the window is hidden behind never vanishes."""
        if always:
            self.tray.set_visible(True)

    def restore_from_tray(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self.pump.start()

    def toggle_visible(self) -> None:
        if self.isVisible() and not self.isMinimized():
            if not self.hide_to_tray():
                self.showMinimized()
        else:
            self.restore_from_tray()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            screen = self.screen()
            if screen is not None:
                fit_to_screen(self, screen.availableGeometry())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if (
            event.type() == QEvent.Type.WindowStateChange
            and self.isMinimized()
            and self.bridge.running
            and self.tray.available
        ):
            # Deferred: hiding inside the state-change handler confuses some window managers.
            QTimer.singleShot(0, self.hide_to_tray)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._quitting or not self.bridge.running:
            self._finish_quit()
            event.accept()
            return
        if self.hide_to_tray():
            event.ignore()
            return
        if self.confirm_quit():
            self._finish_quit()
            event.accept()
        else:
            event.ignore()

    def _ask_quit(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Quit Live2Diff Camera?",
            "Streaming is on and this desktop has no system tray to keep it running in.\n"
            "Stop streaming and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def quit_app(self) -> None:
        """Stop streaming, remember settings and close for good (then `quitting` is emitted)."""
        self._quitting = True
        self.close()

    def _finish_quit(self) -> None:
        if getattr(self, "_finished", False):
            return
        self._finished = True
        self.pump.stop()
        settings = self.current_settings()
        self.settingsChanged.emit(settings)
        if self._save_settings is not None:
            try:
                self._save_settings(settings)
            except Exception as error:  # quitting must not fail on a settings file
                self.show_error(f"Settings could not be saved: {error}")
        self.hide()
        # An engine step in flight finishes first: a thread killed inside torch aborts the
        # process at exit, so wait generously (the window is already gone). If it is still
        # running after that, the launcher ends the process without interpreter shutdown.
        self.engine_still_running = not self.bridge.shutdown(timeout_s=SHUTDOWN_TIMEOUT_S)
        self.tray.dispose()
        self.quitting.emit()


def _mmss(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _default_record_path() -> str:
    folder = Path.home() / "Videos"
    folder = folder if folder.is_dir() else Path.home()
    return str(folder / time.strftime("live2diff-%Y%m%d-%H%M%S.mp4"))


def _choice_from(settings: Settings) -> ModelChoice:
    """The model choice the settings remember; the defaults where it is not offered."""
    width, _, height = settings.resolution.partition("x")
    try:
        return ModelChoice(
            settings.model,
            settings.lora,
            settings.vae,
            int(width),
            int(height),
            settings.steps,
            settings.optimize_for_speed,
        )
    except ValueError:
        return ModelChoice(
            settings.model, settings.lora, settings.vae, optimize=settings.optimize_for_speed
        )


def _options_with(options: object, choice: ModelChoice) -> object:
    """`StreamOptions` with the window's model choice ("" model: the preset's)."""
    return dataclasses.replace(
        options,  # type: ignore[type-var]
        model=choice.model or None,
        lora=choice.lora or None,
        vae=choice.vae or None,
        width=choice.width,
        height=choice.height,
        steps=choice.steps,
        compile=None if choice.optimize else False,  # None: on where there is a CUDA GPU
    )


def fit_to_screen(window: QWidget, available: QRect) -> None:
    """Resize and move `window` so its frame lies inside `available` (the screen minus task
    bars), at any scale factor: a window larger than the screen is half unreachable."""
    frame_extra_w = window.frameGeometry().width() - window.width()
    frame_extra_h = window.frameGeometry().height() - window.height()
    width = min(window.width(), available.width() - max(frame_extra_w, 0))
    height = min(window.height(), available.height() - max(frame_extra_h, 0))
    window.resize(max(width, window.minimumWidth()), max(height, window.minimumHeight()))
    frame = window.frameGeometry()
    x = min(max(frame.x(), available.left()), available.right() + 1 - frame.width())
    y = min(max(frame.y(), available.top()), available.bottom() + 1 - frame.height())
    window.move(max(x, available.left()), max(y, available.top()))


def _decode_geometry(text: str) -> bytes:
    """Qt geometry bytes from the settings' base64 text; b"" when absent or damaged (a bad
    geometry only costs the window its old place, never the start)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True) if text else b""
    except (binascii.Error, UnicodeEncodeError):
        return b""
