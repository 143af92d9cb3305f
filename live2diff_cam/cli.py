"""`live2diff-cam` command line: one sub-command per module, each owning its own flags.

Every sub-command module exposes `add_arguments(parser)` and `main(args) -> int`; this file
only dispatches, turns a `Live2DiffError` into one readable line, and opens the GUI when no
sub-command is given. Modules are imported lazily so `doctor` works where torch or Qt is broken.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from live2diff_cam.errors import Live2DiffError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("live2diff_cam.ui.launch", "open the desktop window (the default)"),
    "run": ("live2diff_cam.app.run", "stream headless: source -> engine -> sinks"),
    "bench": ("live2diff_cam.app.bench", "measure engine FPS, latency and memory (JSON)"),
    "doctor": ("live2diff_cam.app.doctor", "check GPU, CUDA, depth runtime, virtual camera"),
    "download": ("live2diff_cam.app.download", "fetch models into the Hugging Face cache"),
    "devices": ("live2diff_cam.app.devices", "list cameras, monitors and windows"),
    "eval": ("live2diff_cam.app.evaluate", "temporal consistency (warp error) of an output video"),
    "export-depth": ("live2diff_cam.depth.export", "export a PyTorch depth model to ONNX"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line, never a usage dump on bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"live2diff-cam: error: {message} (see `{self.prog} --help`)\n")


def build_parser(load_commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="live2diff-cam", description="Real-time AI video styling as a webcam.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if load_commands is None or name in load_commands:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the chosen sub-command's module is imported: a broken optional dependency (Qt, say)
    # must not stop `doctor` from reporting it.
    chosen = next((a for a in argv if a in COMMANDS), None)
    if chosen is None and not any(a in ("-h", "--help") for a in argv):
        argv.append("gui")
        chosen = "gui"
    debug = "--debug" in argv
    try:
        parser = build_parser([chosen] if chosen else [])
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.main(args) or 0)
    except Live2DiffError as error:
        if debug:
            raise
        print(f"live2diff-cam: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except ImportError as error:
        if debug:
            raise
        print(
            f"live2diff-cam: error: a dependency is missing or broken: {error}. "
            "Run `live2diff-cam doctor` for the fix.",
            file=sys.stderr,
        )
        return 1


def gui_main() -> int:
    return main(["gui", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
