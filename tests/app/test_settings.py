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


def test_damaged_file_names_the_file_and_the_fix(config_home):
    config_home.mkdir()
    path = config_home / "settings.toml"
    path.write_text("strength = [\n")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(f"{path} is not valid TOML (")
    assert str(error.value).endswith("Fix it, or delete it to start from defaults.")
    path.write_text("strength = 1.5\n")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == (
        f"{path}: strength must be in [0, 1], got 1.5. Fix it, or delete the file."
    )


def test_values_are_validated():
    with pytest.raises(SettingsError, match=r"mode must be one of stylized, bypass"):
        Settings(mode="sepia")
    with pytest.raises(SettingsError, match="depth_scale must be >= 0"):
        Settings().with_changes(depth_scale=-1.0)


def test_default_location_is_the_platform_config_dir(monkeypatch):
    monkeypatch.delenv("LIVE2DIFF_CAM_CONFIG_DIR")
    from platformdirs import user_config_dir

    assert config_dir() == settings_module.Path(user_config_dir("live2diff-cam", appauthor=False))
