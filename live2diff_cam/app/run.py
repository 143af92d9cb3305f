"""`live2diff-cam run`: stream headless, source -> engine -> sinks, with stats once a second.

Owns the flags and their mapping onto a `LiveSession` (one flag, one field). A file source (a
video or a folder of images) runs offline: every input frame gives exactly one output frame, in
order, as fast as the engine goes. A live source (camera, screen, window) runs through the
session's latest-frame slots. This module knows nothing about threads or devices itself.

    live2diff-cam run --source clip.mp4 --sink out.mp4 --sink frames/ --model tiny --height 64
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from live2diff_cam.app.control.host import SessionHost
from live2diff_cam.app.control.serve import add_port_argument, chosen_port, serve_control
from live2diff_cam.app.engine_build import EngineRequest
from live2diff_cam.app.hub import Mode
from live2diff_cam.app.presets import Preset, get_preset, load_presets
from live2diff_cam.app.session import LiveSession
from live2diff_cam.app.settings import user_presets_path
from live2diff_cam.app.stats import SessionStats
from live2diff_cam.app.stop_signals import StopRequest, stop_on_signals
from live2diff_cam.app.validate import check_engine_request, check_paths
from live2diff_cam.errors import Live2DiffError, SourceError

log = logging.getLogger(__name__)

# On a stop signal an offline run finishes the frames it already read for at most this long.
FLUSH_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="video file, folder of images, or a live spec: camera:0, screen, window:TITLE",
    )
    parser.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="PATH",
        help="output (repeatable): a video file (.mp4/.mkv/.avi/.mov), a folder (ends in / or "
        "exists) for one PNG per frame, or vcam for the virtual camera",
    )
    parser.add_argument("--preset", help="style preset by name (see the GUI's gallery)")
    parser.add_argument(
        "--model", help="tiny | sd15-random | hub id | diffusers folder | .safetensors file"
    )
    parser.add_argument("--prompt", help="the subject; the preset's template wraps it")
    parser.add_argument("--height", type=int, default=512, help="output height (default 512)")
    parser.add_argument("--width", type=int, default=512, help="output width (default 512)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps (default 2)")
    parser.add_argument(
        "--strength", type=float, help="0 = the input, 1 = the style (default: the preset's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--frames", type=int, help="stop after N input frames")
    parser.add_argument(
        "--loop",
        action="store_true",
        help="start a video file or image folder again at its end (until --frames or Ctrl-C)",
    )
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="denoise each frame fully before the next (same frames, slower)",
    )
    parser.add_argument("--device", default="auto", help="cuda | cpu | auto (default)")
    parser.add_argument(
        "--dtype", default="auto", help="float16 | bfloat16 | float32 | auto (default)"
    )
    parser.add_argument(
        "--motion-module",
        help="Live2Diff motion-module checkpoint (file or hub id; default: the released "
        "Leoxing/Live2Diff for real models), or none",
    )
    parser.add_argument(
        "--vae",
        default="taesd",
        help="taesd (default: the fast tiny autoencoder, as live work needs), full (the "
        "model's own VAE: better detail, ~5x the autoencoder FLOPs), or a VAE hub id / folder",
    )
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument(
        "--compile",
        dest="compile",
        action="store_true",
        default=None,
        help="optimize for speed: one compiled stream step, CUDA graphs on CUDA (default on "
        "CUDA; the first start compiles for minutes, later starts reuse the cache)",
    )
    speed.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="FILE[:SCALE]",
        help="LoRA file, folder or hub id fused at SCALE (default 1.0); repeatable",
    )
    parser.add_argument(
        "--depth-model",
        default="auto",
        help="depth model for structure conditioning: ONNX file, hub id, none; auto (default): "
        "Depth-Anything-V2-Small for real models, none for tiny and sd15-random",
    )
    parser.add_argument("--depth-scale", type=float, default=1.0, help="depth weight (default 1)")
    parser.add_argument(
        "--save-depth", type=Path, metavar="DIR", help="write one depth PNG per frame into DIR"
    )
    parser.add_argument(
        "--mode",
        default=Mode.STYLIZED.value,
        choices=[m.value for m in Mode],
        help="what the outputs show (default stylized)",
    )
    parser.add_argument(
        "--stats-json", action="store_true", help="print stats as one JSON object per line"
    )
    add_port_argument(parser)


def build_request(args: argparse.Namespace, preset: Preset | None) -> EngineRequest:
    """The engine request for the flags; flags override the preset's values."""
    model = args.model or (preset.model if preset else "tiny")
    name = str(args.depth_model)
    depth: str | None = name
    if name.lower() == "auto":
        from live2diff_cam.depth import DEFAULT_DEPTH_MODEL

        depth = None if model in ("tiny", "sd15-random") else DEFAULT_DEPTH_MODEL
    elif name.lower() == "none":
        depth = None
    if args.steps < 1:
        raise SourceError(f"--steps must be at least 1, got {args.steps}.")
    strength = args.strength if args.strength is not None else (preset.strength if preset else 0.5)
    loras = tuple(parse_lora(spec) for spec in args.lora)
    if not loras and preset and model == preset.model:
        loras = preset.loras  # a LoRA belongs to the preset's model; another --model drops it
    return EngineRequest(
        model=model,
        lora=loras,
        motion_module=args.motion_module,
        vae=None if args.vae == "full" else args.vae,
        compile=args.compile,
        height=args.height,
        width=args.width,
        steps=args.steps,
        strength=strength,
        seed=args.seed,
        prompt=preset.render(args.prompt or "") if preset else (args.prompt or ""),
        negative_prompt=preset.negative_prompt if preset else "",
        device=args.device,
        dtype=args.dtype,
        pipeline=not args.no_pipeline,
        depth_model=depth,
        depth_scale=args.depth_scale,
    )


