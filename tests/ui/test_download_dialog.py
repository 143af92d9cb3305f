"""First-run download dialog: progress, cancel and failure, with test-double downloaders."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QDialog

from live2diff_cam.app.presets import Preset
from live2diff_cam.ui.download_dialog import (
    DownloadCancelled,
    DownloadDialog,
    DownloadProgress,
    format_bytes,
    missing_models_downloader,
)

MB = 1024 * 1024


def test_progress_then_success(qtbot):
    release = threading.Event()

    def downloader(report, cancel):
        for done in (0, 10 * MB, 20 * MB):
            report(DownloadProgress(done, 40 * MB, "unet"))
        release.wait(5)
        report(DownloadProgress(40 * MB, 40 * MB, "unet"))

    dialog = DownloadDialog(downloader)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: "20.0 MB / 40.0 MB" in dialog.bytes_label.text())
    assert dialog.bar.value() == 500
    with qtbot.waitSignal(dialog.finished, timeout=5000) as blocker:
        release.set()
    assert blocker.args == [QDialog.DialogCode.Accepted.value]
    assert dialog.bar.value() == 1000


def test_cancel_stops_the_downloader(qtbot):
    stopped = threading.Event()

    def downloader(report, cancel):
        report(DownloadProgress(1 * MB, 0))
        while not cancel.wait(0.01):
            report(DownloadProgress(2 * MB, 0))
        stopped.set()
        raise DownloadCancelled

    dialog = DownloadDialog(downloader)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: "MB" in dialog.bytes_label.text())
    assert dialog.bar.maximum() == 0  # total unknown: a busy bar
    with qtbot.waitSignal(dialog.finished, timeout=5000) as blocker:
        dialog.buttons.rejected.emit()
    assert blocker.args == [QDialog.DialogCode.Rejected.value]
    assert stopped.is_set()
    assert dialog.error_message is None


def test_failure_stays_readable(qtbot):
    def downloader(report, cancel):
        raise OSError("disk full while writing unet.safetensors")

    dialog = DownloadDialog(downloader)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.error_message is not None)
    assert "disk full" in dialog.bytes_label.text()
    assert dialog.isVisible()  # the user reads it, then closes
    with qtbot.waitSignal(dialog.finished):
        dialog.buttons.rejected.emit()


def test_builtin_models_need_no_download():
    assert missing_models_downloader(Preset(name="t", model="tiny")) is None


def test_real_hub_download_fails_with_a_readable_message(qtbot, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    downloader = missing_models_downloader(Preset(name="x", model="someone/some-style-model"))
    assert downloader is not None
    dialog = DownloadDialog(downloader)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.error_message is not None, timeout=20000)
    assert "Traceback" not in dialog.error_message
    assert "could not be downloaded" in dialog.error_message


@pytest.mark.parametrize(
    ("count", "text"),
    [(512, "512 B"), (1536, "1.5 KB"), (3 * MB, "3.0 MB"), (2 * 1024 * MB, "2.0 GB")],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text
