"""Python values to protobuf JSON messages (Struct, Value), checked on the way.

The original module wrote ``json.dumps(entry)``; these conversions accept what
that accepted for a record to be valid JSON, turn keys into strings the way
``json.dumps`` does, and raise ``ValueError`` (naming the path) for what would
not be valid JSON or would silently change: NaN and infinities, integers a
JSON number (a double) cannot hold exactly, sets, arbitrary objects.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from google.protobuf import struct_pb2

__all__ = ["json_key", "to_struct", "fill_struct", "fill_value", "to_value", "check_number", "check_str", "check_int"]

# Largest integer a double holds exactly (JSON numbers are doubles in a Struct).
_EXACT_INT_MAX = 2**53
# Deeper than this is a cycle or a mistake; the server's own limit is lower
# (32 by default) and answers INVALID_ARGUMENT naming the path.
_DEPTH_MAX = 256


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def json_key(key: Any, path: str) -> str:
    """A dict key as ``json.dumps`` writes it."""
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return str(int(key))
    if isinstance(key, float):
        if not math.isfinite(key):
            raise ValueError(f"{path or 'data'}: key {key!r} is not a finite number")
        return float.__repr__(key)
    raise ValueError(f"{path or 'data'}: key {key!r} of type {type(key).__name__} is not a JSON object key")


def fill_value(target: struct_pb2.Value, value: Any, path: str, depth: int = 0) -> None:
    """Sets ``target`` (a google.protobuf.Value) to the JSON value ``value``."""
    if value is None:
        target.null_value = struct_pb2.NULL_VALUE
    elif value is True or value is False:
        target.bool_value = value
    elif isinstance(value, str):
        try:
            target.string_value = value
        except (ValueError, UnicodeError) as err:
            raise ValueError(f"{path}: string is not valid UTF-8 ({err})") from None
    elif isinstance(value, int):
        if abs(value) > _EXACT_INT_MAX:
            raise ValueError(f"{path}: integer {value} is larger than a JSON number holds exactly (2**53)")
        target.number_value = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a finite number (JSON cannot hold NaN or Infinity)")
        target.number_value = value
    elif isinstance(value, Mapping):
        if depth >= _DEPTH_MAX:
            raise ValueError(f"{path}: nested deeper than {_DEPTH_MAX} levels (a cycle?)")
        fill_struct(target.struct_value, value, path, depth + 1)
    elif isinstance(value, (list, tuple)):
        if depth >= _DEPTH_MAX:
            raise ValueError(f"{path}: nested deeper than {_DEPTH_MAX} levels (a cycle?)")
        values = target.list_value.values
        target.list_value.SetInParent()
        for i, item in enumerate(value):
            fill_value(values.add(), item, f"{path}[{i}]", depth + 1)
    else:
        raise ValueError(f"{path}: value of type {type(value).__name__} is not JSON serializable")


def fill_struct(target: struct_pb2.Struct, mapping: Mapping[Any, Any], path: str, depth: int = 0) -> None:
    """Fills ``target`` (a google.protobuf.Struct) with the JSON object ``mapping``."""
    target.SetInParent()
    fields = target.fields
    for key, value in mapping.items():
        name = json_key(key, path)
        fill_value(fields[name], value, _join(path, name), depth)


def to_struct(mapping: Mapping[Any, Any], path: str) -> struct_pb2.Struct:
    """A new Struct holding ``mapping``."""
    struct = struct_pb2.Struct()
    fill_struct(struct, mapping, path)
    return struct


def to_value(value: Any, path: str) -> struct_pb2.Value:
    """A new Value holding ``value``."""
    message = struct_pb2.Value()
    fill_value(message, value, path)
    return message


def check_number(value: Any, what: str) -> float:
    """``value`` as a float; ValueError unless it is a finite int or float (bool is not a number)."""
    kind = type(value)
    # Fast paths first: this runs once or twice per event.
    if kind is float:
        if value - value == 0.0:  # false for NaN and the infinities
            number: float = value
            return number
    elif kind is int and abs(value) <= _EXACT_INT_MAX:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


def check_int(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high]; ValueError otherwise (bool is not an int)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}, got {value}")
    return int(value)


def check_str(value: Any, what: str) -> str:
    """``value`` when it is a str; ValueError otherwise."""
    if type(value) is str or isinstance(value, str):
        return value
    raise ValueError(f"{what} must be a string, got {type(value).__name__}")
