"""Reading untrusted JSON: each helper either returns a value of the expected type or raises the
caller's catalogue code with a message that names the field by its full JSON path."""

from __future__ import annotations

import json
from typing import Any

from .errors import ApiError

_KIND_NAMES = {str: "a string", dict: "an object", list: "an array", bool: "a boolean", int: "an integer"}


def parse_json(raw: bytes, code: str) -> Any:
    if not raw.strip():
        raise ApiError(code, "The request body is empty.")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError(code, "The request body is not valid JSON.") from exc


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def field(
    obj: dict,
    key: str,
    path: str,
    kind: type,
    *,
    missing: str | None,
    invalid: str,
) -> Any:
    """``obj[key]`` checked against ``kind``. ``missing=None`` makes the member optional (None when
    absent or null); otherwise its absence raises ``missing``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    name = f"{path}.{key}" if path else key
    if value is None:
        if missing is None:
            return None
        raise ApiError(missing, f"Missing parameter '{name}'.")
    if not _is(value, kind):
        raise ApiError(invalid, f"Invalid parameter '{name}': must be {_KIND_NAMES[kind]}.")
    return value


def object_at(data: Any, path: str, *, missing: str, invalid: str) -> dict:
    """Walk a dotted path of mandatory objects from the body root."""
    if not isinstance(data, dict):
        raise ApiError(invalid, "The request body must be a JSON object.")
    current, walked = data, ""
    for key in path.split("."):
        current = field(current, key, walked, dict, missing=missing, invalid=invalid)
        walked = f"{walked}.{key}" if walked else key
    return current


def query_bool(value: str | None, name: str, code: str) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ApiError(code, f"Invalid parameter '{name}': must be true or false.")
    return lowered == "true"


def query_int(value: str | None, name: str, code: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(code, f"Invalid parameter '{name}': must be an integer from {low} to {high}.")
    return int(value)
