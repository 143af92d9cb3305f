"""The messages the user sees when the live session hits a fault, worded in one place.

Each function returns one line that says what failed and what happens next or what to do; the
CLI prints it, the UI shows it in its banner, and tests assert it verbatim. `as_source_error` /
`as_engine_error` give an unexpected exception the part's error type with such a message. This
module knows nothing about threads, frames or devices.
"""

from __future__ import annotations

from live2diff_cam.errors import EngineError, Live2DiffError, SourceError


def _reason(error: BaseException | str) -> str:
    return str(error).rstrip(".") or type(error).__name__


def source_lost_message(name: str, error: BaseException | str, retry_s: float) -> str:
    return (
        f"Lost the video source '{name}': {_reason(error)}. Retrying in {retry_s:.1f} s; "
        "the outputs keep the last good frame meanwhile."
    )


def source_back_message(name: str) -> str:
    return f"The video source '{name}' is back."


def offline_source_failed_message(name: str, error: BaseException | str, frames: int) -> str:
    return (
        f"Reading '{name}' failed after {frames} frames: {_reason(error)}. The frames read "
        "before were written; the run stopped."
    )


def no_signal_message(name: str, silent_s: float) -> str:
    return (
        f"No signal from '{name}' for {silent_s:.1f} s: the outputs show a 'No signal' card "
        "until it comes back. Check the cable, or close the app that holds the camera."
    )


def frame_error_message(index: int, error: BaseException | str) -> str:
    return (
        f"The engine failed on frame {index}: {_reason(error)}. "
        "The stream goes on with the last good output."
    )


def engine_gave_up_message(errors: int, offline: bool) -> str:
    if offline:
        return (
            f"The engine failed on {errors} frames in a row; stopped. "
            "Run with --debug to see why, or try another --model or --device."
        )
    return (
        f"The engine failed on {errors} frames in a row, so the output switched to bypass "
        "(the raw input). Pick another preset or model, then switch back to stylized."
    )


def engine_load_message(model: str, error: BaseException | str) -> str:
    return f"Could not load the model '{model}': {_reason(error)}."


def sink_failed_message(name: object, error: BaseException | str) -> str:
    return f"The output '{name}' failed and was closed: {_reason(error)}. The others go on."


def no_sink_left_message(error: BaseException | str) -> str:
    return f"Every output failed, so the stream stopped; the last one: {_reason(error)}."


def command_failed_message(name: str, value: object, error: BaseException | str) -> str:
    return f"Could not apply {name} = {value!r}: {error}"


def as_source_error(error: BaseException, name: str) -> SourceError:
    """`error` from opening the source `name`, as the `SourceError` the caller of start() gets."""
    if isinstance(error, SourceError):
        return error
    return SourceError(f"Could not open '{name}': {error}.")


def as_engine_error(error: BaseException) -> Live2DiffError:
    """An unexpected failure of the engine thread (a bug, not a frame error), for the user."""
    if isinstance(error, Live2DiffError):
        return error
    return EngineError(f"The engine thread failed: {type(error).__name__}: {error}.")
