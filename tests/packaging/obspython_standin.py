"""A stand-in for OBS's `obspython` module: the calls packaging/obs/live2diff_camera.py makes,
recorded in plain Python objects so tests can click buttons and press hotkeys.

Data objects are dicts, data arrays are lists, properties are `Property` records. Only what
OBS documents for these calls is modelled (defaults, ids, bindings saved as arrays).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

OBS_TEXT_DEFAULT, OBS_TEXT_PASSWORD, OBS_TEXT_MULTILINE, OBS_TEXT_INFO = 0, 1, 2, 3
OBS_COMBO_TYPE_LIST = 2
OBS_COMBO_FORMAT_STRING = 3


@dataclass
class Property:
    name: str
    kind: str
    description: str
    args: tuple = ()
    callback: object = None
    items: list[tuple[str, str]] = field(default_factory=list)


class Data(dict):
    """obs_data_t: values, plus defaults that a missing value falls back to."""

    def __init__(self) -> None:
        super().__init__()
        self.defaults: dict[str, object] = {}

    def value(self, name: str, empty: object) -> object:
        return self.get(name, self.defaults.get(name, empty))


class StandInObs:
    """Builds the module and keeps what the script registered."""

    def __init__(self) -> None:
        self.hotkeys: dict[int, tuple[str, str, object]] = {}  # id -> (name, description, cb)
        self.bindings: dict[int, list[dict]] = {}  # what the user bound in Settings -> Hotkeys
        self.timers: dict[object, int] = {}

    def module(self) -> types.ModuleType:
        obs = types.ModuleType("obspython")
        for name in (
            "OBS_TEXT_DEFAULT",
            "OBS_TEXT_PASSWORD",
            "OBS_TEXT_MULTILINE",
            "OBS_TEXT_INFO",
            "OBS_COMBO_TYPE_LIST",
            "OBS_COMBO_FORMAT_STRING",
        ):
            setattr(obs, name, globals()[name])
        for name in dir(self):
            if name.startswith(("obs_", "timer_")):
                setattr(obs, name, getattr(self, name))
        return obs

    # -- data -----------------------------------------------------------------------------------

    def obs_data_get_string(self, data: Data, name: str) -> str:
        return str(data.value(name, ""))

    def obs_data_set_string(self, data: Data, name: str, value: str) -> None:
        data[name] = value

    def obs_data_get_double(self, data: Data, name: str) -> float:
        return float(data.value(name, 0.0))  # type: ignore[arg-type]

    def obs_data_set_double(self, data: Data, name: str, value: float) -> None:
        data[name] = float(value)

    def obs_data_set_default_string(self, data: Data, name: str, value: str) -> None:
        data.defaults[name] = value

    def obs_data_set_default_double(self, data: Data, name: str, value: float) -> None:
        data.defaults[name] = float(value)

    def obs_data_get_array(self, data: Data, name: str) -> list:
        return list(data.get(name, []))

    def obs_data_set_array(self, data: Data, name: str, array: list) -> None:
        data[name] = list(array)

    def obs_data_array_release(self, array: list) -> None:
        assert isinstance(array, list), "released something that is not a data array"

    # -- properties -----------------------------------------------------------------------------

    def obs_properties_create(self) -> dict[str, Property]:
        return {}

    def _add(self, props: dict, prop: Property) -> Property:
        assert prop.name not in props, f"two properties named {prop.name}"
        props[prop.name] = prop
        return prop

    def obs_properties_add_text(self, props, name, description, kind):  # type: ignore[no-untyped-def]
        return self._add(props, Property(name, "text", description, (kind,)))

    def obs_properties_add_list(self, props, name, description, combo, fmt):  # type: ignore[no-untyped-def]
        return self._add(props, Property(name, "list", description, (combo, fmt)))

    def obs_property_list_add_string(self, prop: Property, title: str, value: str) -> None:
        prop.items.append((title, value))

    def obs_property_list_clear(self, prop: Property) -> None:
        prop.items.clear()

    def obs_properties_add_float_slider(self, props, name, description, low, high, step):  # type: ignore[no-untyped-def]
        return self._add(props, Property(name, "slider", description, (low, high, step)))

    def obs_properties_add_button(self, props, name, text, callback):  # type: ignore[no-untyped-def]
        return self._add(props, Property(name, "button", text, (), callback))

    def obs_properties_get(self, props: dict, name: str) -> Property:
        return props[name]

    # -- hotkeys and timers ---------------------------------------------------------------------

    def obs_hotkey_register_frontend(self, name: str, description: str, callback) -> int:  # type: ignore[no-untyped-def]
        hotkey = len(self.hotkeys) + 1
        self.hotkeys[hotkey] = (name, description, callback)
        self.bindings[hotkey] = []
        return hotkey

    def obs_hotkey_save(self, hotkey: int) -> list:
        return list(self.bindings[hotkey])

    def obs_hotkey_load(self, hotkey: int, array: list) -> None:
        self.bindings[hotkey] = list(array)

    def timer_add(self, callback, milliseconds: int) -> None:  # type: ignore[no-untyped-def]
        self.timers[callback] = milliseconds

    def timer_remove(self, callback) -> None:  # type: ignore[no-untyped-def]
        self.timers.pop(callback, None)

    # -- for the tests --------------------------------------------------------------------------

    def press(self, name: str, pressed: bool = True) -> None:
        (callback,) = [cb for n, _, cb in self.hotkeys.values() if n == name]
        callback(pressed)  # type: ignore[operator]
