"""The story and duplicate settings by name, for the command line and config files.

Every field of :class:`~clusterer.stories.similarity.StoryParams` and
:class:`~clusterer.duplicates.DuplicateParams` has a name ``stories.<field>`` or
``duplicates.<field>``. :func:`load_settings` applies a TOML file (tables
``[stories]`` and ``[duplicates]``) and then ``NAME=VALUE`` pairs (the command
line's ``--set``), checking names and values; :func:`describe` lists them all.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Iterable
from pathlib import Path

from .duplicates import DuplicateParams
from .errors import ClustererError
from .stories.similarity import StoryParams

SECTIONS: dict[str, type[StoryParams] | type[DuplicateParams]] = {"stories": StoryParams, "duplicates": DuplicateParams}


class SettingsError(ClustererError):
    """A setting that does not exist, or a value it cannot take."""


def load_settings(config: str | Path | None = None, pairs: Iterable[str] = ()) -> tuple[StoryParams, DuplicateParams]:
    """The defaults, changed by the TOML file ``config`` and then by ``pairs``
    (``"stories.threshold=0.35"``)."""
    values: dict[str, dict[str, object]] = {name: {} for name in SECTIONS}
    if config is not None:
        for section, table in _read_toml(Path(config)).items():
            if section not in SECTIONS or not isinstance(table, dict):
                raise SettingsError(
                    f"{config}: unknown table [{section}] (expected {', '.join(f'[{s}]' for s in SECTIONS)})"
                )
            for key, raw in table.items():
                values[section][key] = _convert(section, key, raw, where=str(config))
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise SettingsError(f"--set {pair!r}: expected NAME=VALUE, such as stories.threshold=0.35")
        values.setdefault(section, {})[key] = _convert(section, key, raw.strip(), where="--set")
    return StoryParams(**values["stories"]), DuplicateParams(**values["duplicates"])  # type: ignore[arg-type]


def describe() -> str:
    """Every setting with its default value, one a line."""
    lines = []
    for section, kind in SECTIONS.items():
        for f in dataclasses.fields(kind):
            default = "none" if f.default is None else f.default
            lines.append(f"{section}.{f.name} = {default}")
    return "\n".join(lines)


def _read_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None


def _convert(section: str, key: str, raw: object, where: str) -> object:
    kind = SECTIONS.get(section)
    if kind is None:
        raise SettingsError(
            f"{where}: unknown setting {section}.{key} (they start with "
            f"{' or '.join(s + '.' for s in SECTIONS)}; `cluster settings` lists them)"
        )
    hints = typing.get_type_hints(kind)
    if key not in hints:
        raise SettingsError(f"{where}: unknown setting {section}.{key} (`cluster settings` lists them)")
    wanted = hints[key]
    optional = type(None) in typing.get_args(wanted)
    base = next((t for t in typing.get_args(wanted) if t is not type(None)), wanted)
    if isinstance(raw, str) and raw.lower() in ("none", "null", "off") and optional:
        return None
    try:
        if base is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            value: object = int(raw)  # type: ignore[call-overload]
        else:
            value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        kind_name = "a whole number" if base is int else "a number"
        raise SettingsError(
            f"{where}: {section}.{key} must be {kind_name}{' or none' if optional else ''}, not {raw!r}"
        ) from None
    if isinstance(value, float) and value != value:
        raise SettingsError(f"{where}: {section}.{key} must be a number, not NaN")
    if value < 0:  # type: ignore[operator]
        raise SettingsError(f"{where}: {section}.{key} cannot be negative ({raw!r})")
    return value
