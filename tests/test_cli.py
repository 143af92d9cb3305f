"""The `live2diff-cam` command line: help, bad input on every sub-command, no display."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from live2diff_cam import cli


def _run(*args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()):
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "live2diff_cam", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def _available(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


def _assert_one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_python_m_help_lists_every_command():
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    for name in cli.COMMANDS:
        assert name in result.stdout
    assert result.stdout.startswith("usage: live2diff-cam")


def test_unknown_command_is_one_line():
    result = _run("frobnicate")
    # Not a command name: argparse sees it as a stray argument of the default `gui`.
    assert result.returncode != 0
    line = _assert_one_clear_line(result.stderr)
    assert line.startswith("live2diff-cam")


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_unknown_option_exits_2_with_one_line(command, capsys):
    module_name = cli.COMMANDS[command][0]
    if not _available(module_name):
        pytest.skip(f"{module_name} is not written yet")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--no-such-option"])
    assert exit_info.value.code == 2
    line = _assert_one_clear_line(capsys.readouterr().err)
    # argparse names the first problem: the stray option, or a required flag (run --source).
    assert "unrecognized arguments: --no-such-option" in line or "are required" in line
    assert line.startswith("live2diff-cam") and "--help" in line


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_missing_file_is_one_line_without_traceback(command, tmp_path):
    """Every command that reads a file (--source / --config / --input) names the missing one."""
    module_name = cli.COMMANDS[command][0]
    if command == "gui" or not _available(module_name):
        pytest.skip("gui opens a window; or the command is not written yet")
    parser = cli.build_parser([command])
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices[command]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    path_flag = next(
        (f for f in ("--source", "--input", "--config", "--video") if f in flags), None
    )
    if path_flag is None:
        pytest.skip(f"`{command}` takes no input file")
    missing = tmp_path / "no-such-clip.mp4"
    extra = ["--model", "tiny"] if "--model" in flags else []
    if "--output" in flags:  # eval compares two videos: both missing here
        extra += ["--output", str(missing)]
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "QT_QPA_PLATFORM": "offscreen"}
    result = _run(command, path_flag, str(missing), *extra, env=env)
    assert result.returncode != 0
    line = _assert_one_clear_line(result.stderr)
    assert "error" in line.lower() and "no-such-clip.mp4" in line


def test_download_bad_model_is_one_line(capsys):
    assert cli.main(["download", "not a model"]) == 1
    line = _assert_one_clear_line(capsys.readouterr().err)
    assert line.startswith("live2diff-cam: error: unknown model 'not a model'")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is an X11/Wayland idea")
def test_no_command_without_a_display_says_so():
    if not _available("live2diff_cam.ui.launch"):
        pytest.skip("the gui command is not written yet")
    result = _run(drop=("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))
    assert result.returncode == 1
    line = _assert_one_clear_line(result.stderr)
    assert "no display" in line and "live2diff-cam run" in line
