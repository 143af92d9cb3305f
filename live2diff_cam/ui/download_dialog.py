"""First-run model download: a dialog with real progress (bytes, speed, cancel) and its worker.

The download itself runs in a `QThread`; the dialog only shows the `DownloadProgress` reports it
relays. What is downloaded and how is the `Downloader`'s business (the app's model store and
huggingface_hub); this module knows only bytes, a cancel flag and a user-readable failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes fetched so far across everything the download needs; `total_bytes` 0 if unknown."""

    done_bytes: int
    total_bytes: int
    description: str = ""

    def __post_init__(self) -> None:
        if self.done_bytes < 0 or self.total_bytes < 0:
            raise ValueError("byte counts cannot be negative")


class DownloadCancelled(Exception):
    """Raised inside a downloader when the user pressed Cancel (checked between chunks)."""


# downloader(report, cancel): fetch everything, call report() as bytes arrive, stop by raising
# DownloadCancelled once `cancel` is set. Any other exception's message is shown to the user.
Downloader = Callable[[Callable[[DownloadProgress], None], threading.Event], None]


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


class DownloadWorker(QObject):
    """Runs a `Downloader` on its own thread and relays what happens as signals.

    Signals:
        progress(object): a `DownloadProgress`.
        succeeded(): everything is on disk.
        failed(str): a message for the user.
        cancelled(): the user cancelled and the downloader stopped.
    """

    progress = Signal(object)
    succeeded = Signal()
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, downloader: Downloader) -> None:
        super().__init__()
        self._downloader = downloader
        self.cancel_event = threading.Event()

    @Slot()
    def run(self) -> None:
        try:
            self._downloader(self.progress.emit, self.cancel_event)
        except DownloadCancelled:
            self.cancelled.emit()
        except Exception as error:  # every failure becomes a readable message
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.failed.emit(_readable(error))
        else:
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit()


def _readable(error: BaseException) -> str:
    """One complete message: the library's first line (its own advice dropped, so no sentence
    is said twice) and what the user can do instead."""
    text = str(error).strip() or type(error).__name__
    if type(error).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")) or (
        isinstance(error, OSError) and "connect" in text.lower()
    ):
        reason = text.splitlines()[0].removeprefix("Got: ").rstrip(".")
        return (
            f"The models could not be downloaded ({reason}). Connect to the internet (or set "
            "HTTPS_PROXY, or HF_ENDPOINT for a mirror) and try again, or use files you already "
            "have, or try the test model."
        )
    return text


_RUNNING: set[tuple[QThread, QObject]] = set()


def _keep_until_finished(thread: QThread, worker: QObject) -> None:
    """Hold references to a download thread and its worker until the thread has stopped."""
    entry = (thread, worker)
    _RUNNING.add(entry)
    thread.finished.connect(lambda: _RUNNING.discard(entry))


