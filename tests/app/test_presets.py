"""Presets as data: the built-in file parses, validates and renders prompts; user overrides."""

from __future__ import annotations

import pytest

from live2diff_cam.app.presets import (
    Preset,
    PresetError,
    builtin_presets,
    get_preset,
    load_presets,
    parse_presets,
)


def test_builtin_presets_are_valid_sd15_styles():
    presets = builtin_presets()
    assert len(presets) >= 5
    for preset in presets.values():
        assert "{prompt}" in preset.prompt_template
        assert "/" in preset.model  # a hub id: owner/name
        assert 0.0 < preset.strength < 1.0
    photo = presets["Photo"]
    assert photo.model == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert photo.render("a cat") == "a cat, photo, natural light, sharp focus, detailed"
    assert photo.render("  ") == "a person, photo, natural light, sharp focus, detailed"
    assert photo.loras == ()


def test_user_presets_override_builtins_and_add_new_ones(tmp_path):
    user = tmp_path / "presets.toml"
    user.write_text(
        '[[preset]]\nname = "Photo"\nmodel = "./my-model"\nstrength = 0.1\n\n'
        '[[preset]]\nname = "Weapons"\nmodel = "stable-diffusion-v1-5/stable-diffusion-v1-5"\n'
        'lora = "../shared/assets/sd15/lora/sd15_weapons_lora_rank4.safetensors"\n'
        'lora_scale = 0.8\nprompt_template = "{prompt}, holding a sword"\n'
    )
    presets = load_presets(user)
    assert presets["Photo"].model == "./my-model" and presets["Photo"].strength == 0.1
    weapons = presets["Weapons"]
    assert weapons.loras == (
        ("../shared/assets/sd15/lora/sd15_weapons_lora_rank4.safetensors", 0.8),
    )
    assert next(iter(presets)) == "Photo"  # order kept
    assert load_presets(tmp_path / "absent.toml") == builtin_presets()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[preset]]\nname = "A"\n',
            "<presets>, line 1: preset #1, field `model`: missing (every preset needs a name "
            "and a model).",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = "m"\nprompt_template = "no slot"\n',
            "<presets>, line 4: preset #1, field `prompt_template`: Preset 'A': prompt_template "
            "must contain {prompt} where the subject goes, got 'no slot'.",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = "m"\nstrength = 3\n',
            "<presets>, line 4: preset #1, field `strength`: Preset 'A': strength must be in "
            "[0, 1], got 3.0.",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = "m"\ncolour = "red"\n',
            "<presets>, line 4: preset #1, field `colour`: unknown key; allowed: name, model, "
            "prompt_template, negative_prompt, strength, lora, lora_scale, description.",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = 42\n',
            "<presets>, line 3: preset #1, field `model`: Input should be a valid string, got 42.",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = "m"\nstrength = "high"\n',
            "<presets>, line 4: preset #1, field `strength`: Input should be a valid number, "
            "got 'high'.",
        ),
        (
            '[[preset]]\nname = "A"\nmodel = "m"\n[[preset]]\nname = "A"\nmodel = "n"\n',
            "<presets>, line 4: two presets are named 'A'.",
        ),
        ("[[preset]\n", "<presets> is not valid TOML ("),
    ],
)
def test_malformed_presets_say_what_to_fix(text, message):
    with pytest.raises(PresetError) as error:
        parse_presets(text)
    assert str(error.value).startswith(message)


def test_a_bad_user_preset_is_skipped_with_file_line_and_field(tmp_path):
    user = tmp_path / "presets.toml"
    user.write_text(
        '[[preset]]\nname = "Broken"\nmodel = 42\n\n'
        '[[preset]]\nname = "Mine"\nmodel = "tiny"\nstrength = 0.3\n',
        encoding="utf-8",
    )
    problems: list[str] = []
    presets = load_presets(user, problems)
    assert presets["Mine"].strength == 0.3 and "Broken" not in presets
    assert presets.keys() >= builtin_presets().keys()
    assert problems == [
        f"{user}, line 3: preset #1, field `model`: Input should be a valid string, got 42. "
        "This preset was skipped."
    ]


def test_a_user_file_that_is_not_utf8_or_not_toml_is_ignored_with_a_message(tmp_path):
    user = tmp_path / "presets.toml"
    user.write_bytes('[[preset]]\nname = "Caf\u00e9"\nmodel = "tiny"\n'.encode("latin-1"))
    problems: list[str] = []
    assert load_presets(user, problems) == builtin_presets()
    assert problems == [
        f"{user}, line 2: not UTF-8 text (byte 0xe9); save it as UTF-8. Its presets were skipped."
    ]
    user.write_text("[[preset]\n", encoding="utf-8")
    problems.clear()
    assert load_presets(user, problems) == builtin_presets()
    assert problems[0].startswith(f"{user} is not valid TOML (")
    assert problems[0].endswith("Its presets were skipped.")


def test_unknown_preset_lists_the_known_ones():
    presets = {"A": Preset(name="A", model="m"), "B": Preset(name="B", model="m")}
    assert get_preset("B", presets).name == "B"
    with pytest.raises(PresetError, match=r"^Unknown preset 'C'\. Known presets: A, B\.$"):
        get_preset("C", presets)
