"""Plain-dataclass configs loaded from YAML, with errors that name the file and the key.

`from_dict(Cls, data)` builds nested dataclasses, rejects unknown keys and checks basic types, so a
typo in a config never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from neonas.errors import NeonasError

T = TypeVar("T")


def load_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise NeonasError("config file not found", path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise NeonasError(f"not valid YAML ({str(err).splitlines()[0]})", path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NeonasError(f"expected a mapping of keys at the top level, found {type(data).__name__}", path)
    return data


def set_dotted(data: dict, assignment: str) -> None:
    """Apply one `a.b.c=value` override (value parsed as YAML) to a nested dict."""
    if "=" not in assignment:
        raise NeonasError(f"override '{assignment}' must look like key.subkey=value")
    key, value = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise NeonasError(f"override '{assignment}': '{part}' is not a section")
    node[parts[-1]] = yaml.safe_load(value)


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build dataclass `cls` from `data`; `where` (e.g. 'search.yaml: controller') prefixes errors."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise NeonasError(f"{where or cls.__name__}: expected a mapping, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise NeonasError(f"{where or cls.__name__}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}" if where else name)
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise NeonasError(f"{where or cls.__name__}: {err}") from None
    return obj


def to_dict(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except NeonasError as err:
                errors.append(str(err))
        raise NeonasError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise NeonasError(f"{where}: expected a list, found {value!r}")
        inner = args[0] if args else Any
        return type(value)(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)) if origin is list else \
            tuple(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise NeonasError(f"{where}: expected a mapping, found {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise NeonasError(f"{where}: expected one of {list(args)}, found {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise NeonasError(f"{where}: expected a number, found {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise NeonasError(f"{where}: expected an integer, found {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise NeonasError(f"{where}: expected true or false, found {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise NeonasError(f"{where}: expected text, found {value!r}")
        return value
    return value