class DownloadDialog(QDialog):
    """Shows download progress: a bar, 'done / total', speed; Cancel stops the download.

    `exec()` returns Accepted when everything is downloaded, Rejected on cancel or failure;
    after a failure `error_message` holds what went wrong (also shown in the dialog).

    Signals:
        finished(int): QDialog's own; emitted once the worker's thread has stopped.
    """

    def __init__(
        self,
        downloader: Downloader,
        title: str = "Downloading models",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, objectName="downloadDialog")
        self.setWindowTitle(title)
        self.setModal(True)
        self.setMinimumWidth(420)
        self.error_message: str | None = None
        self._heading = QLabel(
            "The style's models are not on this computer yet. They are downloaded once."
        )
        self._heading.setWordWrap(True)
        self.bar = QProgressBar(objectName="downloadProgress")
        self.bar.setRange(0, 0)
        self.bytes_label = QLabel("Connecting...", objectName="downloadBytes")
        self.speed_label = QLabel("", objectName="downloadSpeed")
        self.speed_label.setProperty("role", "caption")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self._heading)
        layout.addWidget(self.bar)
        layout.addWidget(self.bytes_label)
        layout.addWidget(self.speed_label)
        layout.addWidget(self.buttons)
        self.buttons.rejected.connect(self._on_cancel)

        self._speed_mark: tuple[float, int] | None = None
        self._speed = 0.0
        self._outcome = QDialog.DialogCode.Rejected
        # No Qt parent: deleting the dialog (its window closing) must never delete a running
        # QThread, which aborts the process. The module keeps both alive until it stops.
        self._thread = QThread()
        self._worker = DownloadWorker(downloader)
        _keep_until_finished(self._thread, self._worker)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.succeeded.connect(self._on_succeeded)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        for signal in (self._worker.succeeded, self._worker.failed, self._worker.cancelled):
            signal.connect(self._thread.quit)
        self._thread.finished.connect(self._on_thread_finished)

    def showEvent(self, event: object) -> None:
        super().showEvent(event)  # type: ignore[arg-type]
        if not self._thread.isRunning() and not self._thread.isFinished():
            self._thread.start()

    @Slot(object)
    def _on_progress(self, report: DownloadProgress) -> None:
        now = time.monotonic()
        if self._speed_mark is None:
            self._speed_mark = (now, report.done_bytes)
        else:
            then, then_bytes = self._speed_mark
            if now - then >= 0.5:
                instant = (report.done_bytes - then_bytes) / (now - then)
                # Exponential smoothing: a readable speed, not a flickering one.
                self._speed = instant if self._speed == 0 else 0.7 * self._speed + 0.3 * instant
                self._speed_mark = (now, report.done_bytes)
        if report.total_bytes > 0:
            # Percent in the bar: QProgressBar holds an int, which multi-GB totals overflow.
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(report.done_bytes / report.total_bytes, 1.0)))
            amount = f"{format_bytes(report.done_bytes)} / {format_bytes(report.total_bytes)}"
        else:
            self.bar.setRange(0, 0)
            amount = format_bytes(report.done_bytes)
        if report.description:
            amount += f"  ({report.description})"
        self.bytes_label.setText(amount)
        self.speed_label.setText(f"{format_bytes(self._speed)}/s" if self._speed > 0 else "")

    def _on_cancel(self) -> None:
        if self._thread.isRunning():
            self._worker.cancel_event.set()
            self.bytes_label.setText("Cancelling...")
            self.buttons.setEnabled(False)
        else:
            self.reject()

    def _on_succeeded(self) -> None:
        self._outcome = QDialog.DialogCode.Accepted
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)

    def _on_failed(self, message: str) -> None:
        self.error_message = message
        self._heading.setText("Download failed.")
        # The bar stops: a busy animation next to a failure reads as "still trying".
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bytes_label.setText(message)
        self.bytes_label.setWordWrap(True)
        self.bytes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.speed_label.clear()
        self.adjustSize()  # the whole message, never clipped
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)
        self.buttons.setEnabled(True)

    def _on_cancelled(self) -> None:
        self._outcome = QDialog.DialogCode.Rejected

    def _on_thread_finished(self) -> None:
        # A failure stays on screen until the user closes it; success and cancel close at once.
        if self._outcome == QDialog.DialogCode.Accepted:
            self.accept()
        elif self.error_message is None:
            self.reject()

    def closeEvent(self, event: object) -> None:
        if self._thread.isRunning():
            self._worker.cancel_event.set()
            self._thread.quit()
            self._thread.wait()
        super().closeEvent(event)  # type: ignore[arg-type]

    def done(self, result: int) -> None:
        if self._thread.isRunning():
            self._worker.cancel_event.set()
            self._thread.quit()
            self._thread.wait()
        super().done(result)


# Models built in code: nothing to download.
BUILT_IN_MODELS = frozenset({"tiny", "sd15-random"})


