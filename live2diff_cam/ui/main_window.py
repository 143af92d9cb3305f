"""The main window: previews side by side, the control panel, status bar, shortcuts, tray.

Owns the layout and the user-facing behaviour (what closing does, where errors show, what is
remembered). It drives the stream only through `SessionBridge` and reads/writes remembered
values only through the app's `Settings`; it never imports the engine and never blocks on it.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
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
)
from live2diff_cam.ui.download_dialog import DownloadDialog, Downloader
from live2diff_cam.ui.previews import PreviewPump, PreviewWidget
from live2diff_cam.ui.tray import TrayController

# model check: preset -> a Downloader for what is missing, or None when all is on disk.
ModelCheck = Callable[[Preset], Downloader | None]

BANNER_CHARS = 240
SHUTDOWN_TIMEOUT_S = 60.0

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


class MainWindow(QMainWindow):
    """Input and output previews, source / preset / prompt / style controls, status bar.

    `presets`: name -> Preset in gallery order. `model_check` decides whether a preset's models
    must be downloaded first (None: never). `save_settings` is called with the window's
    app `Settings` on quit. `tray_available` overrides the platform's answer (tests).

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
        model_check: ModelCheck | None = None,
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
        self._model_check = model_check
        self._save_settings = save_settings
        self._quitting = False
        self._download: DownloadDialog | None = None
        self.last_error: str | None = None
        # Asked when closing while streaming and no tray exists; tests replace it.
        self.confirm_quit: Callable[[], bool] = self._ask_quit
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
        self.busy_indicator.setMaximumWidth(140)
        self.busy_indicator.setTextVisible(False)
        self.busy_indicator.hide()
        self.busy_label = QLabel(objectName="busyLabel")
        self.busy_label.setProperty("role", "caption")
        self.error_banner = QLabel(objectName="errorBanner")
        self.error_banner.setWordWrap(True)
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_close = QPushButton("Dismiss", objectName="errorDismiss")
        self.error_row = QWidget()
        self.error_row.hide()

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

        controls_row = QHBoxLayout()
        controls_row.addWidget(self.modes)
        controls_row.addStretch(1)
        controls_row.addWidget(self.busy_label)
        controls_row.addWidget(self.busy_indicator)
        controls_row.addWidget(self.transport)

        error_layout = QHBoxLayout(self.error_row)
        error_layout.setContentsMargins(0, 0, 0, 0)
        error_layout.addWidget(self.error_banner, 1)
        error_layout.addWidget(self.error_close)

        left = QVBoxLayout()
        left.setSpacing(10)
        left.addLayout(previews, 1)
        left.addWidget(self.error_row)
        left.addLayout(controls_row)

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
        scroll = QScrollArea()
        scroll.setWidget(side_content)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(340)

        central = QWidget()
        root = QHBoxLayout(central)
        root.setContentsMargins(12, 12, 12, 12)
        root.setSpacing(12)
        root.addLayout(left, 1)
        root.addWidget(scroll)
        self.setCentralWidget(central)

        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        bar.addWidget(self.state_label, 1)
        for label in (self.fps_label, self.latency_label, self.dropped_label, self.gpu_label):
            bar.addPermanentWidget(label)
        self.resize(1180, 680)

    def _connect(self) -> None:
        bridge = self.bridge
        self.style_controls.strengthChanged.connect(bridge.set_strength)
        self.style_controls.depthScaleChanged.connect(bridge.set_depth_scale)
        self.style_controls.seedChanged.connect(bridge.set_seed)
        self.prompts.promptChanged.connect(bridge.set_prompt)
        self.prompts.negativePromptChanged.connect(bridge.set_negative_prompt)
        self.source_picker.sourceChosen.connect(self._on_source)
        self.gallery.presetChosen.connect(self.choose_preset)
        self.modes.modeChosen.connect(self.set_mode)
        self.transport.startStopClicked.connect(self.toggle_streaming)
        self.transport.vcamToggled.connect(bridge.set_vcam)
        self.transport.recordToggled.connect(self._on_record)
        self.error_close.clicked.connect(self.dismiss_error)
        self.pump.failed.connect(self.show_error)

        bridge.stateChanged.connect(self._on_state)
        bridge.statsUpdated.connect(self._on_stats)
        bridge.errorOccurred.connect(self.show_error)
        bridge.runningChanged.connect(self._on_running)
        bridge.busyChanged.connect(self._on_busy)
        bridge.sinkFailed.connect(self._on_sink_failed)

        tray = self.tray
        tray.showRequested.connect(self.restore_from_tray)
        tray.startStopRequested.connect(self.toggle_streaming)
        tray.presetChosen.connect(self.choose_preset)
        tray.modeChosen.connect(self.set_mode)
        tray.quitRequested.connect(self.quit_app)

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
        self.style_controls.set_values(settings.strength, settings.depth_scale, settings.seed)
        self.bridge.strength = settings.strength
        self.bridge.depth_scale = settings.depth_scale
        self.bridge.seed = settings.seed
        self.set_mode(settings.mode)
        vcam = any(sink.split(":")[0] == "vcam" for sink in settings.sinks)
        self.transport.set_vcam(vcam)
        self.bridge.vcam_enabled = vcam

    def current_settings(self) -> Settings:
        """The app `Settings` as the window has them now (other fields kept as loaded)."""
        sinks = [s for s in self._settings.sinks if s.split(":")[0] != "vcam"]
        if self.transport.vcam_toggle.isChecked():
            vcam = [s for s in self._settings.sinks if s.split(":")[0] == "vcam"]
            sinks.insert(0, vcam[0] if vcam else "vcam")
        return self._settings.with_changes(
            preset=self.gallery.current_name() or self._settings.preset,
            source=self.bridge.source_spec,
            prompt=self.bridge.prompt,
            strength=self.style_controls.strength(),
            depth_scale=self.style_controls.depth_scale(),
            seed=self.style_controls.seed(),
            mode=self.modes.mode(),
            sinks=tuple(sinks),
            window_geometry=base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii"),
        )

    # -- actions -------------------------------------------------------------------------------

    def start_streaming(self) -> None:
        """Start, after downloading the preset's models if they are missing."""
        if self.bridge.running or self._download is not None:
            return
        self.dismiss_error()
        preset = self.bridge.preset
        downloader = None
        if preset is not None and self._model_check is not None:
            try:
                downloader = self._model_check(preset)
            except Exception as error:  # a readable message, not a crash
                self.show_error(str(error))
                return
        if downloader is None:
            self.bridge.start()
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
            self.bridge.start()
        elif error:
            self.show_error(error)

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

    def _on_source(self, spec: str) -> None:
        self.bridge.set_source(spec)

    def _on_record(self, on: bool) -> None:
        if on:
            folder = Path.home() / "Videos"
            folder = folder if folder.is_dir() else Path.home()
            path = folder / time.strftime("live2diff-%Y%m%d-%H%M%S.mp4")
            self.bridge.set_recording(str(path))
            self.state_label.setText(f"Recording to {path}")
        else:
            self.bridge.set_recording(None)

    # -- showing the session -------------------------------------------------------------------

    def show_error(self, message: str) -> None:
        """Show `message` in the banner, and as a tray notification when the window is hidden."""
        self.last_error = message
        # Long fixes (driver set-up lines) stay readable in the tooltip and the tray.
        short = message if len(message) <= BANNER_CHARS else message[:BANNER_CHARS] + "..."
        self.error_banner.setText(short)
        self.error_banner.setToolTip(message)
        self.error_row.show()
        self.state_label.setText(message.splitlines()[0] if message else "")
        if not self.isVisible():
            self.tray.notify("Live2Diff Camera", message, error=True)
        self.errorShown.emit(message)

    def _on_sink_failed(self, role: str) -> None:
        if role == "vcam":
            self.transport.set_vcam(False)
        else:
            self.transport.set_recording(False)

    def dismiss_error(self) -> None:
        self.error_row.hide()

    def _on_state(self, state: str, message: str) -> None:
        text = state.capitalize()
        if message and message != state:
            text += f": {message}"
        self.state_label.setText(text)
        self.busy_label.setText(
            {"loading": "Loading model", "warming up": "Warming up"}.get(
                state, "Starting" if state == "starting" else ""
            )
        )

    def _on_busy(self, busy: bool) -> None:
        self.busy_indicator.setVisible(busy)
        self.busy_label.setVisible(busy)

    def _on_running(self, running: bool) -> None:
        self.transport.set_running(running)
        self.tray.set_running(running)
        if not running:
            self.output_preview.clear()
            self.input_preview.clear()
            if self.isHidden() and not self._quitting:
                self.tray.notify("Live2Diff Camera", "Streaming stopped.")

    def _on_stats(self, stats: SessionStats) -> None:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f}"

        self.fps_label.setText(f"Output {stats.output_fps:.1f} fps")
        self.latency_label.setText(
            f"Latency {ms(stats.latency_p50_ms)} / {ms(stats.latency_p95_ms)} ms"
        )
        self.dropped_label.setText(f"Dropped {stats.dropped_frames}")
        gpu = "-" if stats.gpu_memory_mb is None else f"{stats.gpu_memory_mb:.0f} MB"
        self.gpu_label.setText(f"GPU {gpu}")

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
        # process at exit, so wait generously (the window is already gone).
        self.bridge.shutdown(timeout_s=SHUTDOWN_TIMEOUT_S)
        self.tray.dispose()
        self.quitting.emit()


def _decode_geometry(text: str) -> bytes:
    """Qt geometry bytes from the settings' base64 text; b"" when absent or damaged (a bad
    geometry only costs the window its old place, never the start)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True) if text else b""
    except (binascii.Error, UnicodeEncodeError):
        return b""
