"""Every YAML config family (training configs, data recipes, merge configs, pipelines) is read here:
``read_yaml_mapping`` with ``key.sub=value`` overrides (values parsed as YAML), and validated by a pydantic
model derived from :class:`StrictModel` (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from mote.model.io import missing
from mote.textio import read_utf8


class StrictModel(BaseModel):
    """The base of every config section: an unknown key is an error (with "did you mean", see
    :func:`mote._errors.validation_message`), never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "train.max_steps", 5)`` sets ``d["train"]["max_steps"] = 5``, creating sections."""
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ValueError(
                f"Override {key}: {p!r} holds a value, not a section of settings; set it directly "
                f"(--set {'.'.join(parts[:parts.index(p) + 1])}=VALUE) or check the key's spelling."
            )
    node[parts[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None, example: str = "") -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides in place (values parsed as YAML) and return ``data``."""
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            hint = f" (e.g. {example})" if example else ""
            raise ValueError(f"Override expects key=value, got {item!r}{hint}.")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ValueError(
                f"Override {item!r}: the value {raw!r} is not valid YAML ({problem}). Quote it as a string "
                f"(--set '{key.strip()}=\"{raw}\"') or complete it (e.g. [1, 2])."
            ) from None
        if not key.strip():
            raise ValueError(f"Override {item!r} has no key before '='; expected key.sub=value.")
        set_dotted(data, key.strip(), value)
    return data


def read_yaml_mapping(
    path: str | Path, what: str, overrides: list[str] | None = None, example: str = ""
) -> dict[str, Any]:
    """The mapping in ``path`` with ``key=value`` overrides applied; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise missing(f"{what} file", path)
    text = read_utf8(path, f"{what} file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e}).") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}.")
    return apply_overrides(data, overrides, example)


def relative_to_config(config: str | Path, value: Any) -> Any:
    """The one rule for input paths in a config: a relative path that exists next to the config file is taken
    from there (absolute); anything else (absolute paths, hub ids, paths relative to the working folder) as
    given. Output paths (``output_dir``, ``out``) are not inputs: they stay relative to the working folder."""
    if isinstance(value, str) and value and not Path(value).is_absolute() and (Path(config).parent / value).exists():
        return str((Path(config).parent / value).resolve())
    return value


def resolve_inputs(config: str | Path, data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Apply :func:`relative_to_config` to the dotted ``keys`` of ``data`` (a list value: to each item)."""
    for key in keys:
        *parents, last = key.split(".")
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or last not in node:
            continue
        value = node[last]
        node[last] = ([relative_to_config(config, v) for v in value] if isinstance(value, list)
                      else relative_to_config(config, value))
    return data