@dataclass(frozen=True)
class NeededModel:
    """One download a choice of model needs: what, how big, from where, and whether it is in
    the cache already."""

    name: str
    repo_id: str
    description: str
    size: str
    cached: bool

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"


def _is_hub_id(name: str) -> bool:
    from pathlib import Path

    return name.count("/") == 1 and all(name.split("/")) and not Path(name).expanduser().exists()


def needed_models(
    model: str | None,
    lora: str | None = None,
    vae: str | None = None,
    depth_model: str | None = None,
    motion_module: str | None = None,
) -> list[NeededModel]:
    """Everything the engine fetches from the hub for this choice: the model and LoRA when they
    are hub ids, and for any Stable Diffusion model the LCM-LoRA and the Live2Diff motion
    module (unless `motion_module` names a local file), plus TAESD and the depth model when
    chosen. Built-ins and local files need none.
    Only looks at the cache: nothing is downloaded here."""
    from live2diff_cam.app import download
    from live2diff_cam.errors import ModelLoadError

    if not model or model in BUILT_IN_MODELS:
        return []
    names = [name for name in (model, lora) if name and _is_hub_id(name)]
    names.append("lcm-lora")
    if not motion_module:  # a local motion module file replaces the released one
        names.append("live2diff")
    if vae == "taesd":
        names.append("taesd")
    if depth_model and (depth_model == "depth" or _is_hub_id(depth_model)):
        names.append(depth_model)
    by_repo = {known.repo_id: known.name for known in download.KNOWN_MODELS.values()}
    needed = []
    for known in download.resolve([by_repo.get(name, name) for name in names]):
        try:
            download.fetch(known, local_only=True)
            cached = True
        except ModelLoadError:
            cached = False
        needed.append(NeededModel(known.name, known.repo_id, known.description, known.size, cached))
    return needed


def hub_cache_folder() -> str:
    """Where downloads go: the Hugging Face cache (HF_HOME / HF_HUB_CACHE move it)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def downloader_for(models: list[NeededModel]) -> Downloader | None:
    """A `Downloader` for those of `models` not cached yet; None when all are."""
    from live2diff_cam.app import download

    missing = [
        known
        for known in download.resolve([m.name for m in models if not m.cached])
        if known.name in {m.name for m in models}
    ]
    if not missing:
        return None

    def run(report: Callable[[DownloadProgress], None], cancel: threading.Event) -> None:
        import huggingface_hub

        bar_class = _progress_bar_class(report, cancel)
        for model in missing:
            patterns = list(model.files or model.allow_patterns)
            huggingface_hub.snapshot_download(
                model.repo_id, allow_patterns=patterns, tqdm_class=bar_class
            )

    return run


def missing_models_downloader(preset: object) -> Downloader | None:
    """A `Downloader` for what the preset's model needs and the cache lacks, or None when
    everything is cached (or built in)."""
    lora = getattr(preset, "lora", None)
    return downloader_for(needed_models(getattr(preset, "model", None), lora))


def _progress_bar_class(
    report: Callable[[DownloadProgress], None], cancel: threading.Event
) -> type:
    """A tqdm class for huggingface_hub that reports byte progress and stops on cancel."""
    import io

    from tqdm.std import tqdm

    byte_bars: list[tqdm] = []

    class _ReportingBar(tqdm):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["file"] = io.StringIO()  # no console output: the dialog shows progress
            kwargs["disable"] = False
            kwargs.pop("name", None)
            super().__init__(*args, **kwargs)
            if kwargs.get("unit") == "B":
                byte_bars.append(self)

        def update(self, n: float | None = 1) -> bool | None:
            if cancel.is_set():
                raise DownloadCancelled
            shown = super().update(n)
            if self in byte_bars:
                done = max(int(bar.n) for bar in byte_bars)
                total = max(int(bar.total or 0) for bar in byte_bars)
                report(DownloadProgress(done, max(total, done), "Hugging Face hub"))
            return shown

    return _ReportingBar