def parse_lora(spec: str) -> tuple[str, float]:
    """`FILE[:SCALE]` -> (FILE, SCALE); a Windows drive letter is not a scale."""
    path, sep, scale = spec.rpartition(":")
    if sep and len(path) > 1 and re.fullmatch(r"[0-9]*\.?[0-9]+", scale):
        return path, float(scale)
    return spec, 1.0


def is_offline(source: object) -> bool:
    """A video file or a folder of images: processed frame by frame, nothing dropped."""
    return getattr(source, "kind", None) in ("video", "folder")


class DepthWriter:
    """Saves each depth map the engine computes as `depth_000000.png`, ... in a folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, depth: object) -> None:
        from live2diff_cam.depth import save_depth_png

        with self._lock:
            for one in depth:  # type: ignore[attr-defined]
                save_depth_png(one, self.folder / f"depth_{self.count:06d}.png")
                self.count += 1


def main(args: argparse.Namespace) -> int:
    from live2diff_cam.app import sinks as sink_specs
    from live2diff_cam.app.sources import parse_source_spec

    # 1. Everything that can be checked before a sink opens, so a run that cannot work fails
    #    at once and touches no file.
    presets = load_presets(user_presets_path())
    preset = get_preset(args.preset, presets) if args.preset else None
    request = build_request(args, preset)
    if args.frames is not None and args.frames < 1:
        raise SourceError(f"--frames must be at least 1, got {args.frames}.")
    if args.save_depth is not None and request.depth_model is None:
        raise SourceError("--save-depth needs a depth model: add --depth-model FILE_OR_HUB_ID.")
    source = parse_source_spec(args.source, loop=args.loop)
    offline = is_offline(source)
    # Through the package attribute, so a test can wrap every sink.
    sinks = [sink_specs.parse_sink_spec(spec) for spec in args.sink]
    check_paths(source, sinks, args.save_depth)
    if args.mode == Mode.STYLIZED.value:
        check_engine_request(request)  # bypass and the others never load the model
    depth_writer = DepthWriter(args.save_depth) if args.save_depth is not None else None

    port = chosen_port(args.control_port)

    # 2. The session: the engine loads on its own thread; stats come once a second. The host
    # holds it so the control API (if on) can stop it and start a new one.
    def make_session(request: EngineRequest, mode: Mode) -> LiveSession:
        session = LiveSession(
            source,
            sinks,
            # The request already holds the preset's values under the flags; the session must
            # not apply the preset again (that would override the flags and wrap the prompt
            # twice).
            request=request,
            mode=mode,
            offline=offline,
            max_frames=args.frames,
            depth_callback=depth_writer,
        )
        session.on_stats(_printer(args.stats_json))
        return session

    host = SessionHost(
        make_session, request, presets, preset=args.preset, prompt=args.prompt or "", mode=args.mode
    )
    with stop_on_signals(lambda stop: _on_repeated_signal(host.session, stop)) as stop:
        host.start()
        control = serve_control(host, port)
        try:
            if not args.sink:
                log.warning("no --sink given: frames are computed and dropped (stats only)")
            if not offline and sys.stdin is not None and sys.stdin.isatty():
                start_mode_keys(host)
            try:
                while not host.wait(0.2) and not stop.requested:
                    continue  # short waits keep the stop request responsive
            except KeyboardInterrupt:  # raised by a handler installed before ours
                stop.request(signal.SIGINT)
            running = host.session
            if stop.requested and offline and running is not None:
                # The frames already read still get their outputs, as at the end of the file;
                # a second signal (or a stuck engine) cuts this short.
                running.finish_input()
                deadline = time.monotonic() + FLUSH_TIMEOUT_S
                while not running.wait(0.2) and stop.count < 2 and time.monotonic() < deadline:
                    continue
        finally:
            if control is not None:
                control.close()
        host.stop()
        wait_for_workers()
    session = host.session
    assert session is not None, "the host started a session above"

    # 3. The outcome.
    final = session.stats()
    failures = session.failed_sinks
    if stop.requested:
        what = f"stopped by {stop.description} after {final.frames_out} frames"
        if failures:
            print(f"live2diff-cam: {what}; {_failures_line(failures)}", file=sys.stderr)
        else:
            print(
                f"live2diff-cam: {what}; every output was closed and is complete.",
                file=sys.stderr,
            )
        return stop.exit_code
    if session.fatal_error is not None:
        raise session.fatal_error
    if args.stats_json:
        print(final.to_json(), flush=True)
    summary = f"{final.frames_out} frames from {final.frames_in} inputs"
    if final.engine_errors:
        summary += f", {final.engine_errors} engine errors (see the log)"
    if depth_writer is not None:
        summary += f", {depth_writer.count} depth maps in {depth_writer.folder}"
    if failures:
        print(f"live2diff-cam: error: {_failures_line(failures)} ({summary}).", file=sys.stderr)
        return 1
    print(f"live2diff-cam: done: {summary}.", file=sys.stderr)
    return 0


def _failures_line(failures: list[str]) -> str:
    more = f" (and {len(failures) - 1} more failed outputs)" if len(failures) > 1 else ""
    return failures[0].rstrip(".") + more


def _on_repeated_signal(session: LiveSession | None, stop: StopRequest) -> None:
    """A second stop signal while the run is stopping: the outputs are being closed; once
    they are, only a worker finishing a long step (a model load) is left, so exit at once."""
    if session is None or session.wait(0):
        print(
            f"live2diff-cam: stopped by {stop.description}; the outputs were already closed "
            "and are complete.",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        # Skips the wait for the worker, which would otherwise outlive the interpreter.
        os._exit(stop.exit_code)
    print(
        "live2diff-cam: already stopping: closing the outputs now so they play...",
        file=sys.stderr,
        flush=True,
    )


def wait_for_workers() -> None:
    """Join every session thread still running (one finishing a slow model load, say): a
    Python thread inside PyTorch at interpreter exit aborts the process."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and thread.name.startswith("l2d-") and thread.daemon:
            if thread.name == "l2d-mode-keys":
                continue  # blocked reading the terminal; holds nothing
            if thread.is_alive():
                print(
                    f"live2diff-cam: waiting for {thread.name} to finish its current step...",
                    file=sys.stderr,
                    flush=True,
                )
            thread.join()


MODE_KEYS = {mode.value[0]: mode for mode in Mode}  # s, b, f, p


def start_mode_keys(session: SessionHost | LiveSession) -> threading.Thread:
    """Switch modes from the terminal while streaming: s / b / f / p then Enter."""
    print(
        "live2diff-cam: type s (stylized), b (bypass), f (freeze) or p (privacy) + Enter",
        file=sys.stderr,
    )

    def read_keys() -> None:
        for line in sys.stdin:
            mode = MODE_KEYS.get(line.strip().lower()[:1])
            if mode is not None:
                session.set_mode(mode)
                print(f"live2diff-cam: mode {mode.value}", file=sys.stderr)

    thread = threading.Thread(target=read_keys, name="l2d-mode-keys", daemon=True)
    thread.start()
    return thread


def _printer(as_json: bool) -> Callable[[SessionStats], None]:
    def show(stats: SessionStats) -> None:
        print(stats.to_json() if as_json else stats.format_line(), flush=True)

    return show


__all__ = ["Live2DiffError", "add_arguments", "build_request", "main"]
