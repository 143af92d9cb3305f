"""LiveSession with test doubles for source, engine and sinks: threads, modes, faults, stats.

The doubles live here (never in the package). Integration with the real tiny engine and the
real file sources/sinks is in test_run.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from live2diff_cam.app.capture_loop import RetryPolicy
from live2diff_cam.app.compose import PRIVACY, Composer, fit_image
from live2diff_cam.app.frames import Frame
from live2diff_cam.app.mailbox import Latest, MailboxClosed
from live2diff_cam.app.presets import Preset
from live2diff_cam.app.session import EngineRequest, LiveSession, Mode, SessionState
from live2diff_cam.errors import ModelLoadError, SourceError

H, W = 32, 48


def image_for(index: int, height: int = 24, width: int = 36) -> np.ndarray:
    return np.full((height, width, 3), index % 200 + 10, np.uint8)


class ListSource:
    """`count` frames (value = index), optionally paced at `fps`, optionally failing."""

    def __init__(self, count: int | None, fps: float | None = None, name: str = "test clip"):
        self.name = name
        self.count = count
        self.fps = fps
        self.index = 0
        self.opened = 0
        self.closed = 0
        self.fail_reads: set[int] = set()  # read() raises at these indices (once each)
        self.fail_opens = 0  # this many later opens raise
        self.stall_after: int | None = None  # read() stops returning (blocks) after this index
        self.thread_ids: set[int] = set()

    def __enter__(self) -> ListSource:
        self.thread_ids.add(threading.get_ident())
        if self.opened and self.fail_opens:
            self.fail_opens -= 1
            raise SourceError("camera 0 is busy: another app holds it")
        self.opened += 1
        self._next_ns = time.perf_counter_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed += 1

    def read(self) -> Frame:
        if self.count is not None and self.index >= self.count:
            raise EOFError
        if self.index in self.fail_reads:
            self.fail_reads.discard(self.index)
            raise SourceError("camera 0 was unplugged")
        if self.fps:
            self._next_ns += int(1e9 / self.fps)
            delay = (self._next_ns - time.perf_counter_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
        frame = Frame(image_for(self.index), time.perf_counter_ns(), self.index)
        self.index += 1
        return frame


class ListSink:
    def __init__(self, name: str = "list") -> None:
        self.name = name
        self.frames: list[Frame] = []
        self.entered = 0
        self.exited = 0
        self.fail = False

    def __enter__(self) -> ListSink:
        self.entered += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited += 1

    def write(self, frame: Frame) -> None:
        if self.fail:
            raise OSError("disk full")
        self.frames.append(frame)


class DelayEngine:
    """Pipelined like StreamEngine: returns the frame from `delay_frames` steps ago.

    Output value = the input's value + `offset` (so tests see which input made it), size
    (H, W). `sleep_s` makes it slow; `fail_on` indices (input values) raise; `gate` blocks.
    """

    def __init__(self, delay_frames: int = 1, sleep_s: float = 0.0) -> None:
        self.delay_frames = delay_frames
        self.sleep_s = sleep_s
        self.offset = 0
        self.queue: list[np.ndarray] = []
        self.waiting: list[np.ndarray] = []
        self.prompts: list[str] = []
        self.strengths: list[float] = []
        self.depth_scales: list[float] = []
        self.resets = 0
        self.fail_always = False
        self.fail_values: set[int] = set()
        self.gate: threading.Event | None = None
        self.thread_ids: set[int] = set()

    def step(self, frame: np.ndarray) -> np.ndarray | None:
        self.thread_ids.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait()
        if self.sleep_s:
            time.sleep(self.sleep_s)
        value = int(frame[0, 0, 0])
        if self.fail_always or value in self.fail_values:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        self.queue.append(np.full((H, W, 3), value + self.offset, np.uint8))
        if len(self.queue) > self.delay_frames:
            self.waiting.append(self.queue.pop(0))
        return self.waiting.pop(0) if self.waiting else None

    def pop_finished(self) -> np.ndarray | None:
        return self.waiting.pop(0) if self.waiting else None

    def flush(self) -> list[np.ndarray]:
        rest, self.queue = self.queue, []
        return rest

    def reset(self) -> None:
        self.resets += 1
        self.queue.clear()
        self.waiting.clear()

    def set_prompt(self, prompt: str) -> None:
        self.thread_ids.add(threading.get_ident())
        self.prompts.append(prompt)

    def set_strength(self, strength: float) -> None:
        self.strengths.append(strength)

    def set_depth_scale(self, scale: float) -> None:
        self.depth_scales.append(scale)


def factory_for(engine: DelayEngine, built: list | None = None):
    def factory(request: EngineRequest, depth_hook) -> DelayEngine:
        if built is not None:
            built.append(request)
        return engine

    return factory


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


REQUEST = EngineRequest(model="test", height=H, width=W)
FAST_RETRY = RetryPolicy(first_s=0.05, max_s=0.2, hold_last_s=0.3)


# -- mailbox ----------------------------------------------------------------------------------


def test_latest_overwrites_and_counts_drops():
    box: Latest[int] = Latest()
    box.put(1)
    box.put(2)
    box.put(3)
    assert box.take(0) == 3
    assert box.dropped == 2
    assert box.take(0.01) is None
    box.close()
    with pytest.raises(MailboxClosed):
        box.take(1)


def test_latest_put_wait_is_lossless_and_take_wakes_on_put():
    box: Latest[int] = Latest()
    got: list[int] = []

    def consumer() -> None:
        try:
            while True:
                item = box.take(2)
                if item is not None:
                    got.append(item)
                    time.sleep(0.001)
        except MailboxClosed:
            pass

    thread = threading.Thread(target=consumer)
    thread.start()
    for i in range(200):
        assert box.put_wait(i, 2)
    box.close()
    thread.join(5)
    assert got == list(range(200))
    assert box.dropped == 0


# -- offline: exactly one output per input, in order -------------------------------------------


def test_offline_gives_one_output_per_input_in_order():
    engine = DelayEngine(delay_frames=2)
    sink = ListSink()
    source = ListSource(25)
    session = LiveSession(
        source, [sink], request=REQUEST, engine_factory=factory_for(engine), offline=True
    )
    session.start()
    assert session.wait(20)
    session.stop()
    assert [f.index for f in sink.frames] == list(range(25))
    assert [int(f.image[0, 0, 0]) for f in sink.frames] == [i + 10 for i in range(25)]
    assert all(f.image.shape == (H, W, 3) for f in sink.frames)
    stamps = [f.timestamp_ns for f in sink.frames]
    assert stamps == sorted(stamps)
    assert session.fatal_error is None
    assert session.state is SessionState.STOPPED
    assert (sink.entered, sink.exited) == (1, 1)
    assert source.closed == 1
    # The source was opened on the capture thread, the engine ran on another one.
    assert threading.get_ident() not in source.thread_ids | engine.thread_ids


def test_offline_max_frames_and_bypass_needs_no_engine():
    built: list = []
    sink = ListSink()
    session = LiveSession(
        ListSource(50),
        [sink],
        request=REQUEST,
        engine_factory=factory_for(DelayEngine(), built),
        offline=True,
        max_frames=7,
        mode="bypass",
    )
    session.start()
    assert session.wait(10)
    session.stop()
    assert built == []  # bypass never loads a model
    assert [f.index for f in sink.frames] == list(range(7))
    # Bypass: the raw input, resized to the output size.
    assert sink.frames[3].image.shape == (H, W, 3)
    assert int(sink.frames[3].image[0, 0, 0]) == 13


def test_offline_bad_model_is_fatal_with_the_loader_message():
    def factory(request, hook):
        raise ModelLoadError("model 'nope' not found: not a file, folder or hub id")

    session = LiveSession(
        ListSource(5), [ListSink()], request=REQUEST, engine_factory=factory, offline=True
    )
    session.start()
    assert session.wait(10)
    session.stop()
    assert isinstance(session.fatal_error, ModelLoadError)
    assert str(session.fatal_error) == (
        "Could not load the model 'test': model 'nope' not found: not a file, folder or hub id."
    )


# -- live: latest-frame slots, modes, live parameters -------------------------------------------


def live_session(source, sink, engine, built: list | None = None, **kwargs) -> LiveSession:
    kwargs.setdefault("retry", FAST_RETRY)
    return LiveSession(
        source, [sink], request=REQUEST, engine_factory=factory_for(engine, built), **kwargs
    )


def test_live_states_callbacks_and_stylized_output():
    engine = DelayEngine(delay_frames=1)
    engine.offset = 100
    sink = ListSink()
    states: list[str] = []
    stats = []
    session = live_session(ListSource(None, fps=100), sink, engine, stats_interval_s=0.2)
    session.on_state(lambda state, message: states.append(state.value))
    session.on_stats(stats.append)
    session.start()
    wait_for(lambda: session.state is SessionState.STREAMING)
    wait_for(lambda: len(stats) >= 2)
    session.stop()
    assert states[:3] == ["loading", "warming up", "streaming"]
    assert states[-2:] == ["stopping", "stopped"]
    stylized = [f for f in sink.frames if int(f.image[0, 0, 0]) >= 110]
    assert stylized, "no engine output reached the sink"
    # Each stylized frame carries the capture time of the input that made it.
    assert all(int(f.image[0, 0, 0]) - 100 == f.index % 200 + 10 for f in stylized)
    last = stats[-1]
    assert last.delay_frames == 1
    assert last.input_fps > 20  # a 100 FPS source; loose so a loaded CI machine passes
    assert last.latency_p50_ms is not None and last.latency_p50_ms < 200
    assert last.engine_ms is not None
    assert last.gpu_memory_mb is None
    assert '"mode": "stylized"' in last.to_json()
    assert "latency p50" in last.format_line()


def test_modes_switch_live_and_bypass_works_while_the_engine_stalls():
    engine = DelayEngine(delay_frames=0)
    engine.offset = 100
    sink = ListSink()
    session = live_session(ListSource(None, fps=100), sink, engine)
    session.start()
    wait_for(lambda: session.state is SessionState.STREAMING)
    # The engine hangs (a stuck GPU call): stylized output stops ...
    engine.gate = threading.Event()
    time.sleep(0.2)
    # ... but bypass shows the raw input right away.
    session.set_mode(Mode.BYPASS)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) > mark + 5)
    raw = sink.frames[-1]
    assert int(raw.image[0, 0, 0]) == raw.index % 200 + 10
    assert raw.image.shape == (H, W, 3)
    # Privacy: the "Camera paused" card, never the input.
    session.set_mode("privacy")
    time.sleep(0.1)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) > mark + 5)
    card = Composer(H, W).card(PRIVACY)
    assert all(np.array_equal(f.image, card) for f in sink.frames[mark:])
    assert int(card.max()) > 24  # a picture with text, not a near-black square
    # Freeze: the frame shown last, held.
    session.set_mode(Mode.BYPASS)
    time.sleep(0.1)
    session.set_mode(Mode.FREEZE)
    time.sleep(0.1)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) > mark + 5)
    held = sink.frames[mark].image
    assert all(f.image is held for f in sink.frames[mark:])
    engine.gate.set()
    # Back to stylized: the engine restarts its stream (fresh cache) and outputs again.
    session.set_mode(Mode.STYLIZED)
    mark = len(sink.frames)
    wait_for(lambda: any(int(f.image[0, 0, 0]) >= 110 for f in sink.frames[mark:]))
    session.stop()
    assert engine.resets == 1


def test_parameters_change_live_on_the_engine_thread():
    engine = DelayEngine()
    preset = Preset(name="ink", model="test", prompt_template="{prompt}, ink drawing", strength=0.3)
    session = live_session(ListSource(None, fps=100), ListSink(), engine, preset=preset)
    assert session.request.prompt == "a person, ink drawing"
    assert session.request.strength == 0.3
    session.start()
    wait_for(lambda: session.state is SessionState.STREAMING)
    session.set_prompt("a cat")
    session.set_strength(0.8)
    session.set_depth_scale(0.5)
    wait_for(lambda: engine.depth_scales == [0.5])
    session.stop()
    assert engine.prompts == ["a cat, ink drawing"]
    assert engine.strengths == [0.8]
    assert session.request.prompt == "a cat, ink drawing"
    assert engine.thread_ids and threading.get_ident() not in engine.thread_ids


def test_a_preset_with_another_model_reloads_the_engine():
    built: list[EngineRequest] = []
    engine = DelayEngine()
    session = live_session(ListSource(None, fps=100), ListSink(), engine, built)
    session.start()
    wait_for(lambda: session.state is SessionState.STREAMING)
    session.set_preset(
        Preset(name="toon", model="other/model", prompt_template="{prompt}, toon", strength=0.6)
    )
    wait_for(lambda: len(built) == 2 and session.state is SessionState.STREAMING)
    session.stop()
    assert [r.model for r in built] == ["test", "other/model"]
    assert built[1].prompt == "a person, toon" and built[1].strength == 0.6


def test_fit_image_centre_crops_to_the_output_aspect():
    image = np.zeros((40, 100, 3), np.uint8)
    image[:, 30:70] = 255  # the centre 40x40 square
    out = fit_image(image, 20, 20)
    assert out.shape == (20, 20, 3)
    assert int(out.min()) == 255  # the black sides were cropped away


# -- faults, each with the message the user sees ---------------------------------------------------


def test_camera_unplugged_mid_stream_retries_and_comes_back():
    source = ListSource(None, fps=100, name="camera 0")
    source.fail_reads = {20}
    source.fail_opens = 2  # busy twice while it comes back
    sink = ListSink()
    errors: list[str] = []
    retry = RetryPolicy(first_s=0.05, max_s=0.2, hold_last_s=2.0)
    session = live_session(source, sink, DelayEngine(), mode="bypass", retry=retry)
    session.on_error(errors.append)
    session.start()
    wait_for(lambda: source.opened == 2 and source.index > 30)
    session.stop()
    assert errors == [
        "Lost the video source 'camera 0': camera 0 was unplugged. Retrying in 0.1 s; "
        "the outputs keep the last good frame meanwhile.",
        "Lost the video source 'camera 0': camera 0 is busy: another app holds it. "
        "Retrying in 0.1 s; the outputs keep the last good frame meanwhile.",
        "Lost the video source 'camera 0': camera 0 is busy: another app holds it. "
        "Retrying in 0.2 s; the outputs keep the last good frame meanwhile.",
        "The video source 'camera 0' is back.",
    ]
    assert source.closed == 2  # released on the fault and at the end
    # No 'no signal' card: the gap (0.35 s) was shorter than the hold
    # time (2 s): the last good frame stayed ...
    assert all(f.index >= 0 for f in sink.frames)
    # ... and the stream went on after it.
    assert sink.frames[-1].index > 25


def test_a_long_outage_shows_a_no_signal_card():
    source = ListSource(None, fps=100, name="camera 0")
    source.fail_reads = {5}
    source.fail_opens = 1000  # never comes back
    sink = ListSink()
    errors: list[str] = []
    session = live_session(source, sink, DelayEngine(), mode="bypass")
    session.on_error(errors.append)
    session.start()
    wait_for(lambda: any(f.index == -1 for f in sink.frames), timeout_s=5)
    assert session.stats().source_status == "retrying"
    session.stop()
    assert (
        "No signal from 'camera 0' for 0.3 s: the outputs show a 'No signal' card until it "
        "comes back. Check the cable, or close the app that holds the camera." in errors
    )
    card = next(f for f in sink.frames if f.index == -1).image
    assert card.shape == (H, W, 3)
    assert int(card.max()) > 24  # the text is drawn on the dark card
    # Until the card, the outputs kept the last good frame (no frame newer than index 4).
    before = sink.frames[: next(i for i, f in enumerate(sink.frames) if f.index == -1)]
    assert before[-1].index == 4


def test_source_that_cannot_open_fails_start_with_its_message():
    class Busy(ListSource):
        def __enter__(self):
            raise SourceError("camera 0 is busy: close the other app that uses it")

    sink = ListSink()
    session = live_session(Busy(None), sink, DelayEngine())
    with pytest.raises(SourceError, match=r"^camera 0 is busy: close the other app that uses it$"):
        session.start()
    assert (sink.entered, sink.exited) == (1, 1)  # nothing left open


def test_engine_error_on_one_frame_is_logged_and_the_stream_continues():
    engine = DelayEngine(delay_frames=0)
    engine.fail_values = {10 + 5}  # the frame with index 5
    sink = ListSink()
    errors: list[str] = []
    session = LiveSession(
        ListSource(12), [sink], request=REQUEST, engine_factory=factory_for(engine), offline=True
    )
    session.on_error(errors.append)
    session.start()
    assert session.wait(10)
    session.stop()
    assert errors == [
        "The engine failed on frame 5: CUDA error: an illegal memory access was encountered. "
        "The stream goes on with the last good output."
    ]
    assert session.stats().engine_errors == 1
    assert len(sink.frames) == 12  # still one output per input
    assert int(sink.frames[5].image[0, 0, 0]) == 14  # the last good output, repeated


def test_repeated_engine_errors_fall_back_to_bypass():
    engine = DelayEngine(delay_frames=0)
    engine.fail_always = True
    sink = ListSink()
    errors: list[str] = []
    session = live_session(ListSource(None, fps=200), sink, engine)
    session.on_error(errors.append)
    session.start()
    wait_for(lambda: session.state is SessionState.ERROR)
    mark = len(sink.frames)
    wait_for(lambda: len(sink.frames) > mark + 3)
    session.stop()
    assert session.mode is Mode.BYPASS
    assert errors[10] == (
        "The engine failed on 10 frames in a row, so the output switched to bypass (the raw "
        "input). Pick another preset or model, then switch back to stylized."
    )
    assert all(e.startswith("The engine failed on frame") for e in errors[:10])
    frame = sink.frames[-1]
    assert int(frame.image[0, 0, 0]) == frame.index % 200 + 10  # raw input


def test_model_that_fails_to_load_live_shows_the_input_with_a_message():
    def factory(request, hook):
        raise ModelLoadError("no file named unet/diffusion_pytorch_model.safetensors in ./m")

    states: list[tuple[str, str]] = []
    sink = ListSink()
    session = LiveSession(
        ListSource(None, fps=100), [sink], request=REQUEST, engine_factory=factory
    )
    session.on_state(lambda s, m: states.append((s.value, m)))
    session.start()
    wait_for(lambda: session.state is SessionState.ERROR and len(sink.frames) > 3)
    session.stop()
    assert (
        "error",
        "Could not load the model 'test': no file named unet/diffusion_pytorch_model.safetensors"
        " in ./m.",
    ) in states
    assert session.mode is Mode.BYPASS


def test_a_failing_sink_is_closed_and_the_others_go_on():
    bad, good = ListSink("recorder out.mp4"), ListSink("preview")
    bad.fail = True
    errors: list[str] = []
    session = LiveSession(
        ListSource(10),
        [bad, good],
        request=REQUEST,
        engine_factory=factory_for(DelayEngine()),
        offline=True,
    )
    session.on_error(errors.append)
    session.start()
    assert session.wait(10)
    session.stop()
    assert errors == [
        "The output 'recorder out.mp4' failed and was closed: disk full. The others go on."
    ]
    assert bad.exited == 1
    assert len(good.frames) == 10
    assert session.failed_sinks == errors  # `run` exits non-zero on these
    assert session.fatal_error is None


def test_when_the_only_sink_fails_the_stream_stops_with_why():
    only = ListSink("PNG folder out")
    source = ListSource(None, fps=200)  # endless: only the failure can end it
    session = LiveSession(
        source, [only], request=REQUEST, engine_factory=factory_for(DelayEngine()), offline=True
    )
    session.start()
    wait_for(lambda: len(only.frames) >= 3)
    only.fail = True
    assert session.wait(10)
    session.stop()
    assert str(session.fatal_error) == (
        "Every output failed, so the stream stopped; the last one: disk full."
    )
    assert only.exited == 1


class ClosingFails(ListSink):
    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        raise OSError("the file does not play")


def test_a_sink_that_cannot_finalise_counts_as_failed():
    sink = ClosingFails("recorder out.mp4")
    session = LiveSession(
        ListSource(5),
        [sink],
        request=REQUEST,
        engine_factory=factory_for(DelayEngine()),
        offline=True,
    )
    session.start()
    assert session.wait(10)
    session.stop()
    assert len(sink.frames) == 5
    assert session.failed_sinks == [
        "The output 'recorder out.mp4' failed and was closed: the file does not play. "
        "The others go on."
    ]


class OfflineListSource(ListSource):
    live = False  # a file or folder: what FileSource says


def test_an_offline_source_that_fails_ends_the_run_after_flushing_what_was_read():
    source = OfflineListSource(None)
    source.fail_reads = {6}
    sink = ListSink()
    session = LiveSession(
        source, [sink], request=REQUEST, engine_factory=factory_for(DelayEngine(2)), offline=True
    )
    session.start()
    assert session.wait(10)
    session.stop()
    # Six frames read, six out (two of them from the engine's flush), and no retry.
    assert [int(f.image[0, 0, 0]) - 10 for f in sink.frames] == list(range(6))
    assert source.opened == 1
    assert str(session.fatal_error) == (
        "Reading 'test clip' failed after 6 frames: camera 0 was unplugged. The frames read "
        "before were written; the run stopped."
    )


def test_finish_input_ends_an_endless_offline_stream_with_every_frame_read_written():
    source = ListSource(None, fps=200)
    sink = ListSink()
    session = LiveSession(
        source, [sink], request=REQUEST, engine_factory=factory_for(DelayEngine(2)), offline=True
    )
    session.start()
    wait_for(lambda: len(sink.frames) >= 3)
    session.finish_input()
    assert session.wait(10)
    session.stop()
    assert len(sink.frames) == source.index  # nothing read was lost in the engine
    assert session.fatal_error is None


def test_stop_while_streaming_joins_every_thread_and_releases_devices():
    source = ListSource(None, fps=100)
    sink = ListSink()
    before = set(threading.enumerate())
    session = live_session(source, sink, DelayEngine(sleep_s=0.02))
    session.start()
    wait_for(lambda: session.state is SessionState.STREAMING)
    session.stop(timeout_s=5)
    leftover = [t for t in threading.enumerate() if t not in before]
    assert leftover == []
    assert source.closed == source.opened == 1
    assert (sink.entered, sink.exited) == (1, 1)
    session.stop()  # idempotent


def test_source_and_sinks_change_while_streaming():
    first, second = ListSource(None, fps=100, name="camera 0"), ListSource(None, fps=100)
    second.index = 150  # its frames are told apart by value
    sink, extra = ListSink("main"), ListSink("extra")
    session = live_session(first, sink, DelayEngine(), mode="bypass")
    session.start()
    wait_for(lambda: len(sink.frames) > 5)
    session.set_source(second)
    session.add_sink(extra)
    wait_for(lambda: len(extra.frames) > 5 and second.index > 160)
    session.remove_sink("extra")
    wait_for(lambda: extra.exited == 1)
    count = len(extra.frames)
    time.sleep(0.1)
    session.stop()
    assert first.closed == 1 and second.opened == 1 and second.closed == 1
    assert int(sink.frames[-1].image[0, 0, 0]) >= 160  # the new source reached the sink
    assert len(extra.frames) == count  # nothing written after removal
    assert (extra.entered, extra.exited) == (1, 1)


def test_pause_holds_the_outputs():
    sink = ListSink()
    session = live_session(ListSource(None, fps=100), sink, DelayEngine(), mode="bypass")
    session.start()
    wait_for(lambda: len(sink.frames) > 3)
    session.set_paused(True)
    time.sleep(0.1)
    count = len(sink.frames)
    time.sleep(0.3)
    assert len(sink.frames) == count
    session.set_paused(False)
    wait_for(lambda: len(sink.frames) > count + 3)
    session.stop()
    assert session.paused is False
