"""Settings: TOML in the user config dir, defaults when missing, clear errors when damaged."""

from __future__ import annotations

import pytest

from live2diff_cam.app import settings as settings_module
from live2diff_cam.app.settings import (
    Settings,
    SettingsError,
    config_dir,
    load_settings,
    save_settings,
    settings_path,
)


@pytest.fixture(autouse=True)
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVE2DIFF_CAM_CONFIG_DIR", str(tmp_path / "cfg"))
    return tmp_path / "cfg"


def test_missing_file_gives_defaults(config_home):
    assert settings_path() == config_home / "settings.toml"
    assert load_settings() == Settings()
    assert Settings().mode == "stylized" and Settings().sinks == ("vcam",)


def test_round_trip_remembers_the_last_session(config_home):
    remembered = Settings().with_changes(
        preset="Origami",
        source="window:Firefox",
        strength=0.75,
        depth_scale=0.4,
        seed=1234,
        prompt="a cat",
        mode="privacy",
        sinks=("vcam", "rec.mp4"),
        window_geometry="AdnQywADAAAAAAB4AAAAcg==",
    )
    path = save_settings(remembered)
    assert path == config_home / "settings.toml"
    assert 'preset = "Origami"' in path.read_text()
    assert load_settings() == remembered
    assert not list(config_home.glob("*.tmp"))  # written atomically


def test_unknown_keys_are_ignored_and_missing_ones_default(config_home):
    config_home.mkdir()
    (config_home / "settings.toml").write_text('strength = 0.2\nfuture_option = "x"\n')
    assert load_settings() == Settings(strength=0.2)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"strength = [\n", "not valid TOML (Invalid value (at end of document))"),
        (b"strength = 1.5\n", "line 1, field `strength`: strength must be in [0, 1], got 1.5"),
        (b'mode = "x"\nsinks = 5\n', "line 2, field `sinks`: Input should be a valid tuple, got 5"),
        (b'seed = "7"\n', "line 1, field `seed`: Input should be a valid integer, got '7'"),
        ('prompt = "caf\u00e9"\n'.encode("latin-1"), "line 1: not UTF-8 text (byte 0xe9)"),
    ],
)
def test_a_damaged_file_is_moved_aside_and_named_with_line_and_field(config_home, content, problem):
    config_home.mkdir()
    path = config_home / "settings.toml"
    path.write_bytes(content)
    with pytest.raises(SettingsError) as error:
        load_settings()
    (aside,) = config_home.glob("settings.toml.bad-*")
    assert str(error.value) == (
        f"{path}: {problem}. It was moved to {aside.name}; starting from the defaults."
    )
    assert aside.read_bytes() == content  # kept for the user, never overwritten
    assert not path.exists()
    assert load_settings() == Settings()
    save_settings(Settings(seed=3))
    assert aside.read_bytes() == content


def test_values_are_validated():
    with pytest.raises(SettingsError, match=r"mode must be one of stylized, bypass"):
        Settings(mode="sepia")
    with pytest.raises(SettingsError, match="depth_scale must be >= 0"):
        Settings().with_changes(depth_scale=-1.0)


def test_default_location_is_the_platform_config_dir(monkeypatch):
    monkeypatch.delenv("LIVE2DIFF_CAM_CONFIG_DIR")
    from platformdirs import user_config_dir

    assert config_dir() == settings_module.Path(user_config_dir("live2diff-cam", appauthor=False))
